"""How pipelines behave over time, read from the metadata database: each pipeline's health
over a window of days, its runs as series for trend charts, and the timeline of one run's
blocks. `cairn stats` and the `/api/stats` routes show the same numbers.

Percentiles are computed here rather than in SQL, where SQLite has no percentile function;
a window is a bounded number of days, so its durations fit in memory."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from cairn.errors import CairnError
from cairn.ids import item_of
from cairn.project.config import Project
from cairn.store.metadata import FINISHED, MetadataStore, utcnow
from cairn.store.schema import block_runs, runs

FAILED = ("failed", "interrupted")
ACTIVE = ("queued", "starting", "running")
SERIES_LIMIT = 500  # the newest runs of a window that the trend series holds


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q`th percentile (0-100) of `values`, interpolating between the two nearest
    ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class RunPoint:
    """One pipeline run as the charts and tables show it; metrics are None in runs
    recorded before Cairn measured them."""

    id: str
    pipeline: str
    status: str
    trigger: str | None
    queued_at: datetime | None
    scheduled_for: datetime | None
    started_at: datetime
    ended_at: datetime | None
    duration_s: float | None
    rows_out: int | None
    output_bytes: int | None
    peak_memory_bytes: int | None
    cpu_seconds: float | None
    error: str | None

    @classmethod
    def of(cls, row: Any) -> RunPoint:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


@dataclass
class Health:
    """A pipeline at a glance: its finished runs in the window and what comes next."""

    pipeline: str
    days: int
    runs: int  # finished (succeeded, failed or interrupted) in the window
    failures: int
    success_rate: float | None  # of the finished runs; None without any
    p50_s: float | None  # percentiles of the successful runs' durations
    p95_s: float | None
    active: int  # queued or running now
    last_run: RunPoint | None
    next_run: datetime | None  # the earliest next fire time of its active schedules
    problem: str | None  # why the next run is unknown (a broken pipeline.yaml)


@dataclass
class Day:
    day: date
    runs: int  # finished runs started that day (UTC)
    failures: int


@dataclass
class BlockStats:
    """A block's attempts in the window; the items of a mapped block count as its own."""

    block: str
    runs: int  # finished attempts
    failures: int
    p50_s: float | None  # of the successful attempts
    p95_s: float | None


@dataclass
class Trend:
    health: Health
    runs: list[RunPoint]  # oldest first: the newest SERIES_LIMIT runs of the window
    days: list[Day]  # every day of the window, oldest first
    blocks: list[BlockStats]  # slowest (by p50) first


@dataclass
class BlockBar:
    """One attempt of a block in a run, for a Gantt chart."""

    block: str
    attempt: int
    status: str
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    rows_in: int | None
    rows_out: int | None
    output_bytes: int | None
    peak_memory_bytes: int | None
    cpu_seconds: float | None
    error: str | None
    profile: list[dict[str, Any]] | None = None  # a SQL block's statements: line, seconds, rows

    @classmethod
    def of(cls, row: Any) -> BlockBar:
        recorded = {f.name: getattr(row, f.name) for f in fields(cls) if f.name != "profile"}
        return cls(**recorded, profile=json.loads(row.profile) if row.profile else None)


@dataclass
class Timeline:
    run: RunPoint
    blocks: list[BlockBar]  # in the order they were recorded


def window_start(days: int) -> datetime:
    """Midnight (UTC) starting a window of `days` whole days that ends with today."""
    return datetime.combine(utcnow().date() - timedelta(days=days - 1), time())


