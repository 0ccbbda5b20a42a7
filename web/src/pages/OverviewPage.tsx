// The project's dashboard: every pipeline's health at a glance over a chosen window.
import { useEffect, useState } from "react";
import { api, errorText } from "../api";
import { useVisiblePolling } from "../poll";
import type { Health, ProjectInfo } from "../types";
import { formatDuration, formatRate, formatTime, StatusBadge, WindowSelect } from "./common";

const STATS_MS = 10_000;

export function OverviewPage({ days }: { days: number }) {
  const [project, setProject] = useState<ProjectInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [health, setHealth] = useState<Record<string, Health> | null>(null);
  const [statsError, setStatsError] = useState<string | null>(null);
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
  useVisiblePolling(
    async () => {
      try {
        const found = await api.stats(days);
        setHealth(Object.fromEntries(found.pipelines.map((h) => [h.pipeline, h])));
        setStatsError(null);
      } catch (e) {
        setStatsError(errorText(e));
      }
    },
    STATS_MS,
    [days],
  );
  if (error) return <div className="page banner banner-error pre-line" data-testid="load-error">{error}</div>;
  if (!project) return <div className="page muted">loading…</div>;
  const choose = (value: number) => {
    window.location.hash = `#/?days=${value}`;
  };
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h2 data-testid="project-name">{project.name}</h2>
          <div className="muted mono">{project.root}</div>
        </div>
        <WindowSelect days={days} onChange={choose} />
      </div>
      {statsError && <div className="banner banner-error pre-line">{statsError}</div>}
      <table className="list" data-testid="pipelines-table">
        <thead>
          <tr>
            <th>Pipeline</th>
            <th>Blocks</th>
            <th>Last run</th>
            <th>Status</th>
            <th className="num" title={`finished runs in the window (${days} d)`}>
              Runs
            </th>
            <th className="num">Success</th>
            <th className="num" title="median duration of the successful runs">
              p50
            </th>
            <th className="num" title="95th percentile of the successful runs' durations">
              p95
            </th>
            <th>Next run</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {project.pipelines.map((p) => {
            const h = health?.[p.name];
            const last = h ? h.last_run : p.last_run;
            return (
              <tr key={p.name} data-testid={`pipeline-row-${p.name}`}>
                <td>
                  <a href={`#/p/${encodeURIComponent(p.name)}`} data-testid={`pipeline-link-${p.name}`}>
                    {p.name}
                  </a>
                </td>
                <td data-testid={`pipeline-blocks-${p.name}`}>{p.blocks}</td>
                <td>
                  {last ? (
                    <a href={`#/runs/${encodeURIComponent(last.id)}`}>{formatTime(last.started_at)}</a>
                  ) : (
                    <span className="muted">never</span>
                  )}
                </td>
                <td data-testid={`pipeline-status-${p.name}`}>
                  {last ? <StatusBadge status={last.status} /> : <span className="muted">—</span>}
                  {h && h.active > 0 && <span className="muted small"> {h.active} active</span>}
                </td>
                <td className="num" data-testid={`pipeline-runs-${p.name}`}>
                  {h?.runs ?? ""}
                </td>
                <td className={`num ${rateClass(h)}`} data-testid={`pipeline-success-${p.name}`}>
                  {h ? formatRate(h.success_rate) : ""}
                </td>
                <td className="num" data-testid={`pipeline-p50-${p.name}`}>
                  {formatDuration(h?.p50_s ?? null)}
                </td>
                <td className="num" data-testid={`pipeline-p95-${p.name}`}>
                  {formatDuration(h?.p95_s ?? null)}
                </td>
                <td data-testid={`pipeline-next-${p.name}`}>
                  {h?.problem ? (
                    <span className="error-text small" title={h.problem}>
                      pipeline.yaml has problems
                    </span>
                  ) : h?.next_run ? (
                    <span className="mono small">{formatTime(h.next_run)}</span>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
                <td>
                  <a href={`#/stats/${encodeURIComponent(p.name)}?days=${Math.max(days, 7)}`} data-testid={`pipeline-trends-${p.name}`}>
                    trends
                  </a>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {project.pipelines.length === 0 && <p className="muted">This project has no pipelines.</p>}
      <p>
        <a href="#/runs">Run history</a>
      </p>
    </div>
  );
}

/** Success rates below 100% (and below 80%) stand out. */
function rateClass(h: Health | undefined): string {
  if (!h || h.success_rate === null || h.success_rate >= 1) return "";
  return h.success_rate < 0.8 ? "rate-bad" : "rate-warn";
}
