"""Concurrent edits against a live `cairn serve`: of editors saving from one version exactly
one wins, blocks added at once all reach pipeline.yaml, one name is created once; and
between processes (the server, the CLI, another server) the same holds."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest
import yaml
from support import ProjectFolder, Server

CLIENTS = 10


@pytest.fixture
def server(project: ProjectFolder) -> Iterator[Server]:
    project.pipeline("p", {"total.py": "total = 0\n"}, "blocks:\n  - total\n")
    running = Server(project.root)
    yield running
    running.stop()


def at_once(count: int, request: Callable[[httpx.Client, int], httpx.Response]) -> list[int]:
    """The status codes of `count` requests sent together, each on its own connection."""
    start = threading.Barrier(count)
    codes: list[int] = [0] * count

    def send(index: int) -> None:
        with httpx.Client(timeout=60) as client:
            start.wait()
            codes[index] = request(client, index).status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def test_of_saves_from_one_version_exactly_one_wins(server: Server,
                                                    project: ProjectFolder) -> None:
    path = project.root / "pipelines/p/total.py"
    for round_ in range(15):
        base = server.http.get("/api/pipelines/p").json()["blocks"][0]["hash"]
        codes = at_once(CLIENTS, lambda client, i, round_=round_, base=base: client.put(
            f"{server.base}/api/pipelines/p/blocks/total",
            json={"source": f"total = {round_ * 100 + i}\n", "base_hash": base}))
        assert Counter(codes) == {200: 1, 409: CLIENTS - 1}, f"round {round_}: {codes}"
        winner = codes.index(200)
        assert path.read_text() == f"total = {round_ * 100 + winner}\n"


def test_blocks_added_at_once_all_reach_pipeline_yaml(server: Server,
                                                      project: ProjectFolder) -> None:
    codes = at_once(50, lambda client, i: client.post(
        f"{server.base}/api/pipelines/p/blocks", json={"name": f"b{i}", "language": "python"}))
    assert codes == [201] * 50
    listed = yaml.safe_load((project.root / "pipelines/p/pipeline.yaml").read_text())["blocks"]
    assert sorted(listed) == sorted(["total", *(f"b{i}" for i in range(50))])
    assert len(server.http.get("/api/pipelines/p").json()["blocks"]) == 51


def test_one_name_created_at_once_is_created_once(server: Server,
                                                  project: ProjectFolder) -> None:
    for round_ in range(5):
        codes = at_once(CLIENTS, lambda client, _, round_=round_: client.post(
            f"{server.base}/api/pipelines/p/blocks", json={"name": f"same{round_}",
                                                           "language": "sql"}))
        assert Counter(codes) == {201: 1, 409: CLIENTS - 1}, f"round {round_}: {codes}"
        pipelines = at_once(CLIENTS, lambda client, _, round_=round_: client.post(
            f"{server.base}/api/pipelines", json={"name": f"new{round_}"}))
        assert Counter(pipelines) == {201: 1, 409: CLIENTS - 1}, f"round {round_}: {pipelines}"
    listed = yaml.safe_load((project.root / "pipelines/p/pipeline.yaml").read_text())["blocks"]
    assert listed == ["total", *(f"same{r}" for r in range(5))]


def test_renames_deletes_and_reorders_at_once_leave_a_consistent_pipeline(
        server: Server, project: ProjectFolder) -> None:
    for i in range(8):
        assert server.http.post("/api/pipelines/p/blocks",
                                json={"name": f"b{i}", "language": "python"}).status_code == 201

    def edit(client: httpx.Client, i: int) -> httpx.Response:
        url = f"{server.base}/api/pipelines/p"
        if i < 4:
            return client.post(f"{url}/blocks/b{i}/rename", json={"name": f"r{i}"})
        if i < 8:
            return client.delete(f"{url}/blocks/b{i}")
        return client.post(f"{url}/blocks", json={"name": f"c{i}", "language": "python"})

    codes = at_once(12, edit)
    assert codes == [200] * 4 + [204] * 4 + [201] * 4
    listed = yaml.safe_load((project.root / "pipelines/p/pipeline.yaml").read_text())["blocks"]
    files = sorted(p.stem for p in (project.root / "pipelines/p").glob("*.py"))
    assert sorted(listed) == files == sorted(
        ["total", "r0", "r1", "r2", "r3", "c8", "c9", "c10", "c11"])


ADDER = """
import sys, time
from pathlib import Path
from cairn.project.config import find_project
from cairn.project.editing import create_block
root, worker, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
project = find_project(root)
while not go.exists():  # start together
    time.sleep(0.01)
for i in range(5):
    create_block(project, "p", f"w{worker}_{i}", "python")
"""


def test_processes_adding_blocks_at_once_lose_none(project: ProjectFolder) -> None:
    project.pipeline("p", {"total.py": "total = 0\n"}, "blocks:\n  - total\n")
    go = project.root.parent / "go"
    workers = [subprocess.Popen([sys.executable, "-c", ADDER, str(project.root), str(w),
                                 str(go)]) for w in range(6)]
    go.touch()
    assert [worker.wait(timeout=120) for worker in workers] == [0] * 6
    listed = yaml.safe_load((project.root / "pipelines/p/pipeline.yaml").read_text())["blocks"]
    assert sorted(listed) == sorted(["total", *(f"w{w}_{i}" for w in range(6)
                                                for i in range(5))])
