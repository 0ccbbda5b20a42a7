"""Managed streams: a real `cairn scheduler` starts, restarts and stops a real `cairn stream`
process (Redis Streams into PostgreSQL), steered with `cairn streams`."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import count, event, ids, stream_project
from support import CLI, ProjectFolder, stream_pids, wait_until

from cairn.project.streaming import RestartSettings
from cairn.service import open_metadata
from cairn.store.metadata import MetadataStore, utcnow
from cairn.store.stream_state import StreamStates
from cairn.stream.manage import StreamView, get_stream
from cairn.stream.supervisor import backoff

URL = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(("restarts", "ran", "expected"), [
    (0, 1.0, (1, 0.5)),  # the first crash waits `delay`
    (1, 1.0, (2, 1.0)),  # each crash in a row doubles it
    (2, 1.0, (3, 2.0)),
    (3, 1.0, (4, 3.0)),  # up to `max_delay`
    (500, 1.0, (501, 3.0)),  # however many
    (7, 61.0, (1, 0.5)),  # a process that ran `reset_after` starts the count again
])
def test_backoff(restarts: int, ran: float, expected: tuple[int, float]) -> None:
    settings = RestartSettings(delay=0.5, max_delay=3, reset_after=60)
    assert backoff(settings, restarts, ran) == expected


@pytest.mark.parametrize(("status", "silent_for", "desired", "shown"), [
    ("running", 1, "running", "running"),
    ("running", 60, "running", "stale"),  # hung, or gone without a word
    ("starting", 60, "running", "stale"),  # never reported
    ("running", 1, "stopped", "stopping"),
    ("restarting", 60, "running", "restarting"),
    ("failed", 60, "stopped", "failed"),
])
def test_shown_status(project: ProjectFolder, status: str, silent_for: float, desired: str,
                      shown: str) -> None:
    stream_project(project, "unused", f"kind: redis\nurl: {URL}",
                   "kind: redis\nconnection: broker\ntopic: t")
    metadata = MetadataStore(project.load().metadata_url)
    try:
        states = StreamStates(metadata)
        states.report("events", status=status, host="elsewhere", pid=1,
                      heartbeat_at=utcnow() - timedelta(seconds=silent_for))
        states.desire("events", desired)
    finally:
        metadata.close()
    assert view(project).status == shown




class SchedulerProcess:
    """`cairn scheduler` in a subprocess, its log beside the project."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log_path = root.parent / f"scheduler-{secrets.token_hex(3)}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cairn", "scheduler", "--tick", "0.2", "--project",
                 str(root)], stdout=log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture
def schedulers(project: ProjectFolder) -> Iterator[list[SchedulerProcess]]:
    """Schedulers a test starts (append to the list); they and any stream process of the
    project are gone after it."""
    started: list[SchedulerProcess] = []
    yield started
    for scheduler in started:
        if scheduler.process.poll() is None:
            scheduler.stop()
    for pid in stream_pids(project.root):
        os.kill(pid, signal.SIGKILL)


def view(project: ProjectFolder) -> StreamView:
    return get_stream(project.load(), "events")


def publish(client: Any, key: str, numbers: range) -> None:
    for number in numbers:
        client.xadd(key, {"value": event(number)})


