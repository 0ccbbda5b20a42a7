import { lazy, Suspense, useEffect, useState } from "react";
import { OverviewPage } from "./pages/OverviewPage";
import { RunsPage } from "./pages/RunsPage";

// CodeMirror and React Flow load with the notebook only, not with the overview.
const NotebookPage = lazy(() => import("./pages/NotebookPage").then((m) => ({ default: m.NotebookPage })));

export type Route =
  | { page: "overview" }
  | { page: "notebook"; pipeline: string }
  | { page: "runs"; runId: string | null; pipeline: string | null };

/** `#/`, `#/p/NAME`, `#/runs`, `#/runs/ID`, with an optional `?pipeline=` on runs. */
export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, "");
  const [path, query = ""] = raw.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  if (parts[0] === "p" && parts[1]) return { page: "notebook", pipeline: parts[1] };
  if (parts[0] === "runs") return { page: "runs", runId: parts[1] ?? null, pipeline: params.get("pipeline") };
  return { page: "overview" };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(window.location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

export function App() {
  const route = useRoute();
  return (
    <>
      <nav className="nav">
        <a className="brand" href="#/">
          Cairn
        </a>
        <a href="#/" className={route.page === "overview" ? "active" : undefined} data-testid="nav-overview">
          Pipelines
        </a>
        {route.page === "notebook" && (
          <a href={`#/p/${encodeURIComponent(route.pipeline)}`} className="active">
            {route.pipeline}
          </a>
        )}
        <a href="#/runs" className={route.page === "runs" ? "active" : undefined} data-testid="nav-runs">
          Runs
        </a>
      </nav>
      {route.page === "overview" && <OverviewPage />}
      {route.page === "notebook" && (
        <Suspense fallback={<div className="page muted">loading…</div>}>
          <NotebookPage key={route.pipeline} pipeline={route.pipeline} />
        </Suspense>
      )}
      {route.page === "runs" && <RunsPage runId={route.runId} pipeline={route.pipeline} />}
    </>
  );
}
