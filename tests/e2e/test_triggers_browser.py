"""The notebook's Triggers and Recent runs panels in a real headless Chromium (Debian's),
driven by Playwright, against `cairn serve` with its scheduler firing a 1 s interval trigger.

The page is saved as test-artifacts/triggers.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from support import ARTIFACTS, ProjectFolder, Server

RECENT_RUN_ROWS = '[data-testid^="recent-run-"]'

# Resolves with the number of DOM changes under the block's editor and under the recent
# runs during `ms` milliseconds.
WATCH_MUTATIONS = """
async (ms) => {
  const count = (selector) => {
    const seen = {n: 0};
    const watcher = new MutationObserver((records) => { seen.n += records.length; });
    watcher.observe(document.querySelector(selector),
                    {subtree: true, childList: true, characterData: true, attributes: true});
    return [watcher, seen];
  };
  const [blocksWatcher, blocks] = count('[data-testid="editor-stamp"]');
  const [runsWatcher, runs] = count('[data-testid="recent-runs"]');
  await new Promise((resolve) => setTimeout(resolve, ms));
  blocksWatcher.disconnect();
  runsWatcher.disconnect();
  return {blocks: blocks.n, runs: runs.n};
}
"""


@pytest.fixture
def ticking(project: ProjectFolder) -> Iterator[Server]:
    """`cairn serve` of a project whose pipeline `ticker` fires every second."""
    project.pipeline("ticker", {"stamp.py": "import time\nstamp = time.time()\n"},
                     "triggers:\n  - name: tick\n    interval: 1s\n")
    server = Server(project.root)
    try:
        yield server
    finally:
        try:  # no new runs, and let the started ones end before the folder goes
            server.http.put("/api/pipelines/ticker/triggers/tick", json={"paused": True})
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(
                    r["status"] in ("starting", "running") for r in runs(server)):
                time.sleep(0.2)
        finally:
            server.stop()




def runs(server: Server) -> list[dict[str, Any]]:
    response = server.http.get("/api/runs", params={"pipeline": "ticker", "limit": 100})
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found


def trigger(server: Server) -> dict[str, Any]:
    response = server.http.get("/api/pipelines/ticker/triggers")
    response.raise_for_status()
    found: dict[str, Any] = next(t for t in response.json() if t["name"] == "tick")
    return found


def test_triggers_and_recent_runs_in_the_browser(ticking: Server, page: Page) -> None:
    p = page
    get = p.get_by_test_id
    p.goto(f"{ticking.base}/#/p/ticker")

    # The trigger, what it waits for, and when it fires next (UTC and relative).
    expect(get("trigger-row-tick")).to_be_visible(timeout=30_000)
    expect(get("trigger-row-tick")).to_contain_text("schedule")
    expect(get("trigger-row-tick")).to_contain_text("every 1 s")
    expect(get("trigger-row-tick")).to_contain_text("catch-up: latest")
    expect(get("trigger-state-tick")).to_have_text("active")
    expect(get("trigger-next-tick")).to_contain_text(
        re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))
    expect(get("trigger-next-tick")).to_contain_text(re.compile(r"in \d+ s|due now"))
    assert get("trigger-next-tick").get_attribute("data-next-fire")

    # The scheduler in `cairn serve` fires it: runs show up within a few seconds, each
    # linking to its page in the history, and they succeed.
    expect(p.locator(RECENT_RUN_ROWS).first).to_be_visible(timeout=15_000)
    expect(get("recent-runs").locator(".status-success").first).to_be_visible(timeout=30_000)
    shown = p.locator(RECENT_RUN_ROWS).first.get_attribute("data-testid")
    assert shown is not None
    run_id = shown.removeprefix("recent-run-")
    assert run_id in {r["id"] for r in runs(ticking)}
    link = get(f"recent-run-{run_id}").get_by_role("link")
    assert link.get_attribute("href") == f"#/runs/{run_id}"
    assert p.locator(RECENT_RUN_ROWS).count() <= 10

    ARTIFACTS.mkdir(exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / "triggers.png"))

    # The block's card shows its latest scheduled run; refreshes never touch its editor.
    expect(get("origin-stamp")).to_have_attribute("data-origin", "run", timeout=10_000)
    expect(get("origin-stamp")).to_contain_text("tick")
    changed = p.evaluate(WATCH_MUTATIONS, 4500)
    assert changed["runs"] > 0, "the recent runs did not refresh"
    assert changed["blocks"] == 0, "a refresh changed the block's editor"

    # Pause: the page and the API say paused, and no new runs are made.
    get("trigger-toggle-tick").click()
    expect(get("trigger-state-tick")).to_have_text("paused", timeout=5_000)
    expect(get("trigger-toggle-tick")).to_have_text("Resume")
    assert trigger(ticking)["paused"] is True
    time.sleep(1.5)  # a tick that began before the pause may still make one run
    made = len(runs(ticking))
    time.sleep(3)
    assert len(runs(ticking)) == made, "a paused trigger made a run"
    expect(get("trigger-state-tick")).to_have_text("paused")  # the 5 s refresh agrees

    # Resume: active again, and runs come again.
    get("trigger-toggle-tick").click()
    expect(get("trigger-state-tick")).to_have_text("active", timeout=5_000)
    expect(get("trigger-toggle-tick")).to_have_text("Pause")
    assert trigger(ticking)["paused"] is False
    deadline = time.monotonic() + 15
    while len(runs(ticking)) == made:
        assert time.monotonic() < deadline, "no run after the trigger was resumed"
        time.sleep(0.2)
    newest = runs(ticking)[0]["id"]
    expect(get(f"recent-run-{newest}")).to_be_visible(timeout=5_000)
