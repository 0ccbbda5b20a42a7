"""Renaming a block over the API: the readers it breaks, warned about or rewritten."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import ProjectFolder, Server

BLOCKS = {
    "orders.sql": "SELECT 1 AS n\n",
    "report.py": "import math\n\n# orders\ntotal = math.fsum(row for row in orders['n'])\n",
    "summary.sql": "-- counts orders\nSELECT count(*) AS rows FROM orders\n",
    "plot.R": "shown <- nrow(orders)\n",
}


@pytest.fixture
def server(project: ProjectFolder) -> Iterator[Server]:
    project.pipeline("p", BLOCKS)
    running = Server(project.root)
    yield running
    running.stop()


def test_readers_are_listed(server: Server) -> None:
    readers = server.http.get("/api/pipelines/p/blocks/orders/readers").json()["readers"]
    assert sorted((r["block"], r["file"], r["updatable"]) for r in readers) == [
        ("plot", "pipelines/p/plot.R", False),
        ("report", "pipelines/p/report.py", True),
        ("summary", "pipelines/p/summary.sql", True),
    ]
    assert server.http.get("/api/pipelines/p/blocks/report/readers").json() == {"readers": []}


def test_rename_only_shows_the_broken_reader(server: Server, project: ProjectFolder) -> None:
    assert server.http.get("/api/pipelines/p").json()["graph"]["warnings"] == []
    renamed = server.http.post("/api/pipelines/p/blocks/orders/rename",
                               json={"name": "orders_v2"}).json()
    assert renamed["file"] == "pipelines/p/orders_v2.sql"
    assert all(not r["updated"] for r in renamed["readers"])
    assert (project.root / "pipelines/p/report.py").read_text() == BLOCKS["report.py"]
    [warning] = server.http.get("/api/pipelines/p").json()["graph"]["warnings"]
    assert (warning["kind"], warning["block"], warning["name"]) == (
        "unknown-input", "report", "orders")
    assert (warning["file"], warning["line"]) == ("pipelines/p/report.py", 4)
    assert warning["suggestions"] == ["orders_v2"]


def test_rename_updates_the_readers(server: Server, project: ProjectFolder) -> None:
    renamed = server.http.post("/api/pipelines/p/blocks/orders/rename",
                               json={"name": "sales", "update_readers": True}).json()
    assert sorted((r["block"], r["updated"]) for r in renamed["readers"]) == [
        ("plot", False), ("report", True), ("summary", True)]
    folder = project.root / "pipelines" / "p"
    assert (folder / "report.py").read_text() == (
        "import math\n\n# orders\ntotal = math.fsum(row for row in sales['n'])\n")
    assert (folder / "summary.sql").read_text() == (
        "-- counts orders\nSELECT count(*) AS rows FROM sales\n")
    assert (folder / "plot.R").read_text() == BLOCKS["plot.R"]  # by hand
    graph = server.http.get("/api/pipelines/p").json()["graph"]
    assert graph["warnings"] == [] and graph["errors"] == []
    assert {(e["from"], e["to"]) for e in graph["edges"]} == {
        ("sales", "report"), ("sales", "summary")}


def test_a_refused_rename_changes_no_reader(server: Server, project: ProjectFolder) -> None:
    response = server.http.post("/api/pipelines/p/blocks/orders/rename",
                                json={"name": "report", "update_readers": True})
    assert response.status_code == 409, response.text
    folder = project.root / "pipelines" / "p"
    assert (folder / "orders.sql").is_file()
    assert (folder / "report.py").read_text() == BLOCKS["report.py"]
    assert (folder / "summary.sql").read_text() == BLOCKS["summary.sql"]


def test_only_names_that_follow_the_file_have_readers(project: ProjectFolder) -> None:
    from cairn.project.config import find_project
    from cairn.project.rename import readers_of, rename_block

    project.pipeline("q", {
        "load.py": "rows = [1, 2]\n",  # a script: its output is `rows`, whatever its file
        "report.py": "from cairn import block\n\n@block\ndef report(rows):\n    return rows\n",
        "final.py": "from cairn import block\n\n@block\ndef final(report):\n"
                    "    return report * 2\n",
    })
    found = find_project(project.root)
    assert readers_of(found, "q", "load") == []
    renamed = rename_block(found, "q", "report", "summary", update_readers=True)
    assert [(r.block, r.updated) for r in renamed.readers] == [("final", True)]
    assert (project.root / "pipelines/q/final.py").read_text() == (
        "from cairn import block\n\n@block\ndef final(summary):\n    return summary * 2\n")
