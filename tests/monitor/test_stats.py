"""Pipeline health, trends and run timelines over a known history, on SQLite and
PostgreSQL; the timeline and log search of a real run."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy
from support import ProjectFolder, RecordingObserver

from cairn import service
from cairn.errors import CairnError
from cairn.io.secrets import register_secret
from cairn.monitor.log_search import search_logs
from cairn.monitor.stats import health, percentile, timeline, trend, window_start
from cairn.store.metadata import MetadataStore, utcnow
from cairn.store.schema import block_runs, runs

POSTGRES = os.environ.get("CAIRN_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([], 50, None),
    ([7.0], 95, 7.0),
    ([3.0, 1.0, 2.0], 50, 2.0),
    ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
    ([10.0, 20.0, 30.0], 95, 29.0),
    ([10.0, 20.0, 30.0], 100, 30.0),
    ([10.0, 20.0, 30.0], 0, 10.0),
])
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@pytest.fixture(params=["sqlite", "postgresql"])
def history(request: pytest.FixtureRequest, project: ProjectFolder) -> Iterator[ProjectFolder]:
    """The project's metadata on SQLite, or in a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield project
        return
    admin = sqlalchemy.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    database = f"cairn_stats_{secrets.token_hex(4)}"
    try:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{database}"'))
    except sqlalchemy.exc.OperationalError as error:
        admin.dispose()
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES}: {error.orig}")
    (project.root / "cairn.yaml").write_text(f"name: test\nmetadata_db: {POSTGRES}/{database}\n")
    try:
        yield project
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE "{database}" WITH (FORCE)'))
        admin.dispose()


def add_run(store: MetadataStore, run_id: str, pipeline: str, status: str, started: datetime,
            duration: float | None, **metrics: Any) -> None:
    ended = started + timedelta(seconds=duration) if duration is not None else None
    with store.engine.begin() as connection:
        connection.execute(sqlalchemy.insert(runs).values(
            id=run_id, pipeline=pipeline, status=status, started_at=started, ended_at=ended,
            duration_s=duration, execution_date=started, variables="{}", blocks="[]",
            resumes=0, **metrics))


def add_attempt(store: MetadataStore, run_id: str, pipeline: str, block: str, status: str,
                duration: float | None) -> None:
    with store.engine.begin() as connection:
        connection.execute(sqlalchemy.insert(block_runs).values(
            run_id=run_id, pipeline=pipeline, block=block, attempt=1, status=status,
            duration_s=duration))


