"""Routes of the notebook's pipeline page: create a pipeline, reorder its cards, and the
WebSocket's refusal of a pipeline that does not exist, against a live `cairn serve`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import ProjectFolder, Server
from websockets.exceptions import ConnectionClosed


@pytest.fixture
def server(project: ProjectFolder) -> Iterator[Server]:
    project.pipeline("p", {"b.py": "b = a + 1\n", "a.py": "a = 1\n", "c.py": "c = 3\n"})
    running = Server(project.root)
    yield running
    running.stop()


def test_cards_follow_the_dag_and_a_new_order_is_written(server: Server,
                                                         project: ProjectFolder) -> None:
    names = [b["name"] for b in server.http.get("/api/pipelines/p").json()["blocks"]]
    assert names == ["a", "c", "b"]  # b reads a: it comes after, whatever the file names
    response = server.http.put("/api/pipelines/p/order", json={"blocks": ["c", "b", "a"]})
    assert response.status_code == 200
    assert [b["name"] for b in response.json()["blocks"]] == ["c", "b", "a"]
    assert (project.root / "pipelines/p/pipeline.yaml").read_text() == (
        "blocks:\n  - c\n  - b\n  - a\n")
    refused = server.http.put("/api/pipelines/p/order", json={"blocks": ["c", "b"]})
    assert refused.status_code == 400
    assert refused.json()["problems"][0]["kind"] == "bad-order"
    assert "missing: a" in refused.json()["problems"][0]["message"]


def test_create_a_pipeline(server: Server, project: ProjectFolder) -> None:
    created = server.http.post("/api/pipelines", json={"name": "sales"})
    assert created.status_code == 201
    assert created.json()["name"] == "sales" and created.json()["blocks"] == []
    assert (project.root / "pipelines/sales/pipeline.yaml").is_file()
    listed = server.http.get("/api/project").json()["pipelines"]
    assert [p["name"] for p in listed] == ["p", "sales"]
    assert server.http.post("/api/pipelines", json={"name": "sales"}).status_code == 409
    bad = server.http.post("/api/pipelines", json={"name": "../x"})
    assert bad.status_code == 400 and bad.json()["problems"][0]["kind"] == "bad-name"


def test_the_websocket_of_a_missing_pipeline_closes_with_4404(server: Server) -> None:
    with server.events("nope") as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=30)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4404
    assert "nope" in closed.value.rcvd.reason
