// The timeline of a run: a row per block attempt, a bar from its start to its end (its wait
// for a free slot before, paler), placed on the run's time scale.
import type { BlockBar, RunPoint } from "../types";
import { formatDuration } from "../pages/common";

const TICKS = [0, 0.25, 0.5, 0.75, 1];

function ms(iso: string | null): number | null {
  if (!iso) return null;
  const value = new Date(iso).getTime();
  return Number.isNaN(value) ? null : value;
}

export function Gantt({
  run,
  blocks,
  now,
  onSelect,
}: {
  run: RunPoint;
  blocks: BlockBar[];
  now: number;
  onSelect: (block: string) => void;
}) {
  const times = blocks.flatMap((b) => [ms(b.queued_at), ms(b.started_at), ms(b.ended_at)]);
  const known = [ms(run.started_at), ms(run.ended_at), ...times].filter((t): t is number => t !== null);
  if (!known.length) return null;
  const start = Math.min(...known);
  const end = Math.max(...known, run.ended_at ? 0 : now);
  const span = Math.max(end - start, 1);
  const at = (t: number) => `${((t - start) / span) * 100}%`;
  const length = (from: number, to: number) => `${(Math.max(to - from, 0) / span) * 100}%`;
  const repeated = new Set(blocks.filter((b) => b.attempt > 1).map((b) => b.block));
  return (
    <div className="gantt" data-testid="gantt">
      {blocks.map((b) => {
        const began = ms(b.started_at);
        const queued = ms(b.queued_at);
        const ended = ms(b.ended_at) ?? (b.status === "running" ? now : began);
        const label = repeated.has(b.block) ? `${b.block} #${b.attempt}` : b.block;
        return (
          <div className="gantt-row" key={`${b.block}/${b.attempt}`}>
            <button className="gantt-label mono" title="show its log" onClick={() => onSelect(b.block)}>
              {label}
            </button>
            <div className="gantt-track">
              {began === null || ended === null ? (
                <span className="gantt-note muted">{b.status.replace("_", " ")}</span>
              ) : (
                <>
                  {queued !== null && queued < began && (
                    <div className="gantt-wait" style={{ left: at(queued), width: length(queued, began) }} title="waiting for a free slot" />
                  )}
                  <div
                    className={`gantt-bar status-${b.status}`}
                    data-testid="gantt-bar"
                    data-block={b.block}
                    style={{ left: at(began), width: length(began, ended) }}
                    title={`${label}: ${b.status}, ${formatDuration(b.duration_s ?? (ended - began) / 1000)}`}
                    onClick={() => onSelect(b.block)}
                  />
                </>
              )}
            </div>
            <div className="gantt-time small">{formatDuration(b.duration_s)}</div>
          </div>
        );
      })}
      <div className="gantt-row gantt-axis">
        <div className="gantt-label" />
        <div className="gantt-track">
          {TICKS.map((f) => (
            <span key={f} className="gantt-tick small muted" style={{ left: `${f * 100}%` }}>
              {f ? `+${formatDuration((span * f) / 1000)}` : "0"}
            </span>
          ))}
        </div>
        <div className="gantt-time" />
      </div>
    </div>
  );
}
