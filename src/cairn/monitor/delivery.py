"""Sending open incidents to their channels, from the outbox in the metadata database.

Each attempt is first claimed as a `sending` row, so that two senders (a run's process and
a scheduler) never both send it; then it becomes `sent`, `failed`, or `gave_up` when it was
the last of `max_attempts`. A failed channel is tried again after `retry_delay`, doubled
after each failure up to `retry_max_delay`. An incident is done once every channel is."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cairn.errors import CairnError
from cairn.io.secrets import redact
from cairn.monitor.channels import DeliveryError, channel, send
from cairn.monitor.messages import AlertMessage
from cairn.project.alerts import AlertSettings

if TYPE_CHECKING:
    from cairn.project.config import Project
    from cairn.store.metadata import MetadataStore

SETTLED = ("sent", "gave_up")
# A `sending` row this much older than a send's timeout belongs to a sender that died.
STALE_MARGIN = timedelta(seconds=30)
# When another sender holds the attempt, look again this soon.
CONTESTED_WAIT = timedelta(seconds=1)


@dataclass(frozen=True)
class ChannelState:
    settled: bool
    attempt: int  # the next attempt's number
    due: datetime | None  # when it may be made


def backoff(settings: AlertSettings, failures: int) -> timedelta:
    """The wait after the `failures`-th failed attempt."""
    delay = settings.seconds("retry_delay") * 2 ** (failures - 1)
    return timedelta(seconds=min(delay, settings.seconds("retry_max_delay")))


def channel_state(attempts: list[Any], settings: AlertSettings, now: datetime) -> ChannelState:
    """Where one channel of one incident stands, from its delivery rows (oldest first)."""
    if any(row.status in SETTLED for row in attempts):
        return ChannelState(True, len(attempts), None)
    if not attempts:
        return ChannelState(False, 1, now)
    last = attempts[-1]
    if last.status == "sending":
        stale = last.at + timedelta(seconds=settings.seconds("timeout")) + STALE_MARGIN
        if now < stale:
            return ChannelState(False, len(attempts) + 1, stale)
    if len(attempts) >= settings.max_attempts:
        return ChannelState(True, len(attempts), None)
    return ChannelState(False, len(attempts) + 1, last.at + backoff(settings, len(attempts)))


def attempt(project: Project, metadata: MetadataStore, incident_id: int, name: str,
            number: int, message: AlertMessage) -> str | None:
    """Make one claimed attempt; its status, or None when another sender holds it."""
    delivery = metadata.claim_delivery(incident_id, name, number)
    if delivery is None:
        return None
    settings = project.settings.alerts
    status, error = "sent", None
    try:
        send(channel(project, name), message, settings.seconds("timeout"))
    except (DeliveryError, CairnError) as failure:
        status, error = "failed", redact(str(failure))
        if number >= settings.max_attempts:
            status, error = "gave_up", f"{error} (attempt {number} of {number}: giving up)"
    metadata.finish_delivery(delivery, status, error)
    return status


def deliver_pending(project: Project, metadata: MetadataStore, now: datetime,
                    run_id: str | None = None) -> datetime | None:
    """One pass over the open incidents (of one run, or all): every due attempt is made,
    channels in parallel. Returns when the next attempt is due; None if none is left."""
    incidents = metadata.open_incidents(run_id)
    if not incidents:
        return None
    rows = metadata.deliveries([incident.id for incident in incidents])
    settings = project.settings.alerts
    next_due: list[datetime] = []
    sends: list[threading.Thread] = []
    results: dict[tuple[int, str], str | None] = {}
    for incident in incidents:
        message = AlertMessage.from_json(incident.message)
        for name in json.loads(incident.channels):
            state = channel_state([r for r in rows if r.incident_id == incident.id
                                   and r.channel == name], settings, now)
            if state.settled:
                continue
            if state.due is not None and state.due > now:
                next_due.append(state.due)
                continue
            def one(key: tuple[int, str] = (incident.id, name), number: int = state.attempt,
                    text: AlertMessage = message) -> None:
                results[key] = attempt(project, metadata, *key, number, text)

            sends.append(_thread(one))
    for thread in sends:
        thread.join()
    # Incidents whose channels are all settled now are done; the rest come back later.
    rows = metadata.deliveries([incident.id for incident in incidents])
    later = _utcnow()
    for incident in incidents:
        states = [channel_state([r for r in rows if r.incident_id == incident.id
                                 and r.channel == name], settings, later)
                  for name in json.loads(incident.channels)]
        if all(state.settled for state in states):
            metadata.close_incident(incident.id)
        next_due += [state.due or later for state in states if not state.settled]
    if any(status is None for status in results.values()):
        next_due.append(later + CONTESTED_WAIT)
    return min(next_due) if next_due else None


def _thread(target: Callable[[], None]) -> threading.Thread:
    # Daemon threads: a process that ends does not wait for a channel that hangs.
    thread = threading.Thread(target=_quietly(target), name="cairn-alert-send", daemon=True)
    thread.start()
    return thread


def _quietly(target: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            target()
        except Exception as error:  # the database went away: the next pass tries again
            import sys

            print(f"cairn alerts: {type(error).__name__}: {redact(str(error))}",
                  file=sys.__stderr__, flush=True)
    return run


def _utcnow() -> datetime:
    from cairn.store.metadata import utcnow

    return utcnow()
