"""The dashboards in a real headless Chromium (Debian's), driven by Playwright, against
`cairn serve` of a project whose pipeline ran three times, once failing: the health table,
the trend charts, and a run's Gantt timeline and log search.

The pages are saved as test-artifacts/dashboard.png, trends.png and run-timeline.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from support import ARTIFACTS, CLI, ProjectFolder, Server

BLOCKS = {
    "orders.py": "import time\norders = [10, 20, 30]\ntime.sleep(0.3)\n"
                 "print('loaded', len(orders), 'orders')\n",
    "total.py": "import os\ntotal = sum(orders)\nprint('total', total)\n"
                "if os.environ.get('FAIL_TOTAL'):\n    raise RuntimeError('the total is off')\n",
    "report.py": "report = f'total: {total}'\nprint(report)\n",
}


@pytest.fixture
def shop(project: ProjectFolder, cli: type[CLI],
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Server, list[str]]]:
    """The server, and the ids of the runs of `sales`: success, failure, success."""
    project.pipeline("sales", BLOCKS, "triggers:\n  - name: nightly\n    schedule: '0 2 * * *'\n")
    cli.run("run", "sales", "--quiet", cwd=project.root, check=True)
    with monkeypatch.context() as patched:
        patched.setenv("FAIL_TOTAL", "1")
        assert cli.run("run", "sales", "--quiet", cwd=project.root).returncode != 0
    cli.run("run", "sales", "--quiet", cwd=project.root, check=True)
    server = Server(project.root)
    try:
        listed = server.http.get("/api/runs", params={"pipeline": "sales"}).json()
        yield server, [r["id"] for r in listed[::-1]]
    finally:
        server.stop()


def test_dashboard_trends_and_run_timeline(shop: tuple[Server, list[str]], page: Page) -> None:
    server, ids = shop
    failed, last = ids[1], ids[2]
    p = page
    get = p.get_by_test_id
    ARTIFACTS.mkdir(exist_ok=True)

    # Every pipeline's health: 2 of 3 runs succeeded; when the schedule fires next.
    p.goto(f"{server.base}/#/")
    expect(get("pipeline-success-sales")).to_have_text("67%", timeout=30_000)
    expect(get("pipeline-runs-sales")).to_have_text("3")
    expect(get("pipeline-status-sales")).to_contain_text("success")
    expect(get("pipeline-p50-sales")).not_to_be_empty()
    expect(get("pipeline-next-sales")).to_contain_text("02:00:00 UTC")
    get("stats-window").select_option("30")
    expect(p).to_have_url(f"{server.base}/#/?days=30")
    expect(get("pipeline-success-sales")).to_have_text("67%")
    p.screenshot(path=str(ARTIFACTS / "dashboard.png"))

    # The pipeline's trends: a bar per run, and today's runs with the failed one in red.
    get("pipeline-trends-sales").click()
    bars = get("duration-chart").get_by_test_id("duration-bar")
    expect(bars).to_have_count(3, timeout=30_000)
    assert [bars.nth(i).get_attribute("data-run") for i in range(3)] == ids
    assert float(bars.nth(0).get_attribute("height") or 0) > 1
    days = get("failures-chart").get_by_test_id("day-bar")
    expect(days).to_have_count(30)
    today = days.last
    assert (today.get_attribute("data-runs"), today.get_attribute("data-failures")) == ("3", "1")
    expect(today.locator("rect.status-failed")).to_have_count(1)
    expect(today.locator("rect.status-success")).to_have_count(1)
    expect(get("tile-success")).to_have_text("67%")
    expect(get("block-stats-total")).to_contain_text("3")
    p.screenshot(path=str(ARTIFACTS / "trends.png"), full_page=True)

    # The failed run, from its bar: a Gantt bar per block that ran, the third did not.
    bars.nth(1).click()
    expect(p).to_have_url(f"{server.base}/#/runs/{failed}")
    expect(get("run-detail-status")).to_have_text("failed", timeout=30_000)
    expect(get("gantt").get_by_test_id("gantt-bar")).to_have_count(2)
    expect(get("gantt")).to_contain_text("upstream failed")

    # The last run: one bar per block, in order; the log search finds a printed line.
    p.goto(f"{server.base}/#/runs/{last}")
    gantt_bars = get("gantt").get_by_test_id("gantt-bar")
    expect(gantt_bars).to_have_count(3, timeout=30_000)
    assert [gantt_bars.nth(i).get_attribute("data-block") for i in range(3)] == [
        "orders", "total", "report"]
    expect(get("log-line")).to_have_count(3)  # every line of every block
    get("log-search").fill("LOADED")
    expect(get("log-line")).to_have_count(1)
    expect(get("log-line")).to_contain_text("loaded 3 orders")
    expect(get("log-line").locator("mark")).to_have_text("loaded")
    expect(get("log-count")).to_have_text("1 matching line")
    get("run-logs-report").click()
    get("log-search").fill("")
    expect(get("log-line")).to_have_count(1)
    expect(get("log-line")).to_contain_text("total: 60")
    p.screenshot(path=str(ARTIFACTS / "run-timeline.png"), full_page=True)
