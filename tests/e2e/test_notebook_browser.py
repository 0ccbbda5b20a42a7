"""The notebook in a real headless Chromium (Debian's), driven by Playwright.

The notebook page of the example project is saved as test-artifacts/notebook.png.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from support import ARTIFACTS, CLI, Server

pytestmark = pytest.mark.skipif(shutil.which("Rscript") is None,
                                reason="the example project has an R block and R is not "
                                "installed (the test command installs it as root)")


@pytest.fixture
def shop(tmp_path: Path, cli: type[CLI]) -> Iterator[Server]:
    cli.run("init", "shop", cwd=tmp_path, check=True)
    server = Server(tmp_path / "shop")
    yield server
    server.stop()




def replace_code(page: Page, block: str, code: str) -> None:
    """Type new code into a block's editor, as a user would."""
    content = page.get_by_test_id(f"editor-{block}").locator(".cm-content")
    content.scroll_into_view_if_needed()
    content.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(code)


def test_edit_run_and_inspect_in_the_browser(shop: Server, page: Page) -> None:
    p = page
    p.goto(f"{shop.base}/#/p/example")
    get = p.get_by_test_id
    expect(get("block-card-clean_orders")).to_be_visible(timeout=30_000)
    expect(get("graph-edge-load_orders-clean_orders")).to_be_attached(timeout=30_000)

    # Edit a block, save it, run it: its upstream runs first and the table shows.
    replace_code(p, "clean_orders", "clean_orders = load_orders[load_orders['amount'] > 50]\n"
                                    "print('big orders:', len(clean_orders))\n")
    get("save-clean_orders").click()
    get("run-clean_orders").click()
    expect(get("output-table-clean_orders")).to_be_visible(timeout=60_000)
    expect(get("output-rows-clean_orders")).to_contain_text("rows", timeout=10_000)
    expect(get("log-clean_orders")).to_contain_text("big orders:")
    saved = (shop.root / "pipelines/example/clean_orders.py").read_text()
    assert "> 50" in saved

    # A new reference draws a new edge before anything is saved.
    replace_code(p, "report", "from cairn import block\n\n@block\n"
                              "def report(revenue_by_region, top_customers):\n"
                              "    return len(top_customers)\n")
    expect(get("graph-edge-top_customers-report")).to_be_attached(timeout=10_000)

    # An error shows with its line.
    replace_code(p, "clean_orders", "x = len(load_orders)\nclean_orders = missing_name\n")
    get("save-clean_orders").click()
    get("run-clean_orders").click()
    expect(get("error-clean_orders")).to_contain_text("NameError", timeout=30_000)
    expect(get("error-line-clean_orders")).to_contain_text("2")

    ARTIFACTS.mkdir(exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / "notebook.png"))

    # Fix it, then run the whole pipeline for real and find it in the history.
    replace_code(p, "clean_orders", "clean_orders = load_orders[load_orders['amount'] > 0]\n")
    get("save-clean_orders").click()
    replace_code(p, "report", "from cairn import block\n\n@block\n"
                              "def report(revenue_by_region):\n"
                              "    return len(revenue_by_region)\n")
    get("save-report").click()
    get("run-pipeline").click()
    expect(get("pipeline-run-status")).to_contain_text("success", timeout=120_000)
    p.goto(f"{shop.base}/#/runs")
    expect(get("runs-table")).to_contain_text("success", timeout=10_000)

