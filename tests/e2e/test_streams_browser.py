"""The Streams page in a real headless Chromium (Debian's), driven by Playwright, against
`cairn serve` whose scheduler runs two streams from Redis: `events`, which works, and
`broken`, whose Redis is not there. Figures as events arrive, a kill shown as an error that
stays in view, a failing stream in red with its error, and the Stop and Start buttons.

The page is saved as test-artifacts/streams.png and streams-error.png.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from support import ARTIFACTS, ProjectFolder, Server, stream_pids

URL = "redis://127.0.0.1:6379/0"
DOUBLE = """
from cairn import block


@block
def doubled(messages):
    return [{"id": m["id"], "amount": m["amount"] * 2} for m in messages]
"""
SETTINGS = """
type: streaming
source: {{kind: redis, connection: {connection}, topic: {key}}}
batch: {{max_messages: 20, max_wait: 0.1}}
sinks:
  - {{url: output/{name}, format: jsonl}}
restart: {{delay: {delay}, max_delay: {delay}}}
"""


@pytest.fixture
def streams(project: ProjectFolder,
            redis_stream: tuple[Any, str]) -> Iterator[tuple[Server, Any, str]]:
    client, key = redis_stream
    (project.root / "io_config.yaml").write_text(
        f"default:\n  broker:\n    kind: redis\n    url: {URL}\n"
        "  nowhere:\n    kind: redis\n    url: redis://127.0.0.1:1/0\n")  # nothing listens
    project.pipeline("events", {"doubled.py": DOUBLE}, SETTINGS.format(
        connection="broker", key=key, name="events", delay=0.5))
    project.pipeline("broken", {"doubled.py": DOUBLE}, SETTINGS.format(
        connection="nowhere", key=key, name="broken", delay=5))
    server = Server(project.root)
    try:
        yield server, client, key
    finally:
        server.stop()
        for pid in stream_pids(project.root):
            os.kill(pid, signal.SIGKILL)


def test_streams_page(streams: tuple[Server, Any, str], project: ProjectFolder,
                      page: Page) -> None:
    server, client, key = streams
    p = page
    get = p.get_by_test_id
    ARTIFACTS.mkdir(exist_ok=True)

    # The working stream, in green, counting the events as they come.
    p.goto(f"{server.base}/#/streams")
    expect(get("stream-status-events")).to_have_text("running", timeout=30_000)
    expect(get("stream-status-events")).to_have_class(re.compile(r"\bstream-running\b"))
    for number in range(1, 26):
        client.xadd(key, {"value": json.dumps({"id": number, "amount": number})})
    expect(get("stream-in-events")).to_have_text("25", timeout=30_000)
    expect(get("stream-out-events")).to_have_text("25")
    expect(get("stream-dead-events")).to_have_text("0")
    expect(get("stream-restarts-events")).to_have_text("0")
    expect(get("stream-error-events")).to_have_count(0)

    # The stream that cannot reach its Redis: red, with the error the process reported.
    expect(get("stream-status-broken")).to_have_class(re.compile(r"\bstream-restarting\b"),
                                                      timeout=30_000)
    expect(get("stream-error-broken")).to_contain_text("127.0.0.1:1")
    p.screenshot(path=str(ARTIFACTS / "streams.png"), full_page=True)

    # Killed: restarted, and the kill stays in view under the stream.
    pid = server.http.get("/api/streams/events").json()["pid"]
    os.kill(pid, signal.SIGKILL)
    expect(get("stream-error-events")).to_contain_text("killed by signal 9 (SIGKILL)",
                                                       timeout=30_000)
    expect(get("stream-restarts-events")).to_have_text("1")
    expect(get("stream-status-events")).to_have_text("running", timeout=30_000)
    expect(get("stream-error-events")).to_contain_text("last error")
    expect(get("stream-crashes-events")).to_have_text("after 1 crash in a row")
    p.screenshot(path=str(ARTIFACTS / "streams-error.png"), full_page=True)

    # The process's run, with its logs, in the run history.
    run_id = server.http.get("/api/streams/events").json()["run_id"]
    get("stream-run-events").click()
    expect(p).to_have_url(re.compile(rf"#/runs/{run_id}$"))
    expect(get(f"run-row-{run_id}")).to_contain_text("running", timeout=30_000)

    # Stop and Start.
    get("nav-streams").click()
    get("stream-stop-events").click()
    expect(get("stream-status-events")).to_have_text("stopped", timeout=30_000)
    assert server.http.get("/api/streams/events").json()["pid"] is None
    expect(get("stream-start-events")).to_be_enabled()
    get("stream-start-events").click()
    expect(get("stream-status-events")).to_have_text("running", timeout=30_000)
    client.xadd(key, {"value": json.dumps({"id": 26, "amount": 26})})
    expect(get("stream-in-events")).to_have_text("1", timeout=30_000)  # the new process's
