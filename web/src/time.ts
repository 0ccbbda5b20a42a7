/** How the UI shows a moment: ISO 8601 (`2026-12-04 15:32:49`) in the browser's time zone,
 * with the zone named (`UTC`, or its offset such as `+01:00`) — the format of the CLI too. */

const pad = (value: number) => String(value).padStart(2, "0");

/** The zone of a local time, from `Date.getTimezoneOffset()` (minutes behind UTC). */
export function zoneName(offsetMinutes: number): string {
  if (offsetMinutes === 0) return "UTC";
  const ahead = -offsetMinutes;
  const minutes = Math.abs(ahead);
  return `${ahead < 0 ? "-" : "+"}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

/** An API time (ISO; one without a zone is UTC, as the history stores it) as people read it. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const zoned = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso) || !iso.includes("T") ? iso : `${iso}Z`;
  const date = new Date(zoned);
  if (Number.isNaN(date.getTime())) return iso;
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  const clock = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return `${day} ${clock} ${zoneName(date.getTimezoneOffset())}`;
}
