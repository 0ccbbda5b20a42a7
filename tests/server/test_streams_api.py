"""The streams API against a live `cairn serve`, whose scheduler runs a real stream: Redis
Streams into JSON-lines files of the project."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import ProjectFolder, Server, stream_pids, wait_until

URL = "redis://127.0.0.1:6379/0"
DOUBLE = """
from cairn import block


@block
def doubled(messages):
    return [{"id": m["id"], "amount": m["amount"] * 2} for m in messages]
"""


def streaming_project(project: ProjectFolder, key: str) -> None:
    """Pipeline `events` reads Redis stream `key` into output/events/*.jsonl; `batchy` is
    an ordinary pipeline."""
    (project.root / "io_config.yaml").write_text(
        f"default:\n  broker:\n    kind: redis\n    url: {URL}\n")
    project.pipeline("events", {"doubled.py": DOUBLE}, f"""
        type: streaming
        source: {{kind: redis, connection: broker, topic: {key}}}
        batch: {{max_messages: 20, max_wait: 0.1}}
        sinks:
          - {{url: output/events, format: jsonl}}
        restart: {{delay: 0.5, max_delay: 2}}
        """)
    project.pipeline("batchy", {"one.py": "one = 1\n"})


def written(root: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((root / "output" / "events").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line]
    return rows




@pytest.fixture
def served(project: ProjectFolder,
           redis_stream: tuple[Any, str]) -> Iterator[tuple[Server, Any, str]]:
    client, key = redis_stream
    streaming_project(project, key)
    server = Server(project.root)
    try:
        yield server, client, key
    finally:
        if server.process.poll() is None:
            server.stop()
        for pid in stream_pids(project.root):
            os.kill(pid, signal.SIGKILL)


def test_list_start_and_stop(served: tuple[Server, Any, str], project: ProjectFolder) -> None:
    server, client, key = served
    http = server.http

    def events() -> dict[str, Any]:
        answer: dict[str, Any] = http.get("/api/streams/events").json()
        return answer

    # The server's scheduler starts the deployed stream; only streaming pipelines are listed.
    wait_until(lambda: events()["status"] == "running", "the stream to run")
    listed = http.get("/api/streams").json()
    assert [s["pipeline"] for s in listed] == ["events"]
    assert listed[0]["source"] == f"redis {key}" and listed[0]["desired"] == "running"
    for number in range(1, 31):
        client.xadd(key, {"value": json.dumps({"id": number, "amount": number})})
    wait_until(lambda: events()["messages_out"] == 30, "30 messages out")
    assert sorted(r["id"] for r in written(project.root)) == list(range(1, 31))
    assert sum(r["amount"] for r in written(project.root)) == 2 * sum(range(31))
    running = events()
    assert running["messages_in"] == 30 and running["dead_letters"] == 0
    assert running["heartbeat_at"].endswith("Z") and running["run_id"]
    assert stream_pids(project.root) == [running["pid"]]

    # Stop: answered once the process is gone and its consumer left the group.
    stopped = http.post("/api/streams/events/stop")
    assert stopped.status_code == 200
    assert (stopped.json()["status"], stopped.json()["desired"]) == ("stopped", "stopped")
    assert stream_pids(project.root) == []
    assert [group["consumers"] for group in client.xinfo_groups(key)] == [0]
    run = http.get(f"/api/runs/{running['run_id']}").json()
    assert run["status"] == "success"  # a clean stop ends the process's run well

    # Start: the scheduler starts a new process, which goes on from where the last stopped.
    started = http.post("/api/streams/events/start").json()
    assert started["desired"] == "running"
    wait_until(lambda: events()["status"] == "running" and events()["pid"] != running["pid"],
               "a new process")
    for number in range(31, 41):
        client.xadd(key, {"value": json.dumps({"id": number, "amount": number})})
    wait_until(lambda: events()["messages_in"] == 10, "10 more messages")  # per process
    wait_until(lambda: len(written(project.root)) == 40, "40 rows written")
    assert sorted(r["id"] for r in written(project.root)) == list(range(1, 41))

    # Stopping the server stops the stream, which stays wanted.
    server.stop()
    assert stream_pids(project.root) == []


def test_not_a_stream(served: tuple[Server, Any, str]) -> None:
    http = served[0].http
    for method, path in (("GET", "/api/streams/batchy"), ("POST", "/api/streams/batchy/start"),
                         ("POST", "/api/streams/batchy/stop")):
        answer = http.request(method, path)
        assert answer.status_code == 404, (method, path)
        assert answer.json()["problems"][0]["kind"] == "not-streaming"
    missing = http.get("/api/streams/nope")
    assert missing.status_code == 404
    assert missing.json()["problems"][0]["kind"] == "unknown-pipeline"
