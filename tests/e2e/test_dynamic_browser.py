"""Fan-out, mapped items and conditions in the notebook, in a real headless Chromium.

The notebook after the run is saved as test-artifacts/dynamic.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from support import ARTIFACTS, ProjectFolder, Server


@pytest.fixture
def dynamic(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "dyn"
    root.mkdir()
    (root / "cairn.yaml").write_text("name: dyn\n")
    ProjectFolder(root).pipeline("dyn", {
        "numbers.py": "numbers = [1, 2, 3]\n",
        "square.py": f"""
            from pathlib import Path
            with open({str(tmp_path / "ran")!r}, "a") as _log:
                _log.write(f"{{numbers}} ")
            if numbers == 2 and not Path({str(tmp_path / "fixed")!r}).exists():
                raise ValueError('two')
            print('item', numbers)
            square = numbers ** 2
            """,
        "gate.py": "gate = False\n",
        "after_gate.py": "after_gate = gate\n",
    }, """
        blocks:
          - {name: numbers, fan_out: true}
          - {name: square, map: zip}
          - {name: gate, condition: true}
          - {name: after_gate}
        """)
    server = Server(root)
    yield server
    server.stop()


def test_items_conditions_and_notes(dynamic: Server, page: Page, tmp_path: Path) -> None:
    p = page
    get = p.get_by_test_id
    p.goto(f"{dynamic.base}/#/p/dyn")
    expect(get("block-card-square")).to_be_visible(timeout=30_000)

    # The notes show on the cards and in the graph before anything ran.
    expect(get("notes-numbers")).to_contain_text("fan-out", timeout=10_000)
    expect(get("notes-square")).to_contain_text("map")
    expect(get("notes-gate")).to_contain_text("condition")
    expect(get("notes-after_gate")).to_have_count(0)
    expect(get("graph-notes-numbers")).to_contain_text("fan-out")
    expect(get("graph-notes-square")).to_contain_text("map")
    expect(get("graph-notes-gate")).to_contain_text("condition")

    get("run-all").click()

    # One square per item, under the card of `square`, not cards of their own.
    expect(get("items-count-square")).to_contain_text("2/3", timeout=60_000)
    for index, status in enumerate(["success", "failed", "success"]):
        expect(get(f"item-square-{index}")).to_have_attribute("data-status", status)
    expect(get("item-square-1")).to_have_attribute("title", re.compile("two"))
    expect(p.locator("[data-testid^='block-card-']")).to_have_count(4)
    expect(get("status-square")).to_have_text("failed")
    expect(get("notes-square")).to_contain_text("\u00d73")  # "map x3", with a multiplication sign

    # Clicking an item shows its logs and outputs, or its error.
    get("item-square-2").click()
    expect(get("log-square[2]")).to_contain_text("item 3")
    expect(get("output-value-square[2]")).to_contain_text("9")
    get("item-square-1").click()
    expect(get("error-square[1]")).to_contain_text("ValueError: two")

    # The gate was false: the block after it is skipped, with the reason, not an error.
    expect(get("status-after_gate")).to_have_text("skipped", timeout=30_000)
    expect(get("skip-reason-after_gate")).to_contain_text("gate")
    expect(get("error-after_gate")).to_have_count(0)
    expect(get("status-gate")).to_have_text("success")

    # The failed item, once its cause is fixed, runs again alone.
    (tmp_path / "fixed").touch()
    get("run-item-square-1").click()
    expect(get("item-square-1")).to_have_attribute("data-status", "success", timeout=30_000)
    expect(get("items-count-square")).to_contain_text("3/3")
    expect(get("status-square")).to_have_text("success")
    expect(get("item-square-0")).to_have_attribute("data-status", "success")
    # items 1 and 3 ran once, item 2 twice (the first run ran the items side by side)
    assert sorted((tmp_path / "ran").read_text().split()) == ["1", "2", "2", "3"]

    ARTIFACTS.mkdir(exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / "dynamic.png"), full_page=True)
