"""A SQL block's per-statement timings in the run detail of the web UI (real Chromium)."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from support import CLI, ProjectFolder, Server


def test_the_run_detail_shows_each_sql_statement(project: ProjectFolder, cli: type[CLI],
                                                 page: Page) -> None:
    project.pipeline("p", {"staged.sql": """
        CREATE TEMP TABLE ids AS SELECT range AS id FROM range(1000);

        SELECT count(*) AS n FROM ids
    """})
    cli.run("run", "p", "--quiet", cwd=project.root, check=True)
    server = Server(project.root)
    try:
        [run] = server.http.get("/api/runs", params={"pipeline": "p"}).json()
        [bar] = server.http.get(f"/api/runs/{run['id']}/timeline").json()["blocks"]
        assert [(s["statement"], s["line"], s["rows"]) for s in bar["profile"]] == [
            (1, 1, None), (2, 3, 1)]
        page.goto(f"{server.base}/#/runs/{run['id']}")
        statements = page.get_by_test_id("run-block-profile-staged").get_by_test_id(
            "statement-row")
        expect(statements).to_have_count(2, timeout=30_000)
        expect(statements.nth(1)).to_contain_text("3")
        expect(statements.nth(0).locator("td").nth(2)).to_contain_text("ms")
    finally:
        server.stop()
