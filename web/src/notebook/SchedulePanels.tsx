// The notebook page's side panels about real runs: the pipeline's triggers (with their
// next fire times, paused or not) and its recent runs. Each polls the API on its own and
// keeps its data in its own state, so a refresh re-renders the panel only — never the
// block cards or the graph.
import { memo, useCallback, useEffect, useRef, useState } from "react";
import { api, errorText } from "../api";
import { formatDuration, formatTime, StatusBadge } from "../pages/common";
import { useVisiblePolling } from "../poll";
import { reuseEqual } from "../store";
import type { Run, Trigger } from "../types";

const TRIGGERS_MS = 5000;
const RUNS_MS = 2000;
const RECENT_RUNS = 10;
/** After a shown next fire time passes, refresh this much later (the scheduler's tick). */
const AFTER_FIRE_MS = 400;

/** How far ahead `target` is: "in 3 s", "in 5 min", "in 2 h", "in 3 d"; null once passed. */
export function formatUntil(target: number, now: number): string | null {
  const ms = target - now;
  if (ms <= 0) return null;
  const s = Math.ceil(ms / 1000);
  if (s < 120) return `in ${s} s`;
  if (s < 120 * 60) return `in ${Math.floor(s / 60)} min`;
  if (s < 48 * 3600) return `in ${Math.floor(s / 3600)} h`;
  return `in ${Math.floor(s / 86400)} d`;
}

/** Milliseconds since the epoch of an API time, or null. */
function epochMs(iso: string | null): number | null {
  if (!iso) return null;
  const ms = new Date(iso).getTime();
  return Number.isNaN(ms) ? null : ms;
}

/** `Date.now()`, updated every second while `ticking`. */
function useNow(ticking: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!ticking) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [ticking]);
  return now;
}

// -- triggers ------------------------------------------------------------------------------

