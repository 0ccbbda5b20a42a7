"""Backfills: one run per execution date, a bounded number at a time, resumable.

A backfill is a group of runs under the trigger name `backfill-<id>`, the id derived from
the pipeline and the dates, so running the same backfill again finds its group: runs that
succeeded stay, queued ones start, failed or interrupted ones are resumed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cairn.errors import CairnError, Problem
from cairn.ids import RunId
from cairn.project.config import Project
from cairn.service import checked_plan, new_run_id, open_metadata
from cairn.store.metadata import FINISHED

_POLL_SECONDS = 0.2


@dataclass
class BackfillResult:
    group: str
    statuses: dict[str, str]  # execution date (ISO) -> run status


def execution_dates(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    if end < start:
        raise CairnError(Problem("bad-dates", f"the backfill ends ({end}) before it starts "
                                 f"({start})"))
    if every <= timedelta(0):
        raise CairnError(Problem("bad-dates", "--every must be positive"))
    dates = []
    moment = start
    while moment <= end:
        dates.append(moment)
        moment += every
    return dates


def group_name(pipeline: str, dates: list[datetime]) -> str:
    digest = hashlib.sha1(f"{pipeline}|{dates[0]}|{dates[-1]}|{len(dates)}".encode())
    return "backfill-" + digest.hexdigest()[:8]


def _command(project: Project, run: Any, resume: bool) -> list[str]:
    base = [sys.executable, "-m", "cairn", "--profile", project.profile, "run", run.pipeline,
            "--project", str(project.root), "--quiet"]
    if resume:
        return [*base, "--resume", run.id]
    command = [*base, "--run-id", run.id]
    for key, value in json.loads(run.variables).items():
        command += ["--var", f"{key}={json.dumps(value)}"]
    return command


def backfill(project: Project, pipeline: str, dates: list[datetime],
             variables: dict[str, Any], max_parallel: int,
             report: Callable[[str], None]) -> BackfillResult:
    """Run the pipeline once per date (the run's execution date), `max_parallel` at once."""
    checked_plan(project, pipeline, variables)
    group = group_name(pipeline, dates)
    metadata = open_metadata(project)
    try:
        for moment in dates:
            metadata.create_scheduled_run(new_run_id(), pipeline, group, moment.isoformat(),
                                          moment, variables, "queued")
        runs = {r.id: r for r in metadata.list_runs(pipeline, 100_000) if r.trigger == group}
        waiting = [r for r in sorted(runs.values(), key=lambda r: r.scheduled_for)
                   if r.status != "success"]
        report(f"backfill {group}: {len(dates)} dates, {len(dates) - len(waiting)} done "
               f"before, {len(waiting)} to run")
        going: dict[str, subprocess.Popen[bytes]] = {}
        # Runs of the group a scheduler claimed first: followed to their end, so that every
        # date is reported, however it went.
        elsewhere: set[str] = set()
        while waiting or going or elsewhere:
            while waiting and len(going) < max_parallel:
                run = waiting.pop(0)
                resume = run.status != "queued"  # failed or interrupted earlier
                if not resume and not metadata.claim_run(RunId(run.id)):
                    elsewhere.add(run.id)
                    continue
                going[run.id] = subprocess.Popen(_command(project, run, resume),
                                                 stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL)
            time.sleep(_POLL_SECONDS)
            for run_id, process in list(going.items()):
                if process.poll() is not None:
                    del going[run_id]
                    status = metadata.find_run(run_id).status
                    report(f"  {runs[run_id].scheduled_for.isoformat()} {status}")
            for run_id in list(elsewhere):
                status = metadata.find_run(run_id).status
                if status in FINISHED:
                    elsewhere.discard(run_id)
                    report(f"  {runs[run_id].scheduled_for.isoformat()} {status} "
                           "(run by a scheduler)")
        final = {r.scheduled_for.isoformat(): r.status
                 for r in metadata.list_runs(pipeline, 100_000) if r.trigger == group}
    finally:
        metadata.close()
    return BackfillResult(group, dict(sorted(final.items())))
