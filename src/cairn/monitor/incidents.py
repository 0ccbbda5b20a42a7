"""Raising incidents: which channels an event of a pipeline goes to, and the incident of a
run's end or of its SLA miss, keyed by the run so that it is raised once whoever sees it."""

from __future__ import annotations

import contextlib
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from cairn.errors import CairnError
from cairn.ids import BlockName, RunId
from cairn.monitor.channels import channel
from cairn.monitor.messages import AlertMessage, run_message
from cairn.monitor.sla import Limit, effective_sla, limits, missed
from cairn.project.alerts import AlertSettings
from cairn.project.pipeline import PipelineSettings

if TYPE_CHECKING:
    from cairn.project.config import Project
    from cairn.store.metadata import MetadataStore

LOG_READ_BYTES = 64 * 1024  # the end of a log file is enough for its excerpt


def routed(settings: AlertSettings, pipeline: str, event: str) -> list[str]:
    """The channels of every route matching the pipeline and the event, in order, once."""
    names: list[str] = []
    for route in settings.routes:
        if event in route.events and any(fnmatchcase(pipeline, p) for p in route.pipelines):
            names += [name for name in route.channels if name not in names]
    return names


def raise_incident(metadata: MetadataStore, settings: AlertSettings,
                   message: AlertMessage, key: str) -> int | None:
    """Record the incident if it is routed anywhere and new; its id, else None."""
    channels = routed(settings, message.pipeline, message.event)
    if not channels:
        return None
    return metadata.create_incident(message.pipeline, message.event, key, message.run_id,
                                    message.to_json(), channels)


def _log_tail(path: Any) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - LOG_READ_BYTES))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def raise_run_event(project: Project, metadata: MetadataStore, run: Any, event: str,
                    limit: Limit | None = None) -> int | None:
    settings = project.settings.alerts
    channels = routed(settings, run.pipeline, event)
    if not channels:
        return None  # nothing to gather
    for name in channels:  # their credentials become secrets, masked in the message
        with contextlib.suppress(CairnError):  # a broken channel fails its delivery
            channel(project, name)
    from cairn.runtime.variable_store import VariableStore

    attempts = metadata.block_runs(run.id)
    store = VariableStore(project.state_dir / "runs")
    logs = {a.block: _log_tail(store.log_path(RunId(run.id), BlockName(a.block)))
            for a in attempts if a.status == "failed"}
    message = run_message(event, run, attempts, logs, settings.ui_url, limit)
    return raise_incident(metadata, settings, message, run.id)


def end_event(metadata: MetadataStore, run: Any) -> str | None:
    """failure, recovery (a success after a failed run), success, or None (interrupted)."""
    if run.status == "failed":
        return "failure"
    if run.status != "success":
        return None
    previous = metadata.previous_finished_run(run.pipeline, run.id)
    return "recovery" if previous is not None and previous.status == "failed" else "success"


def raise_run_end(project: Project, metadata: MetadataStore, run_id: str) -> int | None:
    run = metadata.find_run(run_id)
    event = end_event(metadata, run)
    return None if event is None else raise_run_event(project, metadata, run, event)


def check_sla(project: Project, metadata: MetadataStore, run: Any,
              pipeline: PipelineSettings, now: datetime) -> tuple[Limit | None, datetime | None]:
    """Raise the run's `sla_miss` once a limit has certainly passed. Returns the limit
    missed, and else when the next limit passes (None when the run has none left)."""
    found = limits(effective_sla(pipeline, run.trigger), run)
    limit = missed(found, run.ended_at, now)
    if limit is not None:
        raise_run_event(project, metadata, run, "sla_miss", limit)
        return limit, None
    return None, found[0].at if found and run.ended_at is None else None
