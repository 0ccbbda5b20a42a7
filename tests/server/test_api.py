"""The HTTP and WebSocket API against a live `cairn serve` process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import CLI, ProjectFolder, Server, free_port
from websockets.sync.client import connect

from cairn import service

BLOCKS = {
    "numbers.py": "numbers = list(range(10))\n",
    "total.py": "total = sum(numbers)\nprint('total is', total)\n",
    "frame.py": "import pandas as pd\nframe = pd.DataFrame({'n': range(120)})\n",
    "doubled.sql": "SELECT n * 2 AS twice FROM frame\n",
}


@pytest.fixture
def server(project: ProjectFolder) -> Iterator[Server]:
    project.pipeline("p", BLOCKS, "blocks:\n  - numbers\n  - total\n")
    running = Server(project.root)
    yield running
    running.stop()


def wait_for(socket_: Any, predicate: Any, seconds: float = 60) -> list[dict[str, Any]]:
    """Events until one satisfies `predicate` (that one included)."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        event = json.loads(socket_.recv(timeout=deadline - time.monotonic()))
        seen.append(event)
        if predicate(event):
            return seen
    raise AssertionError(f"no such event in {seen}")


def finished(block: str) -> Any:
    return lambda e: e["type"] == "finished" and e["block"] == block


def test_project_and_pipeline(server: Server) -> None:
    project = server.http.get("/api/project").json()
    assert [(p["name"], p["blocks"], p["last_run"]) for p in project["pipelines"]] == [
        ("p", 4, None)]
    pipeline = server.http.get("/api/pipelines/p").json()
    # listed first, then the DAG's order: doubled reads frame
    assert [b["name"] for b in pipeline["blocks"]] == ["numbers", "total", "frame", "doubled"]
    assert {"from": "numbers", "to": "total", "names": ["numbers"]} in pipeline["graph"]["edges"]
    assert pipeline["graph"]["layers"][0] == ["numbers", "frame"]
    assert server.http.get("/api/pipelines/nope").status_code == 404
    assert server.http.get("/openapi.json").json()["info"]["title"] == "Cairn"


def test_analyze_unsaved_code(server: Server) -> None:
    graph = server.http.post("/api/pipelines/p/analyze", json={
        "sources": {"doubled": "SELECT n * 2 AS twice, (SELECT max(total) FROM total) AS t "
                               "FROM frame\n"}}).json()
    assert {"from": "total", "to": "doubled", "names": ["total"]} in graph["edges"]
    broken = server.http.post("/api/pipelines/p/analyze", json={
        "sources": {"numbers": "numbers = total\n"}}).json()
    cycle, = broken["errors"]
    assert cycle["kind"] == "cycle" and "numbers" in cycle["message"]
    twice = server.http.post("/api/pipelines/p/analyze", json={
        "sources": {"frame": "import pandas as pd\nframe = 1\ntotal = 2\n"}}).json()
    assert twice["errors"][0]["kind"] == "multiple-definitions"
    assert twice["errors"][0]["file"] == "pipelines/p/frame.py"


def test_save_refuses_to_overwrite_an_outside_change(server: Server,
                                                     project: ProjectFolder) -> None:
    block = next(b for b in server.http.get("/api/pipelines/p").json()["blocks"]
                 if b["name"] == "total")
    saved = server.http.put("/api/pipelines/p/blocks/total", json={
        "source": "total = sum(numbers) * 2\n", "base_hash": block["hash"]})
    assert saved.status_code == 200
    path = project.root / "pipelines" / "p" / "total.py"
    assert path.read_text() == "total = sum(numbers) * 2\n"

    path.write_text("total = 0  # edited in another editor\n")
    stale = server.http.put("/api/pipelines/p/blocks/total", json={
        "source": "total = 1\n", "base_hash": saved.json()["hash"]})
    assert stale.status_code == 409
    assert stale.json()["current"]["source"] == "total = 0  # edited in another editor\n"
    assert path.read_text() == "total = 0  # edited in another editor\n"


def test_add_rename_and_delete_blocks(server: Server, project: ProjectFolder) -> None:
    folder = project.root / "pipelines" / "p"
    created = server.http.post("/api/pipelines/p/blocks", json={"name": "extra",
                                                                "language": "sql"})
    assert created.status_code == 201 and (folder / "extra.sql").is_file()
    assert server.http.post("/api/pipelines/p/blocks", json={
        "name": "extra", "language": "python"}).status_code == 409
    assert server.http.post("/api/pipelines/p/blocks", json={
        "name": "bad name", "language": "python"}).status_code == 400
    renamed = server.http.post("/api/pipelines/p/blocks/total/rename", json={"name": "sum_"})
    assert renamed.json()["file"] == "pipelines/p/sum_.py"
    assert "- sum_" in (folder / "pipeline.yaml").read_text()
    assert server.http.delete("/api/pipelines/p/blocks/numbers").status_code == 204
    assert not (folder / "numbers.py").exists()
    assert "numbers" not in (folder / "pipeline.yaml").read_text()


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "pipelines/../../x"])
def test_files_stay_inside_the_project(server: Server, path: str) -> None:
    assert server.http.get("/api/files", params={"path": path}).status_code == 403


