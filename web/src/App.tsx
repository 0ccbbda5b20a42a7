import { lazy, Suspense, useEffect, useState } from "react";
import { OverviewPage } from "./pages/OverviewPage";
import { PipelineStatsPage } from "./pages/PipelineStatsPage";
import { RunsPage } from "./pages/RunsPage";
import { StreamsPage } from "./pages/StreamsPage";

// CodeMirror and React Flow load with the notebook only, not with the overview.
const NotebookPage = lazy(() => import("./pages/NotebookPage").then((m) => ({ default: m.NotebookPage })));

export type Route =
  | { page: "overview"; days: number }
  | { page: "notebook"; pipeline: string }
  | { page: "stats"; pipeline: string; days: number }
  | { page: "runs"; runId: string | null; pipeline: string | null }
  | { page: "streams" };

/**
 * `#/`, `#/p/NAME`, `#/stats/NAME`, `#/runs`, `#/runs/ID`, `#/streams`, with an optional `?pipeline=` on
 * runs and `?days=` (the window) on the dashboards.
 */
export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, "");
  const [path, query = ""] = raw.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  const days = (fallback: number) => {
    const value = Number(params.get("days"));
    return Number.isInteger(value) && value >= 1 && value <= 366 ? value : fallback;
  };
  if (parts[0] === "p" && parts[1]) return { page: "notebook", pipeline: parts[1] };
  if (parts[0] === "stats" && parts[1]) return { page: "stats", pipeline: parts[1], days: days(30) };
  if (parts[0] === "runs") return { page: "runs", runId: parts[1] ?? null, pipeline: params.get("pipeline") };
  if (parts[0] === "streams") return { page: "streams" };
  return { page: "overview", days: days(7) };
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
        {(route.page === "notebook" || route.page === "stats") && (
          <a href={`#/p/${encodeURIComponent(route.pipeline)}`} className={route.page === "notebook" ? "active" : undefined}>
            {route.pipeline}
          </a>
        )}
        {route.page === "stats" && (
          <a href={`#/stats/${encodeURIComponent(route.pipeline)}`} className="active">
            trends
          </a>
        )}
        <a href="#/runs" className={route.page === "runs" ? "active" : undefined} data-testid="nav-runs">
          Runs
        </a>
        <a href="#/streams" className={route.page === "streams" ? "active" : undefined} data-testid="nav-streams">
          Streams
        </a>
      </nav>
      {route.page === "overview" && <OverviewPage days={route.days} />}
      {route.page === "stats" && <PipelineStatsPage key={route.pipeline} pipeline={route.pipeline} days={route.days} />}
      {route.page === "notebook" && (
        <Suspense fallback={<div className="page muted">loading…</div>}>
          <NotebookPage key={route.pipeline} pipeline={route.pipeline} />
        </Suspense>
      )}
      {route.page === "runs" && <RunsPage runId={route.runId} pipeline={route.pipeline} />}
      {route.page === "streams" && <StreamsPage />}
    </>
  );
}
