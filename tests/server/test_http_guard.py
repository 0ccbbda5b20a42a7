"""What a request must pass before any route: a known host, a same-site origin for changes,
the token (before anything else is said) and JSON bodies; and bounds on every parameter."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from support import CLI, ProjectFolder, Server, free_port
from websockets.sync.client import connect

TOKEN = "s3cret-token"
PIPELINE = {"numbers.py": "numbers = list(range(10))\n"}


@pytest.fixture
def open_server(project: ProjectFolder) -> Iterator[Server]:
    """The default `cairn serve`: no token, on 127.0.0.1, plus one allowed host name."""
    project.pipeline("p", PIPELINE)
    running = Server(project.root, None, "--allow-host", "cairn.internal")
    yield running
    running.stop()


@pytest.fixture
def token_server(project: ProjectFolder) -> Iterator[Server]:
    project.pipeline("p", PIPELINE)
    running = Server(project.root, TOKEN)
    yield running
    running.stop()


def test_only_loopback_and_allowed_host_names_are_answered(open_server: Server) -> None:
    """A page whose DNS name was rebound to 127.0.0.1 sends its own name as Host."""
    port = open_server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}",
                 f"cairn.internal:{port}", "LOCALHOST"):
        assert open_server.http.get("/api/project", headers={"Host": host}
                                    ).status_code == 200, host
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}", ""):
        refused = open_server.http.get("/api/files", params={"path": "cairn.yaml"},
                                       headers={"Host": host})
        assert refused.status_code == 400, host
        assert "--allow-host" in refused.json()["detail"]
    created = open_server.http.post("/api/pipelines/p/blocks", json={"name": "evil"},
                                    headers={"Host": f"evil.example:{port}"})
    assert created.status_code == 400
    assert not (open_server.root / "pipelines" / "p" / "evil.py").exists()
    # the socket goes to 127.0.0.1; the URL names the rebound host, as a browser's would
    with pytest.raises(Exception, match="HTTP 403"), connect(
            f"ws://evil.example:{port}/api/notebooks/p/ws",
            sock=socket.create_connection(("127.0.0.1", port))) as socket_:
        socket_.recv(timeout=10)


def test_pages_of_other_origins_cannot_change_anything(open_server: Server) -> None:
    own = f"http://127.0.0.1:{open_server.port}"
    for origin in ("http://evil.example", "null", f"http://evil.example:{open_server.port}"):
        # the "simple" request a page may send anywhere without asking
        refused = open_server.http.post("/api/pipelines", content='{"name": "made"}',
                                        headers={"Origin": origin,
                                                 "Content-Type": "text/plain"})
        assert refused.status_code == 403, origin
        assert open_server.http.post("/api/notebooks/p/interrupt",
                                     headers={"Origin": origin}).status_code == 403
        assert open_server.http.post("/api/streams/p/stop",
                                     headers={"Origin": origin}).status_code == 403
    assert not (open_server.root / "pipelines" / "made").exists()
    # this server's own pages, and those of the UI's dev server on another loopback port
    for origin in (own, "http://localhost:5173"):
        assert open_server.http.post("/api/pipelines/p/analyze", json={"sources": {}},
                                     headers={"Origin": origin}).status_code == 200, origin
    with pytest.raises(Exception, match="HTTP 403"), connect(
            f"ws://127.0.0.1:{open_server.port}/api/notebooks/p/ws",
            origin="http://evil.example") as socket_:
        socket_.recv(timeout=10)
    with connect(f"ws://127.0.0.1:{open_server.port}/api/notebooks/p/ws",
                 origin=own) as socket_:  # type: ignore[arg-type]
        assert json.loads(socket_.recv(timeout=60))["type"] == "state"


def test_bodies_must_be_json(open_server: Server) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", None):
        headers = {"Content-Type": content_type} if content_type else {}
        refused = open_server.http.post("/api/pipelines", content='{"name": "made"}',
                                        headers=headers)
        assert refused.status_code == 415, content_type
        assert "application/json" in refused.json()["detail"]
    assert not (open_server.root / "pipelines" / "made").exists()
    assert open_server.http.post("/api/pipelines", json={"name": "made"}).status_code == 201


def test_the_token_comes_in_a_header_and_is_checked_before_anything_else(
        token_server: Server, project: ProjectFolder) -> None:
    base = token_server.base
    assert token_server.http.get("/api/project").status_code == 200
    # in a URL it ends up in logs and histories: only the WebSocket takes it there
    assert httpx.get(base + f"/api/project?token={TOKEN}").status_code == 401
    with token_server.events("p") as events:
        assert json.loads(events.recv(timeout=60))["type"] == "state"
    with pytest.raises(Exception, match="HTTP 403"), connect(
            f"ws://127.0.0.1:{token_server.port}/api/notebooks/p/ws?token=wrong") as socket_:
        socket_.recv(timeout=10)
    # nothing about the project before the token: not its path, not its pipelines
    for method, path, arguments in [
            ("GET", "/api/pipelines/nope", {}), ("GET", "/api/no/such/route", {}),
            ("GET", "/api/runs?limit=x", {}), ("GET", "/api/files?path=cairn.yaml", {}),
            ("POST", "/api/pipelines", {"content": "{broken", "headers": {
                "Content-Type": "application/json"}}),
            ("POST", "/api/pipelines", {"content": "x", "headers": {
                "Content-Type": "text/plain"}}),
            ("GET", "/metrics", {})]:
        answer = httpx.request(method, base + path, **arguments)  # type: ignore[arg-type]
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json() == {"detail": "a valid token is required"}
        assert str(project.root) not in answer.text


def test_a_trigger_checks_its_token_before_the_body_and_says_nothing_else(
        project: ProjectFolder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "hook-123")
    monkeypatch.setenv("EMPTY_TOKEN", "")
    project.pipeline("p", {"greet.py": "greeting = 'hi'\n"},
                     "triggers:\n  - name: hook\n    api: {token_env: HOOK_TOKEN}\n"
                     "  - name: empty\n    api: {token_env: EMPTY_TOKEN}\n")
    project.pipeline("secret_pipeline", PIPELINE)
    server = Server(project.root)
    try:
        for path in ("/api/pipelines/p/trigger", "/api/pipelines/nope/trigger",
                     "/api/pipelines/" + "x" * 300 + "/trigger"):
            for headers in ({}, {"Authorization": "Bearer wrong"},
                            {"Authorization": "Bearer"}):
                answer = httpx.post(server.base + path, content="{broken", headers=headers)
                assert answer.status_code == 403, (path, headers, answer.text)
                assert "secret_pipeline" not in answer.text
                assert str(project.root) not in answer.text
        hook = {"Authorization": "Bearer hook-123"}
        assert httpx.post(server.base + "/api/pipelines/p/trigger", content="{broken",
                          headers={**hook, "Content-Type": "application/json"}
                          ).status_code == 422
        assert httpx.post(server.base + "/api/pipelines/p/trigger", content="{}",
                          headers={**hook, "Content-Type": "text/plain"}).status_code == 415
        assert httpx.post(server.base + "/api/pipelines/p/trigger", json=[1],
                          headers=hook).status_code == 422
        accepted = httpx.post(server.base + "/api/pipelines/p/trigger", headers=hook)
        assert accepted.status_code == 202 and accepted.json()["trigger"] == "hook"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with a token for the table below, whose cases change nothing."""
    project = ProjectFolder(tmp_path_factory.mktemp("odd") / "project")
    project.root.mkdir()
    (project.root / "cairn.yaml").write_text("name: odd\n")
    project.pipeline("p", PIPELINE)
    running = Server(project.root, TOKEN)
    yield running
    running.stop()


