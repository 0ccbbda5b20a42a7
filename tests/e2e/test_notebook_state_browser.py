"""The notebook shows the pipeline's real state, in a real headless Chromium (Debian's):
runs recorded outside the page on the cards, "Run pipeline" progress on the cards and the
graph, cards in DAG order and reordering, and the page of a pipeline that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from support import CLI, ProjectFolder, Server

CARDS = '[data-testid^="block-card-"]'


def blocks(flag: Path) -> dict[str, str]:
    """File order a_wait, b_fail, z_load; DAG order z_load, a_wait, b_fail. a_wait waits
    for `flag`, so a test sees it running; b_fail always fails."""
    return {
        "z_load.py": "z_load = [1, 2, 3]\n",
        "a_wait.py": f"""
            import pathlib
            import time

            deadline = time.monotonic() + 120
            while not pathlib.Path({str(flag)!r}).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            a_wait = len(z_load)
            """,
        "b_fail.py": "b_fail = a_wait + missing_name\n",
    }


@pytest.fixture
def flag(tmp_path: Path) -> Path:
    return tmp_path / "go.flag"


@pytest.fixture
def server(project: ProjectFolder, flag: Path) -> Iterator[Server]:
    project.pipeline("p", blocks(flag))
    running = Server(project.root)
    yield running
    flag.touch()  # a run still waiting ends
    running.stop()


def card_order(page: Page) -> list[str]:
    ids = page.locator(CARDS).evaluate_all("cards => cards.map(c => c.dataset.testid)")
    return [i.removeprefix("block-card-") for i in ids]


def test_cards_in_dag_order_and_reordering_writes_blocks(server: Server, page: Page,
                                                          project: ProjectFolder) -> None:
    get = page.get_by_test_id
    page.goto(f"{server.base}/#/p/p")
    expect(get("block-card-b_fail")).to_be_visible(timeout=30_000)
    assert card_order(page) == ["z_load", "a_wait", "b_fail"]
    expect(get("move-up-z_load")).to_be_disabled()
    expect(get("move-down-b_fail")).to_be_disabled()

    with page.expect_response(lambda r: r.url.endswith("/api/pipelines/p/order")) as saved:
        get("move-up-b_fail").click()
    assert saved.value.ok
    expect(page.locator(CARDS).nth(1)).to_have_attribute("data-testid", "block-card-b_fail")
    settings = project.root / "pipelines/p/pipeline.yaml"
    assert settings.read_text() == "blocks:\n  - z_load\n  - b_fail\n  - a_wait\n"

    page.reload()  # the order is the file's now
    expect(get("block-card-b_fail")).to_be_visible(timeout=30_000)
    assert card_order(page) == ["z_load", "b_fail", "a_wait"]


def test_a_failure_in_a_cairn_run_shows_on_its_card(server: Server, page: Page, flag: Path,
                                                   cli: type[CLI],
                                                   project: ProjectFolder) -> None:
    flag.touch()
    result = cli.run("run", "p", "--project", str(project.root), cwd=project.root)
    assert result.returncode != 0
    run_id = server.http.get("/api/runs", params={"pipeline": "p"}).json()[0]["id"]

    get = page.get_by_test_id
    page.goto(f"{server.base}/#/p/p")
    expect(get("status-b_fail")).to_have_text("failed", timeout=30_000)
    expect(get("block-card-b_fail")).to_have_class(re.compile(r"\bstatus-failed\b"))
    expect(get("error-b_fail")).to_contain_text("missing_name")
    expect(get("fix-b_fail")).to_be_enabled()
    expect(get("origin-b_fail")).to_contain_text(run_id)
    expect(get("origin-b_fail")).to_contain_text("manual")
    expect(get("status-a_wait")).to_have_text("success")
    expect(get("outputs-a_wait")).to_contain_text("3")
    expect(get("graph-node-b_fail")).to_have_class(re.compile(r"\bstatus-failed\b"))

    # Run in the notebook: newer, so the notebook's result shows.
    get("run-z_load").click()
    expect(get("origin-z_load")).to_have_attribute("data-origin", "notebook", timeout=30_000)
    expect(get("origin-z_load")).to_contain_text("this session")


def test_run_pipeline_shows_progress_on_cards_and_graph(server: Server, page: Page,
                                                        flag: Path) -> None:
    get = page.get_by_test_id
    page.goto(f"{server.base}/#/p/p")
    expect(get("block-card-a_wait")).to_be_visible(timeout=30_000)
    get("run-pipeline").click()

    # a_wait waits for the flag: it is seen running, and b_fail waiting behind it.
    expect(get("status-a_wait")).to_have_text("running", timeout=60_000)
    expect(get("graph-node-a_wait")).to_have_class(re.compile(r"\bstatus-running\b"))
    expect(get("status-b_fail")).to_have_text("queued")
    expect(get("status-z_load")).to_have_text("success")
    expect(get("origin-a_wait")).to_have_attribute("data-origin", "run")

    flag.touch()
    expect(get("pipeline-run-state")).to_have_text("failed", timeout=60_000)
    expect(get("status-a_wait")).to_have_text("success", timeout=10_000)
    expect(get("outputs-a_wait")).to_contain_text("3")
    expect(get("status-b_fail")).to_have_text("failed")
    expect(get("graph-node-b_fail")).to_have_class(re.compile(r"\bstatus-failed\b"))
    expect(get("fix-b_fail")).to_be_enabled()


def test_a_missing_pipeline_page_offers_to_create_it(server: Server, page: Page,
                                                     project: ProjectFolder) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.clock.install()  # timers run only when the test says: a retry would show
    get = page.get_by_test_id
    page.goto(f"{server.base}/#/p/nope")
    expect(get("missing-pipeline")).to_contain_text("nope", timeout=30_000)
    expect(get("existing-pipelines")).to_contain_text("p")
    page.clock.run_for(60_000)  # a minute of the page's timers: reconnects would be made
    assert len(sockets) <= 1, sockets

    get("create-pipeline").click()
    expect(get("missing-pipeline")).to_have_count(0, timeout=30_000)
    expect(page.get_by_text("No blocks yet")).to_be_visible(timeout=30_000)
    assert (project.root / "pipelines/nope/pipeline.yaml").is_file()