def test_health_and_trend_of_a_known_history(history: ProjectFolder) -> None:
    history.pipeline("daily", {"load.py": "x = 1\n"})
    history.pipeline("hourly", {"tick.py": "t = 1\n"},
                     "triggers:\n  - name: every_hour\n    interval: 1h\n")
    history.pipeline("broken", {"a.py": "a = 1\n"}, "triggers: [{name: t, interval: soon}]\n")
    project = history.load()
    store = service.open_metadata(project)
    today = window_start(1)
    try:
        # In the 7-day window: 3 successes (10, 20, 30 s), 2 failures, one queued run.
        # The metric columns stay NULL in some, as in runs recorded before they existed.
        add_run(store, "r1", "daily", "success", today - timedelta(days=3, hours=-1), 10.0,
                rows_out=5, output_bytes=100, peak_memory_bytes=1000, cpu_seconds=0.5)
        add_run(store, "r2", "daily", "failed", today - timedelta(days=3, hours=-2), 2.0)
        add_run(store, "r3", "daily", "success", today - timedelta(days=1, hours=-1), 30.0)
        add_run(store, "r4", "daily", "interrupted", today + timedelta(minutes=1), 1.0)
        add_run(store, "r5", "daily", "success", today + timedelta(minutes=2), 20.0)
        add_run(store, "r6", "daily", "queued", utcnow(), None)
        # Before the window: counted nowhere.
        add_run(store, "r0", "daily", "failed", today - timedelta(days=7, minutes=1), 999.0)
        for run_id, status in (("r1", "success"), ("r2", "failed"), ("r0", "failed")):
            add_attempt(store, run_id, "daily", "load", status, 4.0)
        add_attempt(store, "r3", "daily", "fan[0]", "success", 1.0)
        add_attempt(store, "r3", "daily", "fan[1]", "success", 3.0)
        add_attempt(store, "r3", "daily", "after", "upstream_failed", None)

        found = {h.pipeline: h for h in health(project, store, days=7)}
        daily = found["daily"]
        assert (daily.runs, daily.failures, daily.active) == (5, 2, 1)
        assert daily.success_rate == pytest.approx(0.6)
        assert (daily.p50_s, daily.p95_s) == (pytest.approx(20.0), pytest.approx(29.0))
        assert daily.last_run is not None and daily.last_run.id == "r6"
        assert daily.next_run is None and daily.problem is None
        hourly = found["hourly"]
        assert (hourly.runs, hourly.success_rate, hourly.p50_s, hourly.last_run) == (
            0, None, None, None)
        assert hourly.next_run is not None and hourly.next_run > utcnow()
        assert hourly.next_run <= utcnow() + timedelta(hours=1)
        # A broken pipeline.yaml shows as a problem of its own row, not as an error.
        assert found["broken"].next_run is None
        assert found["broken"].problem is not None and "soon" in found["broken"].problem

        week = trend(project, store, "daily", days=7)
        assert [r.id for r in week.runs] == ["r1", "r2", "r3", "r4", "r5", "r6"]
        assert (week.runs[0].rows_out, week.runs[0].cpu_seconds) == (5, 0.5)
        assert week.runs[1].rows_out is None
        assert [d.day for d in week.days] == [
            (today - timedelta(days=n)).date() for n in range(6, -1, -1)]
        assert [(d.runs, d.failures) for d in week.days] == [
            (0, 0), (0, 0), (0, 0), (2, 1), (0, 0), (1, 0), (2, 1)]
        assert [(b.block, b.runs, b.failures, b.p50_s) for b in week.blocks] == [
            ("load", 2, 1, 4.0), ("fan", 2, 0, 2.0)]
        assert trend(project, store, "daily", days=1).health.runs == 2

        with pytest.raises(CairnError) as unknown:
            trend(project, store, "dialy", days=7)
        assert unknown.value.problems[0].kind == "unknown-pipeline"
        assert "daily" in str(unknown.value.problems[0].hint)
    finally:
        store.close()


def test_timeline_and_log_search_of_a_real_run(project: ProjectFolder,
                                               observer: RecordingObserver) -> None:
    register_secret("hunter2-stats")
    project.pipeline("p", {
        "numbers.py": "numbers = list(range(10))\nprint('made the numbers')\n"
                      "print('password hunter2-stats')\n",
        "total.py": "total = sum(numbers)\nprint('first line')\nprint('total is', total)\n",
        "broken.py": "raise ValueError('boom ' + str(total))\n",
    })
    loaded = project.load()
    result = service.run_pipeline(loaded, "p", observer)
    assert result.status == "failed"
    store = service.open_metadata(loaded)
    variables = service.variable_store(loaded)
    try:
        run = timeline(store, result.run_id[:15])
        assert run.run.id == result.run_id and run.run.status == "failed"
        assert [b.block for b in run.blocks] == ["numbers", "total", "broken"]
        for bar in run.blocks:
            assert bar.started_at is not None and bar.ended_at is not None
            assert run.run.started_at <= bar.started_at <= bar.ended_at
        assert run.blocks[2].status == "failed" and "boom 45" in str(run.blocks[2].error)

        found = search_logs(store, variables, result.run_id, query="TOTAL IS")
        assert [(x.block, x.line, x.text) for x in found.lines] == [("total", 2, "total is 45")]
        everything = search_logs(store, variables, result.run_id, block="numbers")
        assert [x.text for x in everything.lines] == ["made the numbers", "password ***"]
        assert search_logs(store, variables, result.run_id, query="hunter2").lines == []
        cut = search_logs(store, variables, result.run_id, limit=2)
        assert cut.truncated and len(cut.lines) == 2
        with pytest.raises(CairnError) as unknown:
            search_logs(store, variables, result.run_id, block="../numbers")
        assert unknown.value.problems[0].kind == "unknown-block"
    finally:
        store.close()
