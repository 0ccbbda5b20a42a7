// Managed streams: each streaming pipeline's process with its figures and errors, and
// buttons to start or stop it. The scheduler of `cairn serve` acts on what is asked.
import { Fragment, useState } from "react";
import { api, errorText } from "../api";
import { useVisiblePolling } from "../poll";
import type { StreamState } from "../types";
import { formatTime } from "./common";

const POLL_MS = 2000;
/** Statuses that mean something is wrong: never shown like a healthy stream. */
const TROUBLE = new Set(["restarting", "failed", "stale"]);

export function StreamsPage() {
  const [streams, setStreams] = useState<StreamState[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const refresh = useVisiblePolling(
    async () => {
      try {
        setStreams(await api.streams());
        setError(null);
      } catch (e) {
        setError(errorText(e));
      }
    },
    POLL_MS,
    [],
  );
  const act = async (pipeline: string, start: boolean) => {
    setBusy(pipeline);
    try {
      await (start ? api.startStream(pipeline) : api.stopStream(pipeline));
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
      refresh();
    }
  };

  return (
    <div className="page">
      <div className="page-head">
        <h2>Streams</h2>
        <span className="muted small">the scheduler runs them, and restarts them when they crash</span>
      </div>
      {error && <div className="banner banner-error pre-line">{error}</div>}
      {streams === null ? (
        <div className="muted">loading…</div>
      ) : streams.length === 0 ? (
        <p className="muted">No streaming pipelines: a stream has <code>type: streaming</code> in its pipeline.yaml.</p>
      ) : (
        <table className="list streams" data-testid="streams-table">
          <thead>
            <tr>
              <th>Stream</th>
              <th>Status</th>
              <th className="num">In</th>
              <th className="num">Out</th>
              <th className="num" title="messages a transformer could not handle">
                Dead letters
              </th>
              <th className="num">msg/s</th>
              <th className="num" title="messages waiting in the source">
                Lag
              </th>
              <th className="num" title="broker time to written, recent batches">
                p50 / p99
              </th>
              <th className="num">Restarts</th>
              <th>Started</th>
              <th>Heartbeat</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {streams.map((s) => (
              <Fragment key={s.pipeline}>
                <StreamRow stream={s} busy={busy === s.pipeline} onAct={(start) => void act(s.pipeline, start)} />
                {(s.last_error || s.problem) && <ErrorRow stream={s} />}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function StreamRow({ stream: s, busy, onAct }: { stream: StreamState; busy: boolean; onAct: (start: boolean) => void }) {
  const p = s.pipeline;
  const live = s.status === "running" || s.status === "starting";
  return (
    <tr data-testid={`stream-row-${p}`} className={TROUBLE.has(s.status) ? "stream-trouble" : undefined}>
      <td>
        <a href={`#/p/${encodeURIComponent(p)}`}>{p}</a>
        <div className="muted small mono">{s.source}</div>
      </td>
      <td>
        <span className={`badge stream-${s.status}`} data-testid={`stream-status-${p}`}>
          {s.status}
        </span>
        {s.desired !== "running" && s.status !== "stopped" && <span className="muted small"> asked to stop</span>}
        {s.desired === "running" && s.status === "stopped" && <span className="muted small"> waiting for the scheduler</span>}
        {s.status === "restarting" && s.next_start_at && (
          <div className="muted small">again at {formatTime(s.next_start_at)}</div>
        )}
        {live && s.restarts > 0 && (
          <div className="error-text small" data-testid={`stream-crashes-${p}`}>
            after {s.restarts} crash{s.restarts === 1 ? "" : "es"} in a row
          </div>
        )}
      </td>
      <td className="num" data-testid={`stream-in-${p}`}>
        {s.messages_in.toLocaleString()}
      </td>
      <td className="num" data-testid={`stream-out-${p}`}>
        {s.messages_out.toLocaleString()}
      </td>
      <td className={`num ${s.dead_letters ? "rate-bad" : ""}`} data-testid={`stream-dead-${p}`}>
        {s.dead_letters.toLocaleString()}
      </td>
      <td className="num" data-testid={`stream-rate-${p}`}>
        {s.rate === null ? "—" : s.rate.toFixed(1)}
      </td>
      <td className="num" data-testid={`stream-lag-${p}`}>
        {s.lag === null ? "—" : s.lag.toLocaleString()}
      </td>
      <td className="num" data-testid={`stream-latency-${p}`}>
        {milliseconds(s.latency_p50_ms)} / {milliseconds(s.latency_p99_ms)}
      </td>
      <td className={`num ${s.restarts ? "rate-bad" : ""}`} data-testid={`stream-restarts-${p}`}>
        {s.restarts}
      </td>
      <td className="small">
        {formatTime(s.started_at)}
        {s.run_id && (
          <div>
            <a href={`#/runs/${encodeURIComponent(s.run_id)}`} data-testid={`stream-run-${p}`}>
              run and logs
            </a>
          </div>
        )}
      </td>
      <td className="small" data-testid={`stream-heartbeat-${p}`}>
        {ago(s.heartbeat_at)}
      </td>
      <td className="actions">
        <button data-testid={`stream-start-${p}`} disabled={busy || (live && s.desired === "running")} onClick={() => onAct(true)}>
          {s.status === "restarting" ? "Start now" : "Start"}
        </button>{" "}
        <button
          className="danger"
          data-testid={`stream-stop-${p}`}
          disabled={busy || (s.desired === "stopped" && !live)}
          onClick={() => onAct(false)}
        >
          Stop
        </button>
      </td>
    </tr>
  );
}

/** The last error in full under its stream: it stays shown after the stream recovers. */
function ErrorRow({ stream: s }: { stream: StreamState }) {
  return (
    <tr className={`stream-error-row${TROUBLE.has(s.status) ? " stream-trouble" : ""}`}>
      <td colSpan={12} data-testid={`stream-error-${s.pipeline}`}>
        {s.problem && <pre className="error-text">pipeline.yaml: {s.problem}</pre>}
        {s.last_error && (
          <>
            <div className="small error-text">
              {TROUBLE.has(s.status) ? "error" : "last error"}
              {s.last_error_at ? ` at ${formatTime(s.last_error_at)}` : ""}
              {s.restarts ? ` (${s.restarts} restart${s.restarts === 1 ? "" : "s"} in a row)` : ""}:
            </div>
            <pre className="error-text">{s.last_error}</pre>
          </>
        )}
      </td>
    </tr>
  );
}

function milliseconds(value: number | null): string {
  return value === null ? "—" : `${Math.round(value)} ms`;
}

/** How long ago an ISO time was, in words. */
function ago(iso: string | null): string {
  if (!iso) return "";
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return formatTime(iso);
}
