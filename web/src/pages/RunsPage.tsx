import { Fragment, useEffect, useState } from "react";
import { api, errorText } from "../api";
import { Gantt } from "../monitor/Gantt";
import { LogViewer } from "../monitor/LogViewer";
import type { BlockBar, Run, StatementProfile, Timeline } from "../types";
import { formatBytes, formatDuration, formatTime, StatusBadge } from "./common";

const ACTIVE = new Set(["running", "queued", "pending", "starting"]);

/** Call `work` now and every `ms` while the page is visible and `active` holds. */
function usePolling(work: () => Promise<boolean>, ms: number, deps: unknown[]) {
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      const again = await work();
      if (!stopped && again) timer = setTimeout(() => void tick(), ms);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);
}

export function RunsPage({ runId, pipeline }: { runId: string | null; pipeline: string | null }) {
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pipelines, setPipelines] = useState<string[]>([]);

  useEffect(() => {
    api
      .project()
      .then((p) => setPipelines(p.pipelines.map((x) => x.name)))
      .catch(() => setPipelines([]));
  }, []);

  usePolling(
    async () => {
      try {
        if (document.visibilityState === "visible") {
          setRuns(await api.runs(pipeline, 50));
          setError(null);
        }
      } catch (e) {
        setError(errorText(e));
      }
      return true;
    },
    3000,
    [pipeline],
  );

  const filter = (value: string) => {
    window.location.hash = value ? `#/runs?pipeline=${encodeURIComponent(value)}` : "#/runs";
  };
  const open = (id: string) => {
    const query = pipeline ? `?pipeline=${encodeURIComponent(pipeline)}` : "";
    window.location.hash = `#/runs/${encodeURIComponent(id)}${query}`;
  };

  return (
    <div className="page runs-page">
      <div className="toolbar">
        <h2>Runs</h2>
        <label>
          pipeline{" "}
          <select data-testid="runs-pipeline" value={pipeline ?? ""} onChange={(e) => filter(e.target.value)}>
            <option value="">all</option>
            {pipelines.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && <div className="banner banner-error pre-line">{error}</div>}
      <div className="runs-layout">
        <div className="runs-list">
          {runs === null ? (
            <div className="muted">loading…</div>
          ) : (
            <table className="list clickable" data-testid="runs-table">
              <thead>
                <tr>
                  <th>Run</th>
                  <th>Pipeline</th>
                  <th>Status</th>
                  <th>Started</th>
                  <th>Duration</th>
                </tr>
              </thead>
              <tbody>
                {runs.map((run) => (
                  <tr
                    key={run.id}
                    data-testid={`run-row-${run.id}`}
                    className={run.id === runId ? "selected" : undefined}
                    onClick={() => open(run.id)}
                    title={run.error ?? undefined}
                  >
                    <td className="mono">{run.id}</td>
                    <td>{run.pipeline}</td>
                    <td>
                      <StatusBadge status={run.status} />
                    </td>
                    <td>{formatTime(run.started_at)}</td>
                    <td>{formatDuration(run.duration_s)}</td>
                  </tr>
                ))}
                {runs.length === 0 && (
                  <tr>
                    <td colSpan={5} className="muted">
                      No runs yet.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          )}
        </div>
        {runId && <RunDetailView key={runId} id={runId} />}
      </div>
    </div>
  );
}

function RunDetailView({ id }: { id: string }) {
  const [timeline, setTimeline] = useState<Timeline | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const [logBlock, setLogBlock] = useState<string | null>(null);
  usePolling(
    async () => {
      try {
        const found = await api.timeline(id);
        setTimeline(found);
        setNow(Date.now());
        setError(null);
        return ACTIVE.has(found.run.status);
      } catch (e) {
        setError(errorText(e));
        return false;
      }
    },
    1000,
    [id],
  );
  if (error) return <div className="run-detail banner banner-error pre-line">{error}</div>;
  if (!timeline) return <div className="run-detail muted">loading…</div>;
  const { run, blocks } = timeline;
  const seen = new Set<string>();
  const names = [...new Set(blocks.map((b) => b.block))];
  // While the run goes on its logs grow: read them again on every poll.
  const logVersion = ACTIVE.has(run.status) ? String(now) : run.status;
  const showLog = (block: string) => {
    setLogBlock(block);
    document.querySelector('[data-testid="log-viewer"]')?.scrollIntoView({ block: "nearest" });
  };
  return (
    <div className="run-detail" data-testid="run-detail">
      <h3>
        Run <span className="mono">{run.id}</span> <StatusBadge status={run.status} testId="run-detail-status" />
      </h3>
      <div className="muted">
        {run.pipeline} · started {formatTime(run.started_at)}
        {run.ended_at ? ` · ended ${formatTime(run.ended_at)}` : ""}
        {run.duration_s !== null ? ` · ${formatDuration(run.duration_s)}` : ""} ·{" "}
        <a href={`#/p/${encodeURIComponent(run.pipeline)}`}>notebook</a> ·{" "}
        <a href={`#/stats/${encodeURIComponent(run.pipeline)}`}>trends</a>
      </div>
      {run.error && <pre className="error-box">{run.error}</pre>}
      <Gantt run={run} blocks={blocks} now={now} onSelect={showLog} />
      <table className="list" data-testid="run-blocks-table">
        <thead>
          <tr>
            <th>Block</th>
            <th>Attempt</th>
            <th>Status</th>
            <th>Duration</th>
            <th>Rows</th>
            <th>Output</th>
            <th>Peak memory</th>
            <th>CPU</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {blocks.map((b) => {
            const first = !seen.has(b.block);
            seen.add(b.block);
            return (
              <BlockRunRow key={`${b.block}/${b.attempt}`} block={b} suffix={first ? "" : `-${b.attempt}`} onLogs={showLog} />
            );
          })}
        </tbody>
      </table>
      <LogViewer runId={run.id} blocks={names} block={logBlock} onBlock={setLogBlock} version={logVersion} />
    </div>
  );
}

function BlockRunRow({ block, suffix, onLogs }: { block: BlockBar; suffix: string; onLogs: (block: string) => void }) {
  const id = `${block.block}${suffix}`;
  return (
    <Fragment>
      <tr data-testid={`run-block-${id}`}>
        <td>{block.block}</td>
        <td>{block.attempt}</td>
        <td>
          <StatusBadge status={block.status} testId={`run-block-status-${id}`} />
        </td>
        <td>{formatDuration(block.duration_s)}</td>
        <td data-testid={`run-block-rows-${id}`}>{block.rows_out ?? ""}</td>
        <td>{formatBytes(block.output_bytes)}</td>
        <td>{formatBytes(block.peak_memory_bytes)}</td>
        <td>{formatDuration(block.cpu_seconds)}</td>
        <td>
          <button data-testid={`run-logs-${id}`} onClick={() => onLogs(block.block)}>
            Logs
          </button>
        </td>
      </tr>
      {block.error && (
        <tr className="sub-row">
          <td colSpan={9}>
            <pre className="error-box" data-testid={`run-block-error-${id}`}>
              {block.error}
            </pre>
          </td>
        </tr>
      )}
      {block.profile && block.profile.length > 0 && (
        <tr className="sub-row">
          <td colSpan={9}>
            <StatementTable profile={block.profile} testId={`run-block-profile-${id}`} />
          </td>
        </tr>
      )}
    </Fragment>
  );
}

/** Where a SQL block's time went: one row per statement, with the line it starts on. */
function StatementTable({ profile, testId }: { profile: StatementProfile[]; testId: string }) {
  return (
    <table className="list compact" data-testid={testId}>
      <thead>
        <tr>
          <th className="num">Statement</th>
          <th className="num">Line</th>
          <th className="num">Time</th>
          <th className="num">Rows</th>
        </tr>
      </thead>
      <tbody>
        {profile.map((s) => (
          <tr key={s.statement} data-testid="statement-row">
            <td className="num">{s.statement}</td>
            <td className="num">{s.line}</td>
            <td className="num">{formatDuration(s.seconds)}</td>
            <td className="num">{s.rows ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
