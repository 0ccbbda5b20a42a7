import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import type { ProjectInfo } from "../types";
import { formatTime, StatusBadge } from "./common";

export function OverviewPage() {
  const [project, setProject] = useState<ProjectInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api
      .project()
      .then((p) => live && setProject(p))
      .catch((e: unknown) => live && setError(errorText(e)));
    return () => {
      live = false;
    };
  }, []);
  if (error) return <div className="page banner banner-error pre-line" data-testid="load-error">{error}</div>;
  if (!project) return <div className="page muted">loading…</div>;
  return (
    <div className="page">
      <h2 data-testid="project-name">{project.name}</h2>
      <div className="muted mono">{project.root}</div>
      <table className="list" data-testid="pipelines-table">
        <thead>
          <tr>
            <th>Pipeline</th>
            <th>Blocks</th>
            <th>Last run</th>
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          {project.pipelines.map((p) => (
            <tr key={p.name} data-testid={`pipeline-row-${p.name}`}>
              <td>
                <a href={`#/p/${encodeURIComponent(p.name)}`} data-testid={`pipeline-link-${p.name}`}>
                  {p.name}
                </a>
              </td>
              <td data-testid={`pipeline-blocks-${p.name}`}>{p.blocks}</td>
              <td>
                {p.last_run ? (
                  <a href={`#/runs/${encodeURIComponent(p.last_run.id)}`}>{formatTime(p.last_run.started_at)}</a>
                ) : (
                  <span className="muted">never</span>
                )}
              </td>
              <td data-testid={`pipeline-status-${p.name}`}>
                {p.last_run ? <StatusBadge status={p.last_run.status} /> : <span className="muted">—</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {project.pipelines.length === 0 && <p className="muted">This project has no pipelines.</p>}
      <p>
        <a href="#/runs">Run history</a>
      </p>
    </div>
  );
}