def test_started_restarted_after_a_kill_stopped_and_started_again(
        project: ProjectFolder, pg_schema: str, redis_stream: tuple[Any, str], cli: type[CLI],
        schedulers: list[SchedulerProcess]) -> None:
    client, key = redis_stream
    stream_project(project, pg_schema, f"kind: redis\nurl: {URL}",
                   f"kind: redis\nconnection: broker\ntopic: {key}", "upsert")
    publish(client, key, range(1, 101))
    schedulers.append(scheduler := SchedulerProcess(project.root))

    # A deployed stream runs: the scheduler starts it without being asked.
    wait_until(lambda: count(pg_schema) == 100, what="100 rows from the started stream")
    wait_until(lambda: view(project).messages_in == 100, what="100 messages reported")
    first = view(project)
    assert (first.status, first.desired, first.restarts) == ("running", "running", 0)
    assert first.pid is not None and stream_pids(project.root) == [first.pid]

    # Killed: started again after the backoff, the kill shown as the error.
    os.kill(first.pid, signal.SIGKILL)
    wait_until(lambda: view(project).pid not in (None, first.pid)
               and view(project).status == "running", what="a new process")
    again = view(project)
    assert again.restarts == 1
    assert again.last_error is not None
    assert again.last_error.startswith("killed by signal 9 (SIGKILL)")
    assert stream_pids(project.root) == [again.pid]
    metadata = open_metadata(project.load())
    try:
        crashed = metadata.find_run(str(first.run_id))
    finally:
        metadata.close()
    assert crashed.status == "failed" and "SIGKILL" in crashed.error
    publish(client, key, range(101, 201))
    wait_until(lambda: count(pg_schema) == 200, what="200 rows")
    assert ids(pg_schema) == list(range(1, 201))
    listed = cli.run("streams", cwd=project.root, check=True).stdout
    assert "running" in listed and "killed by signal 9 (SIGKILL)" in listed

    # Stopped with the CLI: no process left, no consumer left, and it stays stopped.
    stopped = cli.run("streams", "stop", "events", cwd=project.root, check=True)
    assert "stream events stopped" in stopped.stdout
    assert stream_pids(project.root) == []
    after = view(project)
    assert (after.status, after.desired, after.pid) == ("stopped", "stopped", None)
    assert [group["consumers"] for group in client.xinfo_groups(key)] == [0]

    # Started again with the CLI: the scheduler starts it, and it goes on where it was.
    started = cli.run("streams", "start", "events", cwd=project.root, check=True)
    assert "stream events running" in started.stdout, started.stdout
    publish(client, key, range(201, 251))
    wait_until(lambda: count(pg_schema) == 250, what="250 rows")
    assert ids(pg_schema) == list(range(1, 251))
    assert view(project).restarts == 0  # asking to run clears the count of crashes

    # The scheduler stops its streams when it stops, but they are still to run.
    assert scheduler.stop() == 0, scheduler.output()
    assert stream_pids(project.root) == []
    ended = view(project)
    assert (ended.status, ended.desired) == ("stopped", "running")


def test_a_new_scheduler_adopts_the_running_process(
        project: ProjectFolder, pg_schema: str, redis_stream: tuple[Any, str],
        schedulers: list[SchedulerProcess]) -> None:
    client, key = redis_stream
    stream_project(project, pg_schema, f"kind: redis\nurl: {URL}",
                   f"kind: redis\nconnection: broker\ntopic: {key}", "upsert")
    schedulers.append(first := SchedulerProcess(project.root))
    wait_until(lambda: view(project).status == "running", what="status running")
    pid = view(project).pid
    first.process.kill()  # the stream process lives on (a session of its own)
    first.process.wait()

    schedulers.append(second := SchedulerProcess(project.root))
    wait_until(lambda: f"watching its running process {pid}" in second.output(),
               what="the adoption")
    assert stream_pids(project.root) == [pid]
    publish(client, key, range(1, 51))
    wait_until(lambda: count(pg_schema) == 50, what="50 rows")
    assert second.stop() == 0
    assert stream_pids(project.root) == []


def test_a_failing_stream_backs_off_with_its_error_shown(
        project: ProjectFolder, pg_schema: str, cli: type[CLI],
        schedulers: list[SchedulerProcess]) -> None:
    # Nothing listens on port 1: the process fails as it opens its source.
    stream_project(project, pg_schema, "kind: redis\nurl: redis://127.0.0.1:1/0",
                   "kind: redis\nconnection: broker\ntopic: nowhere")
    schedulers.append(SchedulerProcess(project.root))
    wait_until(lambda: view(project).status == "restarting" and view(project).restarts >= 3,
               timeout=60, what="three restarts")
    failing = view(project)
    assert failing.last_error is not None and "127.0.0.1:1" in failing.last_error
    assert failing.next_start_at is not None and failing.last_error_at is not None
    waited = (failing.next_start_at - failing.last_error_at).total_seconds()
    assert waited == min(0.5 * 2 ** (failing.restarts - 1), 2)  # restart: of the harness
    listed = cli.run("streams", cwd=project.root, check=True).stdout
    assert "events: last error" in listed and "127.0.0.1:1" in listed
    # The scheduler's terminal tells each state change, one line each.
    said = schedulers[0].output()
    assert re.search(r"scheduler: stream events starting: started process \d+", said), said
    assert re.search(r"scheduler: stream events restarting: .*starting again in [\d.]+ s",
                     said), said

    stopped = cli.run("streams", "stop", "events", cwd=project.root, check=True)
    assert "stopped" in stopped.stdout or "failed" in stopped.stdout
    assert stream_pids(project.root) == []
    assert view(project).desired == "stopped"