def test_files_inside_the_project(server: Server) -> None:
    response = server.http.get("/api/files", params={"path": "pipelines/p/total.py"})
    assert response.json()["text"] == BLOCKS["total.py"]


def test_notebook_runs_blocks_with_live_events(server: Server) -> None:
    with server.events("p") as events:
        first = json.loads(events.recv(timeout=60))
        assert first["type"] == "state" and first["state"]["blocks"]["total"]["stale"]
        server.http.post("/api/notebooks/p/run", json={"block": "total", "mode": "block"})
        seen = wait_for(events, finished("total"))
    # the missing upstream ran first
    assert [e["block"] for e in seen if e["type"] == "started"] == ["numbers", "total"]
    assert {"type": "output", "block": "total", "stream": "stdout",
            "line": "total is 45"} in seen
    state = seen[-1]["state"]
    assert state["status"] == "success"
    assert state["outputs"] == [{"name": "total", "kind": "value", "repr": "45"}]

    notebook = server.http.get("/api/notebooks/p").json()
    assert notebook["blocks"]["total"]["stale"] is False
    assert notebook["blocks"]["doubled"]["stale"] is True


def test_tables_are_paged(server: Server) -> None:
    with server.events("p") as events:
        events.recv(timeout=60)
        server.http.post("/api/notebooks/p/run", json={"block": "doubled", "mode": "block"})
        seen = wait_for(events, finished("doubled"))
    output, = seen[-1]["state"]["outputs"]
    assert (output["kind"], output["rows"], output["columns"]) == (
        "table", 120, [{"name": "twice", "type": "int64"}])
    assert len(output["page"]["rows"]) == 50
    page = server.http.get("/api/notebooks/p/blocks/frame/output",
                           params={"name": "frame", "offset": 100, "limit": 50}).json()
    assert page["rows"] == [[n] for n in range(100, 120)] and page["total"] == 120
    sql_page = server.http.get("/api/notebooks/p/blocks/doubled/output",
                               params={"name": "doubled", "offset": 110}).json()
    assert sql_page["rows"] == [[n * 2] for n in range(110, 120)]


def test_rerun_marks_downstream_stale(server: Server, project: ProjectFolder) -> None:
    with server.events("p") as events:
        events.recv(timeout=60)
        server.http.post("/api/notebooks/p/run", json={"block": None, "mode": "all"})
        wait_for(events, lambda e: e["type"] == "state" and e["state"]["worker"] == "idle")
        assert not any(b["stale"] for b in server.http.get("/api/notebooks/p").json()[
            "blocks"].values())
        (project.root / "pipelines" / "p" / "numbers.py").write_text("numbers = [1, 2]\n")
        assert server.http.get("/api/notebooks/p").json()["blocks"]["total"]["stale"]
        server.http.post("/api/notebooks/p/run", json={"block": "numbers",
                                                       "mode": "downstream"})
        seen = wait_for(events, finished("total"))
    assert seen[-1]["state"]["outputs"][0]["repr"] == "3"


def test_errors_point_at_the_line(server: Server, project: ProjectFolder) -> None:
    (project.root / "pipelines" / "p" / "total.py").write_text(
        "x = 1\ntotal = sum(numbers) / 0\n")
    with server.events("p") as events:
        events.recv(timeout=60)
        server.http.post("/api/notebooks/p/run", json={"block": "total"})
        seen = wait_for(events, finished("total"))
    error = seen[-1]["state"]["error"]
    assert seen[-1]["state"]["status"] == "failed"
    assert error["line"] == 2 and "ZeroDivisionError" in error["message"]
    assert "total = sum(numbers) / 0" in error["traceback"]


def test_interrupt_a_running_block(server: Server, project: ProjectFolder) -> None:
    (project.root / "pipelines" / "p" / "numbers.py").write_text(
        "import time\nfor _ in range(600):\n    time.sleep(0.1)\nnumbers = [1]\n")
    with server.events("p") as events:
        events.recv(timeout=60)
        server.http.post("/api/notebooks/p/run", json={"block": "numbers"})
        wait_for(events, lambda e: e["type"] == "started")
        started = time.monotonic()
        assert server.http.post("/api/notebooks/p/interrupt").status_code == 204
        seen = wait_for(events, finished("numbers"), seconds=20)
    assert time.monotonic() - started < 10
    state = seen[-1]["state"]
    # Stopped by the user: cancelled, not a failure with a KeyboardInterrupt traceback.
    assert state["status"] == "cancelled"
    assert state["error"]["message"] == "cancelled by the user"
    assert not state["error"]["traceback"]


