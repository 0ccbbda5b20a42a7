"""How the CLI and the logs show a moment: ISO 8601 (`2026-12-04 15:32:49`) in the local time
zone, with the zone named (`UTC`, or its offset such as `+01:00`). The run history stores
naive UTC; this is the one place that turns it into what a person reads. The web UI does the
same in the browser's zone (web/src/time.ts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def zone_name(offset: timedelta | None) -> str:
    """`UTC` for a zero offset, else the offset as `+01:00` / `-05:30`."""
    if not offset:
        return "UTC"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def shown(moment: datetime | None, seconds: bool = True) -> str:
    """A moment (naive means UTC) in the local zone, named; `""` for None."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    local = aware.astimezone()
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} {zone_name(local.utcoffset())}"
