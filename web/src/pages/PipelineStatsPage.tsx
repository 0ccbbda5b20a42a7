// One pipeline over a window of days: its health, trend charts of durations and failures,
// its blocks' figures and its recent runs.
import { type ReactNode, useState } from "react";
import { api, errorText } from "../api";
import { DurationChart, FailuresChart } from "../monitor/Charts";
import { RecentRuns } from "../notebook/SchedulePanels";
import { useVisiblePolling } from "../poll";
import { formatTime } from "../time";
import type { Trend } from "../types";
import { formatDuration, formatRate, StatusBadge, WindowSelect } from "./common";

const STATS_MS = 10_000;

export function PipelineStatsPage({ pipeline, days }: { pipeline: string; days: number }) {
  const [trend, setTrend] = useState<Trend | null>(null);
  const [error, setError] = useState<string | null>(null);
  useVisiblePolling(
    async () => {
      try {
        setTrend(await api.pipelineStats(pipeline, days));
        setError(null);
      } catch (e) {
        setError(errorText(e));
      }
    },
    STATS_MS,
    [pipeline, days],
  );
  const choose = (value: number) => {
    window.location.hash = `#/stats/${encodeURIComponent(pipeline)}?days=${value}`;
  };
  const h = trend?.health;
  return (
    <div className="page" data-testid="pipeline-stats">
      <div className="page-head">
        <h2>{pipeline}</h2>
        <a href={`#/p/${encodeURIComponent(pipeline)}`}>notebook</a>
        <WindowSelect days={days} onChange={choose} />
      </div>
      {error && <div className="banner banner-error pre-line">{error}</div>}
      {!trend || !h ? (
        !error && <div className="muted">loading…</div>
      ) : (
        <>
          <div className="tiles">
            <Tile label="last run" testId="tile-last">
              {h.last_run ? (
                <a href={`#/runs/${encodeURIComponent(h.last_run.id)}`}>
                  <StatusBadge status={h.last_run.status} />
                </a>
              ) : (
                "never"
              )}
            </Tile>
            <Tile label={`runs, ${days === 1 ? "today" : `${days} days`}`} testId="tile-runs">
              {h.runs}
            </Tile>
            <Tile label="success" testId="tile-success">
              {formatRate(h.success_rate)}
            </Tile>
            <Tile label="failed" testId="tile-failures">
              {h.failures}
            </Tile>
            <Tile label="p50" testId="tile-p50">
              {formatDuration(h.p50_s) || "—"}
            </Tile>
            <Tile label="p95" testId="tile-p95">
              {formatDuration(h.p95_s) || "—"}
            </Tile>
            <Tile label="next run" testId="tile-next">
              {h.next_run ? <span className="small">{formatTime(h.next_run)}</span> : "—"}
            </Tile>
          </div>
          {h.problem && <div className="banner banner-error pre-line">{h.problem}</div>}
          <div className="charts">
            <section className="chart-panel">
              <h3>Duration of each run</h3>
              <DurationChart runs={trend.runs} p50={h.p50_s} p95={h.p95_s} />
            </section>
            <section className="chart-panel">
              <h3>Runs and failures per day (UTC)</h3>
              <FailuresChart days={trend.days} />
            </section>
          </div>
          <div className="stats-columns">
            <section className="side-panel">
              <div className="side-panel-head">
                <h3>Blocks, slowest first</h3>
              </div>
              {trend.blocks.length === 0 ? (
                <div className="muted side-panel-message">No block ran in this window.</div>
              ) : (
                <table className="list compact" data-testid="block-stats">
                  <thead>
                    <tr>
                      <th>Block</th>
                      <th className="num">Attempts</th>
                      <th className="num">Failed</th>
                      <th className="num">p50</th>
                      <th className="num">p95</th>
                    </tr>
                  </thead>
                  <tbody>
                    {trend.blocks.map((b) => (
                      <tr key={b.block} data-testid={`block-stats-${b.block}`}>
                        <td className="mono">{b.block}</td>
                        <td className="num">{b.runs}</td>
                        <td className={b.failures ? "num rate-bad" : "num"}>{b.failures}</td>
                        <td className="num">{formatDuration(b.p50_s)}</td>
                        <td className="num">{formatDuration(b.p95_s)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
            <RecentRuns pipeline={pipeline} />
          </div>
        </>
      )}
    </div>
  );
}

function Tile({ label, testId, children }: { label: string; testId: string; children: ReactNode }) {
  return (
    <div className="tile">
      <div className="tile-value" data-testid={testId}>
        {children}
      </div>
      <div className="tile-label muted small">{label}</div>
    </div>
  );
}
