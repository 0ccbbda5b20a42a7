"""When a run misses its SLA: the limits that apply to it, and whether one has passed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cairn.project.pipeline import PipelineSettings
from cairn.project.triggers import SLASettings


@dataclass(frozen=True)
class Limit:
    """A moment the run must have ended by, and the rule it comes from."""

    at: datetime
    rule: str  # for people: "max_duration 45m" / "deadline 45m after 02:00"


def effective_sla(settings: PipelineSettings, trigger: str | None) -> SLASettings | None:
    """The pipeline's `sla`, with the keys its trigger sets in its own `sla` replaced."""
    layers = [settings.sla]
    layers += [t.sla for t in settings.triggers if t.name == trigger]
    chosen: dict[str, Any] = {}
    for layer in layers:
        if layer is not None:
            chosen.update({k: getattr(layer, k) for k in layer.model_fields_set
                           if getattr(layer, k) is not None})
    return SLASettings(**chosen) if chosen else None


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def limits(sla: SLASettings | None, run: Any) -> list[Limit]:
    """The limits of a run (a `runs` row): max_duration counts from its start, the deadline
    from its scheduled time (runs without one have no deadline). A queued run has not
    started, so only its deadline can pass."""
    if sla is None:
        return []
    found = []
    if sla.max_duration is not None and run.status not in ("queued", "starting"):
        seconds = float(sla.max_duration)
        found.append(Limit(run.started_at + timedelta(seconds=seconds),
                           f"max_duration {_span(seconds)}"))
    if sla.deadline is not None and run.scheduled_for is not None:
        seconds = float(sla.deadline)
        found.append(Limit(run.scheduled_for + timedelta(seconds=seconds),
                           f"deadline {_span(seconds)} after "
                           f"{run.scheduled_for:%Y-%m-%d %H:%M:%S} UTC"))
    return sorted(found, key=lambda limit: limit.at)


def missed(found: list[Limit], ended_at: datetime | None, now: datetime) -> Limit | None:
    """The first limit certainly missed: passed while the run goes on, or before it ended."""
    end = ended_at or now
    return next((limit for limit in found if end > limit.at), None)
