"""The dashboard's API routes against a live `cairn serve`, after real runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from support import CLI, ProjectFolder, Server

BLOCKS = {
    "numbers.py": "numbers = list(range(10))\nprint('made the numbers')\n",
    "total.py": "import os\ntotal = sum(numbers)\nprint('total is', total)\n"
                "if os.environ.get('FAIL_TOTAL'):\n    raise RuntimeError('asked to fail')\n",
}


@pytest.fixture
def server(project: ProjectFolder, cli: type[CLI],
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Server, list[str]]]:
    """A server of a project whose pipeline `p` ran twice: a success, then a failure."""
    project.pipeline("p", BLOCKS, "triggers:\n  - name: nightly\n    schedule: '0 2 * * *'\n")
    cli.run("run", "p", "--quiet", cwd=project.root, check=True)
    with monkeypatch.context() as patched:
        patched.setenv("FAIL_TOTAL", "1")
        assert cli.run("run", "p", "--quiet", cwd=project.root).returncode != 0
    running = Server(project.root)
    listed = running.http.get("/api/runs", params={"pipeline": "p"}).json()
    yield running, [r["id"] for r in listed[::-1]]
    running.stop()


def test_health_of_all_pipelines(server: tuple[Server, list[str]]) -> None:
    live, (_, second) = server
    answer = live.http.get("/api/stats", params={"days": 3}).json()
    assert answer["days"] == 3
    [p] = answer["pipelines"]
    assert (p["pipeline"], p["runs"], p["failures"], p["success_rate"]) == ("p", 2, 1, 0.5)
    assert p["p50_s"] > 0 and p["p50_s"] == p["p95_s"]  # one successful run
    assert (p["last_run"]["id"], p["last_run"]["status"]) == (second, "failed")
    assert p["next_run"].endswith("T02:00:00Z")
    assert live.http.get("/api/stats", params={"days": 0}).status_code == 422


def test_trend_of_a_pipeline(server: tuple[Server, list[str]]) -> None:
    live, (first, second) = server
    answer = live.http.get("/api/pipelines/p/stats").json()
    assert [(r["id"], r["status"]) for r in answer["runs"]] == [
        (first, "success"), (second, "failed")]
    assert len(answer["days"]) == 30
    today = answer["days"][-1]
    assert (today["runs"], today["failures"]) == (2, 1)
    datetime.fromisoformat(today["day"])
    assert {b["block"]: (b["runs"], b["failures"]) for b in answer["blocks"]} == {
        "numbers": (2, 0), "total": (2, 1)}
    missing = live.http.get("/api/pipelines/q/stats")
    assert missing.status_code == 404
    assert missing.json()["problems"][0]["kind"] == "unknown-pipeline"


def test_timeline_and_log_search_of_a_run(server: tuple[Server, list[str]]) -> None:
    live, (_, second) = server
    timeline = live.http.get(f"/api/runs/{second}/timeline").json()
    assert timeline["run"]["status"] == "failed"
    bars = timeline["blocks"]
    assert [(b["block"], b["status"]) for b in bars] == [
        ("numbers", "success"), ("total", "failed")]
    assert all(b["started_at"].endswith("Z") and b["ended_at"] for b in bars)
    assert "asked to fail" in bars[1]["error"]

    found = live.http.get(f"/api/runs/{second}/logs", params={"q": "Total"}).json()
    assert found["lines"] == [{"block": "total", "line": 1, "text": "total is 45"}]
    assert found["truncated"] is False
    whole = live.http.get(f"/api/runs/{second}/logs", params={"block": "numbers"}).json()
    assert [line["text"] for line in whole["lines"]] == ["made the numbers"]
    unknown = live.http.get(f"/api/runs/{second}/logs", params={"block": "nope"})
    assert unknown.status_code == 404
    assert live.http.get("/api/runs/nope/timeline").status_code == 404
