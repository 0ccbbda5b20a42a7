"""Renaming a block in the browser: the reader it breaks is marked, and Rename offers to
rewrite it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from support import Server


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "shop"
    folder = root / "pipelines" / "p"
    folder.mkdir(parents=True)
    (root / "cairn.yaml").write_text("name: shop\n")
    (folder / "orders.sql").write_text("SELECT 1 AS n\n")
    (folder / "report.py").write_text("total = len(orders)\n")
    server = Server(root)
    yield server
    server.stop()


def rename(page: Page, old: str, new: str) -> None:
    page.get_by_test_id(f"rename-{old}").click()
    page.get_by_test_id(f"rename-input-{old}").fill(new)
    page.get_by_test_id(f"rename-submit-{old}").click()


def test_rename_marks_the_broken_reader_and_updates_it(shop: Server, page: Page) -> None:
    get = page.get_by_test_id
    page.goto(f"{shop.base}/#/p/p")
    expect(get("graph-edge-orders-report")).to_be_attached(timeout=30_000)
    expect(get("warnings-report")).to_have_count(0)

    # Rename only: the reader now reads a name no block defines, on its card and the DAG.
    rename(page, "orders", "orders_v2")
    expect(get("reader-orders-report")).to_contain_text("pipelines/p/report.py")
    get("rename-only-orders").click()
    expect(get("block-card-orders_v2")).to_be_visible(timeout=10_000)
    warning = get("warning-report-orders")
    expect(warning).to_contain_text("pipelines/p/report.py:1", timeout=10_000)
    expect(warning).to_contain_text("did you mean orders_v2?")
    expect(get("graph-node-report")).to_have_class(re.compile(r"\bhas-warning\b"))
    expect(get("graph-node-report")).to_have_attribute("title", "pipelines/p/report.py:1: reads "
                                                       "'orders', which no block defines — did "
                                                       "you mean 'orders_v2'?")

    # Back to its name, then a rename that updates the reader: no warning, the new edge.
    rename(page, "orders_v2", "orders")
    expect(get("warnings-report")).to_have_count(0, timeout=10_000)
    rename(page, "orders", "sales")
    get("rename-update-readers-orders").click()
    expect(get("graph-edge-sales-report")).to_be_attached(timeout=10_000)
    expect(get("warnings-report")).to_have_count(0)
    expect(get("editor-report")).to_contain_text("total = len(sales)", timeout=10_000)
    assert (shop.root / "pipelines/p/report.py").read_text() == "total = len(sales)\n"