def health(project: Project, metadata: MetadataStore, days: int,
           pipeline: str | None = None) -> list[Health]:
    """The health of every pipeline of the project (or of one) over the last `days`."""
    names = [pipeline] if pipeline else project.pipeline_names()
    since = window_start(days)
    finished = select(runs.c.pipeline, runs.c.status, runs.c.duration_s).where(
        runs.c.started_at >= since, runs.c.status.in_(FINISHED), runs.c.pipeline.in_(names))
    waiting = (select(runs.c.pipeline, func.count()).where(
        runs.c.status.in_(ACTIVE), runs.c.pipeline.in_(names)).group_by(runs.c.pipeline))
    window: dict[str, list[tuple[str, float | None]]] = defaultdict(list)
    with metadata.engine.connect() as connection:
        for name, status, duration in connection.execute(finished):
            window[name].append((status, duration))
        active = {name: int(count) for name, count in connection.execute(waiting)}
    found = []
    for name in names:
        statuses = [status for status, _ in window[name]]
        durations = [d for status, d in window[name] if status == "success" and d is not None]
        failures = sum(1 for s in statuses if s in FAILED)
        last = metadata.latest_run(name)
        next_run, problem = _next_run(project, name)
        found.append(Health(
            pipeline=name, days=days, runs=len(statuses), failures=failures,
            # A cancelled run is neither: the user stopped it.
            success_rate=statuses.count("success") / len(statuses) if statuses else None,
            p50_s=percentile(durations, 50), p95_s=percentile(durations, 95),
            active=active.get(name, 0), last_run=RunPoint.of(last) if last else None,
            next_run=next_run, problem=problem))
    return found


def _next_run(project: Project, pipeline: str) -> tuple[datetime | None, str | None]:
    from cairn.schedule.listing import list_triggers

    try:
        rows = list_triggers(project, pipeline)
    except CairnError as error:  # one broken pipeline must not hide the others' health
        return None, "; ".join(p.describe() for p in error.problems)
    upcoming = [r.next_fire for r in rows if r.next_fire is not None and not r.paused]
    return (min(upcoming) if upcoming else None), None


def trend(project: Project, metadata: MetadataStore, pipeline: str, days: int) -> Trend:
    """A pipeline's health, runs, failures per day and per-block figures over `days`."""
    project.pipeline_dir(pipeline)  # an unknown pipeline is an error naming the known ones
    since = window_start(days)
    in_window = (runs.c.pipeline == pipeline, runs.c.started_at >= since)
    newest = (select(runs).where(*in_window)
              .order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(SERIES_LIMIT))
    finished = select(runs.c.status, runs.c.started_at).where(
        *in_window, runs.c.status.in_(FINISHED))
    attempts = (select(block_runs.c.block, block_runs.c.status, block_runs.c.duration_s)
                .join(runs, runs.c.id == block_runs.c.run_id)
                .where(*in_window, block_runs.c.status.in_(FINISHED)))
    with metadata.engine.connect() as connection:
        series = [RunPoint.of(row) for row in connection.execute(newest)]
        per_day = Counter[tuple[date, bool]](
            (started.date(), status in FAILED)
            for status, started in connection.execute(finished))
        block_rows = list(connection.execute(attempts))
    calendar = [since.date() + timedelta(days=n) for n in range(days)]
    return Trend(
        health=health(project, metadata, days, pipeline)[0],
        runs=series[::-1],
        days=[Day(d, per_day[d, False] + per_day[d, True], per_day[d, True])
              for d in calendar],
        blocks=_block_stats(block_rows))


def _block_stats(rows: Sequence[Any]) -> list[BlockStats]:
    grouped: dict[str, list[tuple[str, float | None]]] = defaultdict(list)
    for unit, status, duration in rows:
        grouped[item_of(unit) or unit].append((status, duration))
    found = []
    for block, attempts in grouped.items():
        durations = [d for s, d in attempts if s == "success" and d is not None]
        found.append(BlockStats(block, len(attempts), sum(1 for s, _ in attempts if s in FAILED),
                                percentile(durations, 50), percentile(durations, 95)))
    return sorted(found, key=lambda b: (-(b.p50_s or 0.0), b.block))


def timeline(metadata: MetadataStore, run_id: str) -> Timeline:
    """A run (by id or unique prefix) and every block attempt recorded in it."""
    record = metadata.find_run(run_id)
    return Timeline(RunPoint.of(record),
                    [BlockBar.of(row) for row in metadata.block_runs(record.id)])
