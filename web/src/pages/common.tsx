export { formatTime } from "../time";

export function formatDuration(seconds: number | null): string {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(2)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

export function formatBytes(bytes: number | null): string {
  if (bytes === null || bytes === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`badge status status-${status}`} data-testid={testId}>
      {status}
    </span>
  );
}

export function formatRate(rate: number | null): string {
  return rate === null ? "—" : `${Math.round(rate * 100)}%`;
}

/** The windows the dashboards offer, in days. */
export const WINDOWS = [1, 7, 30, 90];

export function WindowSelect({ days, onChange }: { days: number; onChange: (days: number) => void }) {
  const choices = WINDOWS.includes(days) ? WINDOWS : [...WINDOWS, days].sort((a, b) => a - b);
  return (
    <label>
      window{" "}
      <select data-testid="stats-window" value={days} onChange={(e) => onChange(Number(e.target.value))}>
        {choices.map((d) => (
          <option key={d} value={d}>
            {d === 1 ? "today" : `last ${d} days`}
          </option>
        ))}
      </select>
    </label>
  );
}
