"""What the scheduler tells its operator (on the terminal of `cairn serve`/`cairn scheduler`,
or as JSON lines): one line when it starts a run, one when the run ends, with the pipeline,
run id, trigger, duration and the blocks that failed."""

from __future__ import annotations

import logging
from typing import Any

from cairn.ids import RunId
from cairn.monitor.json_logs import log_event
from cairn.store.metadata import MetadataStore

log = logging.getLogger("cairn.scheduler")


def run_started(run: Any) -> None:
    """`run`: the queued run's row, just claimed and launched."""
    trigger = run.trigger or "manual"
    log_event(log, logging.INFO, "run_started",
              f"run {run.id} of {run.pipeline} started (trigger {trigger})",
              pipeline=run.pipeline, run_id=run.id, trigger=trigger)


def failed_blocks(metadata: MetadataStore, run_id: str) -> list[str]:
    """The blocks whose last attempt in the run failed, in the order they ran."""
    last: dict[str, str] = {}
    for attempt in metadata.block_runs(RunId(run_id)):
        last[attempt.block] = attempt.status
    return [block for block, status in last.items() if status == "failed"]


def run_ended(metadata: MetadataStore, run_id: str) -> None:
    """Report a run that this scheduler started and that has now ended, however it ended."""
    run = metadata.find_run(run_id)
    trigger = run.trigger or "manual"
    duration = run.duration_s
    if duration is None and run.ended_at is not None:
        duration = (run.ended_at - run.started_at).total_seconds()
    failed = failed_blocks(metadata, run_id)
    took = f" in {duration:.2f} s" if duration is not None else ""
    verb = "finished" if run.status == "success" else run.status
    message = f"run {run.id} of {run.pipeline} {verb}{took} (trigger {trigger})"
    if failed:
        message += ": failed blocks " + ", ".join(failed)
    elif run.status != "success" and run.error:
        message += ": " + run.error.splitlines()[0]
    log_event(log, logging.INFO if run.status == "success" else logging.WARNING,
              "run_finished", message, pipeline=run.pipeline, run_id=run.id, trigger=trigger,
              status=run.status, duration_s=round(duration, 3) if duration is not None else None,
              failed_blocks=failed or None)
