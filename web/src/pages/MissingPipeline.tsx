// The page of a pipeline that does not exist: the pipelines there are, and a button that
// creates this one (an empty folder with a pipeline.yaml).
import { useEffect, useState } from "react";
import { api, errorText } from "../api";

export function MissingPipeline({ pipeline, onCreated }: { pipeline: string; onCreated: () => void }) {
  const [names, setNames] = useState<string[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api
      .project()
      .then((project) => live && setNames(project.pipelines.map((p) => p.name)))
      .catch((failure) => live && setError(errorText(failure)));
    return () => {
      live = false;
    };
  }, []);
  const create = async () => {
    setBusy(true);
    try {
      await api.createPipeline(pipeline);
      onCreated();
    } catch (failure) {
      setError(errorText(failure));
      setBusy(false);
    }
  };
  return (
    <div className="page missing-pipeline" data-testid="missing-pipeline">
      <h2>
        There is no pipeline <code>{pipeline}</code>
      </h2>
      <p>
        <button className="primary" data-testid="create-pipeline" disabled={busy} onClick={() => void create()}>
          {busy ? "Creating…" : `Create it`}
        </button>{" "}
        <span className="muted">
          an empty folder <code>pipelines/{pipeline}/</code> with a <code>pipeline.yaml</code>
        </span>
      </p>
      {error && <div className="banner banner-error pre-line">{error}</div>}
      {names && names.length > 0 && (
        <>
          <div>The pipelines of this project:</div>
          <ul data-testid="existing-pipelines">
            {names.map((name) => (
              <li key={name}>
                <a href={`#/p/${encodeURIComponent(name)}`}>{name}</a>
              </li>
            ))}
          </ul>
        </>
      )}
      {names && names.length === 0 && <p className="muted">This project has no pipelines yet.</p>}
    </div>
  );
}
