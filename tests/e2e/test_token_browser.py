"""The UI with a server token, in a real headless Chromium: the page takes the token from its
URL once, then sends it in a header on every call and in the URL of the WebSocket only, and
the server's host and origin checks let its own page through under either loopback name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from support import ProjectFolder, Server

TOKEN = "browser-token"


@pytest.fixture
def server(project: ProjectFolder) -> Iterator[Server]:
    project.pipeline("p", {"numbers.py": "numbers = list(range(10))\nprint('ten numbers')\n"})
    running = Server(project.root, TOKEN)
    yield running
    running.stop()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_ui_runs_a_block_with_a_token(server: Server, page: Page, host: str) -> None:
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url))
    page.goto(f"http://{host}:{server.port}/?token={TOKEN}#/p/p")
    expect(page.get_by_test_id("block-card-numbers")).to_be_visible(timeout=30_000)
    page.get_by_test_id("run-numbers").click()  # a POST, then events on the WebSocket
    expect(page.get_by_test_id("log-numbers")).to_contain_text("ten numbers", timeout=60_000)
    api_calls = [url for url in sent if "/api/" in url]
    assert api_calls and not any("token=" in url for url in api_calls)
