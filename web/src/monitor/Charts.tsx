// Trend charts of a pipeline as plain SVG: each run's duration, and runs and failures per
// day. A fixed viewBox scaled to the width keeps the drawing code free of measuring.
import type { DayCount, RunPoint } from "../types";
import { formatDuration, formatTime } from "../pages/common";

const W = 800;
const H = 200;
const M = { left: 64, right: 12, top: 12, bottom: 26 };
const PLOT_W = W - M.left - M.right;
const PLOT_H = H - M.top - M.bottom;
const MAX_BAR = 40; // a few runs make slim bars, not slabs

/** The smallest 1, 2, 2.5 or 5 × 10^k at or above `value`: a round top for an axis. */
function niceCeil(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * power >= value) ?? 10;
  return step * power;
}

function y(value: number, top: number): number {
  return M.top + PLOT_H - (value / top) * PLOT_H;
}

function Grid({ top, label }: { top: number; label: (v: number) => string }) {
  return (
    <g className="chart-grid">
      {[0, top / 2, top].map((v) => (
        <g key={v}>
          <line x1={M.left} x2={W - M.right} y1={y(v, top)} y2={y(v, top)} />
          <text x={M.left - 6} y={y(v, top) + 4} textAnchor="end">
            {label(v)}
          </text>
        </g>
      ))}
    </g>
  );
}

/** A horizontal line across the plot at `value`, labelled at the left or right end (so that
 * two close lines keep their labels apart). */
function Mark({ name, value, top, end }: { name: string; value: number; top: number; end: "left" | "right" }) {
  return (
    <g className={`chart-mark mark-${name}`}>
      <line x1={M.left} x2={W - M.right} y1={y(value, top)} y2={y(value, top)} />
      <text
        x={end === "left" ? M.left + 2 : W - M.right - 2}
        y={y(value, top) - 3}
        textAnchor={end === "left" ? "start" : "end"}
      >
        {`${name} ${formatDuration(value)}`}
      </text>
    </g>
  );
}

function shortDay(iso: string): string {
  const date = new Date(iso.length === 10 ? `${iso}T00:00:00Z` : iso);
  return Number.isNaN(date.getTime()) ? iso : date.toISOString().slice(5, 10);
}

/** One bar per finished run, oldest on the left, coloured by status; p50 and p95 as lines. */
export function DurationChart({ runs, p50, p95 }: { runs: RunPoint[]; p50: number | null; p95: number | null }) {
  const timed = runs.filter((r) => r.duration_s !== null);
  if (!timed.length) return <div className="muted chart-empty">No finished runs in this window.</div>;
  const top = niceCeil(Math.max(...timed.map((r) => r.duration_s ?? 0), p95 ?? 0));
  const slot = PLOT_W / timed.length;
  const width = Math.min(MAX_BAR, Math.max(1, slot * 0.75));
  const open = (id: string) => {
    window.location.hash = `#/runs/${encodeURIComponent(id)}`;
  };
  return (
    <svg className="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label="duration of each run" data-testid="duration-chart">
      <Grid top={top} label={(v) => (v ? formatDuration(v) : "0")} />
      {timed.map((run, i) => {
        const height = ((run.duration_s ?? 0) / top) * PLOT_H;
        return (
          <rect
            key={run.id}
            className={`bar status-${run.status}`}
            data-testid="duration-bar"
            data-run={run.id}
            x={M.left + i * slot + (slot - width) / 2}
            y={M.top + PLOT_H - height}
            width={width}
            height={Math.max(height, 1)}
            onClick={() => open(run.id)}
          >
            <title>{`${run.id} · ${run.status} · ${formatDuration(run.duration_s)} · ${formatTime(run.started_at)}`}</title>
          </rect>
        );
      })}
      {p50 !== null && <Mark name="p50" value={p50} top={top} end="left" />}
      {p95 !== null && <Mark name="p95" value={p95} top={top} end="right" />}
      <g className="chart-axis">
        <text x={M.left} y={H - 6}>
          {shortDay(timed[0].started_at ?? "")}
        </text>
        <text x={W - M.right} y={H - 6} textAnchor="end">
          {shortDay(timed[timed.length - 1].started_at ?? "")}
        </text>
      </g>
    </svg>
  );
}

/** Finished runs per day (UTC), the failed part in red. */
export function FailuresChart({ days }: { days: DayCount[] }) {
  if (!days.length) return null;
  const top = niceCeil(Math.max(1, ...days.map((d) => d.runs)));
  const slot = PLOT_W / days.length;
  const width = Math.min(MAX_BAR, Math.max(1, slot * 0.7));
  const labelled = new Set([0, Math.floor((days.length - 1) / 2), days.length - 1]);
  return (
    <svg className="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label="runs and failures per day" data-testid="failures-chart">
      <Grid top={top} label={(v) => (Number.isInteger(v) ? String(v) : "")} />
      {days.map((d, i) => {
        const x = M.left + i * slot + (slot - width) / 2;
        const ok = ((d.runs - d.failures) / top) * PLOT_H;
        const failed = (d.failures / top) * PLOT_H;
        return (
          <g key={d.day} data-testid="day-bar" data-day={d.day} data-runs={d.runs} data-failures={d.failures}>
            <title>{`${d.day}: ${d.runs} runs, ${d.failures} failed`}</title>
            {ok > 0 && <rect className="bar status-success" x={x} y={M.top + PLOT_H - ok} width={width} height={ok} />}
            {failed > 0 && (
              <rect className="bar status-failed" x={x} y={M.top + PLOT_H - ok - failed} width={width} height={failed} />
            )}
            {labelled.has(i) && (
              <text className="chart-axis" x={x + width / 2} y={H - 6} textAnchor="middle">
                {shortDay(d.day)}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}