LONG = "x" * 300
WIDE = "\U0001f600" * 90  # under 100 characters, 360 bytes: too long for a file name


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/runs?limit=549729421640756153015955619840", None),
    ("GET", "/api/runs?limit=0", None),
    ("GET", "/api/runs?limit=-5", None),
    ("GET", f"/api/runs?pipeline={LONG}", None),
    ("GET", f"/api/pipelines/{LONG}", None),
    ("GET", f"/api/pipelines/{WIDE}", None),
    ("GET", "/api/pipelines/a%00b", None),
    ("GET", "/api/files?path=pipelines%00/p", None),
    ("GET", f"/api/files?path={'a/' * 3000}", None),
    ("GET", f"/api/notebooks/{LONG}", None),
    ("GET", f"/api/streams/{LONG}", None),
    ("GET", f"/api/checkpoints?pipeline={LONG}", None),
    ("GET", f"/api/checkpoints?pipeline={WIDE}", None),
    ("GET", f"/api/runs/{LONG}", None),
    ("GET", f"/api/runs/latest/logs/{WIDE}", None),
    ("GET", f"/api/runs/latest/logs?q={LONG * 10}", None),
    ("GET", f"/api/pipelines/p/blocks/{LONG}/readers", None),
    ("GET", "/api/notebooks/p/blocks/numbers/output?name=numbers&offset=99999999999999999999",
     None),
    ("GET", "/api/notebooks/p/blocks/numbers/output?name=numbers&limit=5000", None),
    ("POST", "/api/pipelines", {"name": LONG}),
    ("POST", "/api/pipelines", {"name": WIDE}),
    ("POST", "/api/pipelines/p/blocks", {"name": LONG}),
    ("POST", "/api/pipelines/p/blocks", {"name": "\u00e9" * 150}),
    ("POST", "/api/pipelines/p/blocks/numbers/rename", {"name": WIDE}),
    ("POST", "/api/pipelines/p/checkpoints/reset", {"to_version": 2**70}),
    ("POST", "/api/pipelines/nope/checkpoints/reset", {"block": None, "note": ""}),
    ("POST", "/api/notebooks/p/run", {"block": "numbers", "item": 2**70}),
    ("PUT", f"/api/pipelines/p/triggers/{LONG}", {"paused": True}),
])
def test_odd_input_is_refused_with_a_4xx(shared_server: Server, method: str, path: str,
                                         body: object) -> None:
    answer = shared_server.http.request(method, path, json=body)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["detail"]
    assert [path.name for path in (shared_server.root / "pipelines").iterdir()] == ["p"]
    assert [path.name for path in (shared_server.root / "pipelines" / "p").iterdir()
            ] == ["numbers.py"]


def test_any_host_name_needs_a_token(project: ProjectFolder, cli: type[CLI],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAIRN_TOKEN", raising=False)
    refused = cli.run("serve", "--allow-host", "*", "--port", str(free_port()),
                      cwd=project.root, timeout=30)
    assert refused.returncode == 2 and "needs a token" in refused.stderr
