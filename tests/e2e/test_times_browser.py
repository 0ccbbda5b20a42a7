"""The UI shows times as the CLI does: ISO 8601 in the browser's zone, the zone named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from support import CLI, ProjectFolder, Server

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.parametrize(("zone", "suffix"), [("Asia/Kolkata", r"\+05:30"), ("UTC", "UTC")])
def test_run_times_in_the_browsers_zone(project: ProjectFolder, cli: type[CLI], zone: str,
                                        suffix: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed")
    project.pipeline("p", {"x.py": "x = 1\n"})
    cli.run("run", "p", cwd=project.root, check=True)
    server = Server(project.root)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                 args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_context(timezone_id=zone).new_page()
            page.goto(server.base + "/#/runs")
            row = page.locator('[data-testid^="run-row-"]').first
            expect(row).to_contain_text(
                re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d " + suffix))
            browser.close()
    finally:
        server.stop()