def test_a_crashed_worker_is_reported_and_restarted(server: Server,
                                                    project: ProjectFolder) -> None:
    (project.root / "pipelines" / "p" / "numbers.py").write_text(
        "import os\nos._exit(3)\n")
    with server.events("p") as events:
        events.recv(timeout=60)
        server.http.post("/api/notebooks/p/run", json={"block": "numbers"})
        dead = wait_for(events, lambda e: e["type"] == "worker" and e["worker"] == "dead")
    assert "exit code 3" in dead[-1]["message"]
    assert server.http.post("/api/notebooks/p/run", json={"block": "numbers"}
                            ).status_code == 409
    assert server.http.get("/api/project").status_code == 200  # the server goes on

    (project.root / "pipelines" / "p" / "numbers.py").write_text("numbers = [5]\n")
    assert server.http.post("/api/notebooks/p/restart").status_code == 204
    with server.events("p") as events:
        events.recv(timeout=60)
        server.http.post("/api/notebooks/p/run", json={"block": "total"})
        seen = wait_for(events, finished("total"))
    assert seen[-1]["state"]["outputs"][0]["repr"] == "5"


def test_run_pipeline_is_recorded_like_cairn_run(server: Server) -> None:
    with server.events("p") as events:  # a notebook that used the warehouse is open
        events.recv(timeout=60)
        server.http.post("/api/notebooks/p/run", json={"block": None, "mode": "all"})
        wait_for(events, lambda e: e["type"] == "state" and e["state"]["worker"] == "idle")
    run_id = server.http.post("/api/pipelines/p/runs", json={}).json()["run_id"]
    deadline = time.monotonic() + 60
    while True:
        response = server.http.get(f"/api/runs/{run_id}")
        if response.status_code == 200 and response.json()["status"] != "running":
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    run = response.json()
    assert run["status"] == "success" and len(run["blocks"]) == 4
    assert [r["id"] for r in server.http.get("/api/runs", params={"pipeline": "p"}).json()
            ] == [run_id]
    assert server.http.get(f"/api/runs/{run_id}/logs/total").json()["text"] == "total is 45\n"


def test_token_is_required_when_configured(project: ProjectFolder) -> None:
    project.pipeline("p", BLOCKS)
    server = Server(project.root, token="s3cret-token")
    try:
        assert httpx.get(server.base + "/api/project").status_code == 401
        assert httpx.get(server.base + "/api/project?token=wrong").status_code == 401
        assert server.http.get("/api/project").status_code == 200
        # only the WebSocket takes it in the URL (browsers cannot set its headers)
        assert httpx.get(server.base + "/api/project?token=s3cret-token").status_code == 401
        with pytest.raises(Exception, match="HTTP 403"), connect(
                f"ws://127.0.0.1:{server.port}/api/notebooks/p/ws") as socket_:
            socket_.recv(timeout=10)
        with server.events("p") as events:
            assert json.loads(events.recv(timeout=60))["type"] == "state"
    finally:
        server.stop()


def test_binding_beyond_localhost_needs_a_token(project: ProjectFolder, cli: type[CLI],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAIRN_TOKEN", raising=False)
    refused = cli.run("serve", "--host", "0.0.0.0", "--port", str(free_port()),
                      cwd=project.root, timeout=30)
    assert refused.returncode == 2 and "needs a token" in refused.stderr


def test_api_trigger_starts_a_run_with_the_body_as_variables(project: ProjectFolder,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             ) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "hook-123")
    project.pipeline("p", {"greet.py": "greeting = f'hello {who}'\n"},
                     "variables:\n  who: nobody\ntriggers:\n  - name: hook\n"
                     "    api: {token_env: HOOK_TOKEN}\n")
    server = Server(project.root)
    try:
        refused = httpx.post(server.base + "/api/pipelines/p/trigger", json={"who": "x"},
                             headers={"Authorization": "Bearer wrong"})
        assert refused.status_code == 403
        assert httpx.post(server.base + "/api/pipelines/p/trigger").status_code == 403
        accepted = httpx.post(server.base + "/api/pipelines/p/trigger", json={"who": "ada"},
                              headers={"Authorization": "Bearer hook-123"})
        assert accepted.status_code == 202 and accepted.json()["trigger"] == "hook"
        run_id = accepted.json()["run_id"]
        deadline = time.monotonic() + 30
        while server.http.get(f"/api/runs/{run_id}").json()["status"] != "success":
            assert time.monotonic() < deadline, server.http.get(f"/api/runs/{run_id}").json()
            time.sleep(0.2)
    finally:
        server.stop()
    assert service.read_output(project.load(), "p", "greet") == {"greeting": "hello ada"}
