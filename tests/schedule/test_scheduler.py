"""The scheduler as real processes with short real intervals: on time, exactly once (also
with two schedulers on PostgreSQL and across a SIGKILL), and no run stuck 'running'."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support import CLI, ProjectFolder

from cairn.store.metadata import MetadataStore

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


def start_scheduler(project: ProjectFolder, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as handle:  # the child has its own copy of the file
        return subprocess.Popen([sys.executable, "-m", "cairn", "scheduler", "--tick", "0.2",
                                 "--project", str(project.root)], stdout=handle, stderr=handle)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=15)


def history(project: ProjectFolder) -> list[Any]:
    store = MetadataStore(project.load().metadata_url)
    try:
        return sorted(store.list_runs("p", 1000), key=lambda r: r.scheduled_for)
    finally:
        store.close()


def wait_until_settled(project: ProjectFolder, seconds: float = 30) -> list[Any]:
    """The runs, once no run process is going any more (queued runs wait for a scheduler)."""
    deadline = time.monotonic() + seconds
    while True:
        runs = history(project)
        if all(r.status not in ("starting", "running") for r in runs):
            return runs
        assert time.monotonic() < deadline, [(r.id, r.status) for r in runs]
        time.sleep(0.2)


def wait_for_runs(project: ProjectFolder, count: int, status: str | None = None,
                  seconds: float = 60) -> None:
    """Until the history has `count` runs (with `status`): a loaded machine starts run
    processes late, which must not fail a test of what runs."""
    deadline = time.monotonic() + seconds
    while len([r for r in history(project) if status in (None, r.status)]) < count:
        assert time.monotonic() < deadline, [(r.id, r.status) for r in history(project)]
        time.sleep(0.1)


def interval_pipeline(project: ProjectFolder, block: str = "stamp = label\n",
                      extra: str = "") -> None:
    project.pipeline("p", {"stamp.py": block},
                     "triggers:\n  - name: tick\n    interval: 1s\n    catch_up: all\n"
                     "    variables: {label: from-trigger}\n" + extra)


def assert_every_second_once(runs: list[Any]) -> None:
    times = [r.scheduled_for for r in runs]
    assert len(times) == len(set(times)), "a (trigger, time) ran twice"
    assert all(later - earlier == timedelta(seconds=1)
               for earlier, later in pairwise(times)), times


def test_schedules_fire_on_time_with_their_variables(project: ProjectFolder,
                                                     tmp_path: Path) -> None:
    interval_pipeline(project)
    scheduler = start_scheduler(project, tmp_path / "scheduler.log")
    started = time.monotonic()
    wait_for_runs(project, 3, "success")
    elapsed = time.monotonic() - started
    stop(scheduler)
    runs = wait_until_settled(project)
    runs = [r for r in runs if r.status != "queued"]  # the last may be due as it stopped
    assert 3 <= len(runs) <= elapsed + 2  # one a second, no more
    assert_every_second_once(runs)
    assert {r.status for r in runs} == {"success"} and {r.trigger for r in runs} == {"tick"}
    store = MetadataStore(project.load().metadata_url)
    try:
        first = store.block_runs(runs[0].id)[0]
        delays = [(store.block_runs(r.id)[0].started_at - r.scheduled_for).total_seconds()
                  for r in runs]
    finally:
        store.close()
    assert first.status == "success"
    assert max(delays) < 10.0, delays  # started, not left waiting (bench/ times it)
    assert '"label": "from-trigger"' in runs[0].variables


@pytest.fixture
def postgres_project(project: ProjectFolder) -> Iterator[ProjectFolder]:
    admin = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    name = f"cairn_sched_{secrets.token_hex(4)}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable: {error.orig}")
    (project.root / "cairn.yaml").write_text(f"name: s\nmetadata_db: {POSTGRES}/{name}\n")
    yield project
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


def test_two_schedulers_run_each_time_once(postgres_project: ProjectFolder,
                                           tmp_path: Path) -> None:
    interval_pipeline(postgres_project, extra="max_concurrent_runs: 4\n")
    MetadataStore(postgres_project.load().metadata_url).close()  # migrate before the race
    schedulers = [start_scheduler(postgres_project, tmp_path / f"s{i}.log") for i in range(2)]
    wait_for_runs(postgres_project, 4, "success")
    for scheduler in schedulers:
        stop(scheduler)
    runs = wait_until_settled(postgres_project)
    assert len(runs) >= 4
    assert_every_second_once(runs)
    assert {r.status for r in runs} <= {"success", "queued"}
    assert [r.status for r in runs].count("success") >= 3


def test_a_killed_scheduler_loses_and_repeats_nothing(project: ProjectFolder,
                                                      tmp_path: Path) -> None:
    interval_pipeline(project)
    scheduler = start_scheduler(project, tmp_path / "s.log")
    wait_for_runs(project, 2)
    os.kill(scheduler.pid, signal.SIGKILL)
    scheduler.wait()
    time.sleep(2.5)  # downtime: these times are caught up (catch_up: all)
    scheduler = start_scheduler(project, tmp_path / "s.log")
    wait_for_runs(project, 6)
    stop(scheduler)
    runs = wait_until_settled(project)
    assert len(runs) >= 6
    assert_every_second_once(runs)


def test_a_killed_run_fails_instead_of_hanging(project: ProjectFolder, tmp_path: Path) -> None:
    project.pipeline("p", {"slow.py": "import time\ntime.sleep(60)\nslow = 1\n"},
                     "triggers:\n  - name: once\n    interval: 1h\n"
                     "    start: 2020-01-01T00:00:00Z\n    catch_up: latest\n")
    store = MetadataStore(project.load().metadata_url)
    try:  # the trigger was last handled long ago: the latest missed time runs at once
        store.save_trigger_state("p", "once", fired_until=project_time(hours_ago=3))
    finally:
        store.close()
    scheduler = start_scheduler(project, tmp_path / "s.log")
    try:
        deadline = time.monotonic() + 30
        while not any(r.status == "running" and r.pid for r in history(project)):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        run, = history(project)
        os.kill(run.pid, signal.SIGKILL)
        runs = wait_until_settled(project, seconds=20)
    finally:
        stop(scheduler)
    assert runs[0].status == "failed" and "exit code" in runs[0].error
    store = MetadataStore(project.load().metadata_url)
    try:
        assert [b.status for b in store.block_runs(runs[0].id)] == ["failed"]
    finally:
        store.close()


def project_time(hours_ago: float) -> Any:
    from cairn.service import utc_now

    return utc_now() - timedelta(hours=hours_ago)


def test_paused_triggers_do_not_fire(project: ProjectFolder, cli: type[CLI],
                                     tmp_path: Path) -> None:
    interval_pipeline(project)
    listed = cli.run("triggers", cwd=project.root, check=True).stdout
    assert "every 1 s" in listed and "active" in listed
    paused = cli.run("triggers", "p", "--pause", "tick", cwd=project.root, check=True).stdout
    assert "paused" in paused
    assert cli.run("triggers", "p", "--pause", "tock", cwd=project.root).returncode == 2
    scheduler = start_scheduler(project, tmp_path / "s.log")
    time.sleep(2.5)
    assert history(project) == []
    cli.run("triggers", "p", "--resume", "tick", cwd=project.root, check=True)
    wait_for_runs(project, 1)
    stop(scheduler)
    assert len(wait_until_settled(project)) >= 1


def test_overlapping_runs_are_skipped_when_asked(project: ProjectFolder,
                                                 tmp_path: Path) -> None:
    interval_pipeline(project, block="import time\ntime.sleep(2.5)\nstamp = 1\n",
                      extra="on_overlap: skip\n")
    scheduler = start_scheduler(project, tmp_path / "s.log")
    time.sleep(5)
    stop(scheduler)
    runs = wait_until_settled(project)
    statuses = [r.status for r in runs]
    assert "skipped" in statuses and "success" in statuses
    assert all("previous run was still going" in r.error for r in runs
               if r.status == "skipped")


def test_new_files_and_upstream_successes_start_runs(project: ProjectFolder,
                                                     tmp_path: Path) -> None:
    incoming = project.root / "incoming"
    incoming.mkdir()
    (incoming / "old.csv").write_text("there before the trigger\n")
    project.pipeline("p", {"seen.py": "from pathlib import Path\nseen = Path(file).name\n"},
                     "triggers:\n  - name: arrivals\n    event: {url: incoming, pattern: "
                     "'*.csv'}\n")
    project.pipeline("after", {"noted.py": "noted = upstream_run\n"},
                     "triggers:\n  - name: when_p_succeeds\n    after: p\n")
    scheduler = start_scheduler(project, tmp_path / "s.log")
    try:
        time.sleep(1.5)  # the triggers are seen: files from now on count
        (incoming / "a.csv").write_text("1\n")
        (incoming / "skip.txt").write_text("not matched\n")
        time.sleep(1.2)
        (incoming / "b.csv").write_text("2\n")
        deadline = time.monotonic() + 30
        while len([r for r in all_runs(project) if r.status == "success"]) < 4:
            assert time.monotonic() < deadline, [(r.pipeline, r.status) for r in
                                                 all_runs(project)]
            time.sleep(0.2)
        time.sleep(1)  # nothing more may come
    finally:
        stop(scheduler)
    runs = all_runs(project)
    files = sorted(json.loads(r.variables)["file"].rsplit("/", 1)[-1]
                   for r in runs if r.pipeline == "p")
    assert files == ["a.csv", "b.csv"]
    upstream = {r.id for r in runs if r.pipeline == "p"}
    followers = [json.loads(r.variables)["upstream_run"] for r in runs
                 if r.pipeline == "after"]
    assert sorted(followers) == sorted(upstream)


def all_runs(project: ProjectFolder) -> list[Any]:
    store = MetadataStore(project.load().metadata_url)
    try:
        return store.list_runs(None, 1000)
    finally:
        store.close()