export function TriggersPanel({ pipeline }: { pipeline: string }) {
  const [triggers, setTriggers] = useState<Trigger[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<ReadonlySet<string>>(() => new Set());
  // Bumped when a pause or resume ends: an answer to a request sent before it is outdated.
  const epoch = useRef(0);

  const refresh = useVisiblePolling(
    async () => {
      const started = epoch.current;
      try {
        const found = await api.triggers(pipeline);
        if (started !== epoch.current) return 0; // outdated: ask again at once
        setTriggers((old) => reuseEqual(old, found, (t) => t.name));
        setError(null);
        // Ask again soon after the next fire time shown passes, so it does not go stale.
        const now = Date.now();
        const next = found
          .filter((t) => !t.paused)
          .map((t) => epochMs(t.next_fire))
          .filter((ms): ms is number => ms !== null && ms > now);
        return next.length ? Math.min(...next) - now + AFTER_FIRE_MS : TRIGGERS_MS;
      } catch (e) {
        setError(errorText(e));
        return TRIGGERS_MS;
      }
    },
    TRIGGERS_MS,
    [pipeline],
  );

  const toggle = useCallback(
    async (trigger: Trigger) => {
      const paused = !trigger.paused;
      setBusy((old) => new Set(old).add(trigger.name));
      try {
        await api.setTriggerPaused(pipeline, trigger.name, paused);
        setTriggers((old) => old && old.map((t) => (t.name === trigger.name ? { ...t, paused } : t)));
        setError(null);
      } catch (e) {
        setError(errorText(e));
      } finally {
        epoch.current++;
        setBusy((old) => {
          const next = new Set(old);
          next.delete(trigger.name);
          return next;
        });
        refresh();
      }
    },
    [pipeline, refresh],
  );

  const ticking = !!triggers && triggers.some((t) => t.next_fire !== null);
  const now = useNow(ticking);

  return (
    <section className="side-panel" data-testid="triggers-panel">
      <div className="side-panel-head">
        <h3>Triggers</h3>
      </div>
      {error && (
        <div className="error-text side-panel-message" data-testid="triggers-error">
          {error}
        </div>
      )}
      {triggers === null ? (
        !error && <div className="muted side-panel-message">loading…</div>
      ) : triggers.length === 0 ? (
        <div className="muted side-panel-message">
          No triggers: add them under <code>triggers:</code> in <code>pipeline.yaml</code>.
        </div>
      ) : (
        <table className="list compact">
          <thead>
            <tr>
              <th>Trigger</th>
              <th>When</th>
              <th>Next fire</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {triggers.map((t) => (
              <TriggerRow key={t.name} trigger={t} now={now} busy={busy.has(t.name)} onToggle={toggle} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const TriggerRow = memo(function TriggerRow({
  trigger,
  now,
  busy,
  onToggle,
}: {
  trigger: Trigger;
  now: number;
  busy: boolean;
  onToggle: (trigger: Trigger) => Promise<void>;
}) {
  const { name, kind, when, catch_up, paused, next_fire } = trigger;
  const at = epochMs(next_fire);
  const until = at === null ? null : formatUntil(at, now);
  return (
    <tr data-testid={`trigger-row-${name}`} className={paused ? "trigger-paused" : undefined}>
      <td>
        <div className="mono">{name}</div>
        <span className="badge" data-testid={`trigger-kind-${name}`}>
          {kind}
        </span>
      </td>
      <td>
        <div className="trigger-when">{when}</div>
        <div className="muted small" title="which missed times run after downtime">
          catch-up: {catch_up}
        </div>
      </td>
      <td
        data-testid={`trigger-next-${name}`}
        data-next-fire={next_fire ?? ""}
        title={paused ? "paused: it does not fire until resumed" : undefined}
      >
        {next_fire === null ? (
          <span className="muted">{kind === "schedule" ? "none (schedule ended)" : "on event"}</span>
        ) : (
          <>
            <div className={paused ? "mono small muted" : "mono small"}>{formatTime(next_fire)}</div>
            <div className="muted small">{paused ? "paused" : (until ?? "due now")}</div>
          </>
        )}
      </td>
      <td>
        <span className={`badge trigger-${paused ? "paused" : "active"}`} data-testid={`trigger-state-${name}`}>
          {paused ? "paused" : "active"}
        </span>
      </td>
      <td>
        <button data-testid={`trigger-toggle-${name}`} disabled={busy} onClick={() => void onToggle(trigger)}>
          {paused ? "Resume" : "Pause"}
        </button>
      </td>
    </tr>
  );
});

// -- recent runs -----------------------------------------------------------------------------

export function RecentRuns({ pipeline }: { pipeline: string }) {
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useVisiblePolling(
    async () => {
      try {
        const found = await api.runs(pipeline, RECENT_RUNS);
        setRuns((old) => reuseEqual(old, found, (r) => r.id));
        setError(null);
      } catch (e) {
        setError(errorText(e));
      }
    },
    RUNS_MS,
    [pipeline],
  );

  return (
    <section className="side-panel" data-testid="recent-runs">
      <div className="side-panel-head">
        <h3>Recent runs</h3>
        <a href={`#/runs?pipeline=${encodeURIComponent(pipeline)}`} data-testid="recent-runs-all">
          all runs
        </a>
      </div>
      {error && <div className="error-text side-panel-message">{error}</div>}
      {runs === null ? (
        !error && <div className="muted side-panel-message">loading…</div>
      ) : runs.length === 0 ? (
        <div className="muted side-panel-message">No runs yet.</div>
      ) : (
        <table className="list compact">
          <thead>
            <tr>
              <th>Run</th>
              <th>Status</th>
              <th>Started</th>
              <th>Duration</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((run) => (
              <RecentRunRow key={run.id} run={run} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const RecentRunRow = memo(function RecentRunRow({ run }: { run: Run }) {
  return (
    <tr data-testid={`recent-run-${run.id}`} title={run.error ?? undefined}>
      <td>
        <a className="mono" href={`#/runs/${encodeURIComponent(run.id)}`}>
          {run.id}
        </a>
      </td>
      <td>
        <StatusBadge status={run.status} />
      </td>
      <td className="small">{formatTime(run.started_at)}</td>
      <td className="small">{formatDuration(run.duration_s)}</td>
    </tr>
  );
});
