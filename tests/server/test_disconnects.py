"""The server's output stays clean: clients that go away (a closed tab, a dropped
connection) leave no tracebacks, whatever moment they pick, and neither does Ctrl-C."""

from __future__ import annotations

import base64
import os
import signal
import socket
import struct
import subprocess
import sys

import httpx
from support import ProjectFolder, Server, free_port, wait_until

BLOCKS = {
    "ticker.py": "import time\nfor i in range(40):\n    print('line', i, flush=True)\n"
                 "    time.sleep(0.02)\nticker = 1\n",
    "after.py": "after = ticker + 1\n",
}


def _connect(server: Server) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", server.port))
    # Closing sends a reset, not a polite FIN: as a killed browser or a dropped network does.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return client


def _websocket(server: Server, pipeline: str) -> socket.socket:
    client = _connect(server)
    key = base64.b64encode(os.urandom(16)).decode()
    client.sendall(
        f"GET /api/notebooks/{pipeline}/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    return client


def _http(server: Server, path: str) -> socket.socket:
    client = _connect(server)
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return client


def _read_some(client: socket.socket, size: int = 1) -> None:
    client.settimeout(60)
    client.recv(size)


def test_clients_that_vanish_leave_no_tracebacks(project: ProjectFolder) -> None:
    project.pipeline("p", BLOCKS)
    server = Server(project.root)
    try:
        # WebSockets dropped before the upgrade is answered, while the worker starts, after
        # the first state, and for a pipeline that does not exist.
        for pipeline in ("p", "nope"):
            _websocket(server, pipeline).close()
            client = _websocket(server, pipeline)
            _read_some(client)
            client.close()
        watchers = [_websocket(server, "p") for _ in range(4)]
        for client in watchers:
            _read_some(client, 4096)
        # A run sends events to every watcher; half of them vanish mid-stream.
        assert server.http.post("/api/notebooks/p/run", json={"mode": "all"}).is_success
        for client in watchers[:2]:
            _read_some(client, 64)
            client.close()
        # HTTP requests dropped before their answer is read.
        for path in ("/", "/api/project", "/api/pipelines/p", "/api/notebooks/p", "/api/runs"):
            _http(server, path).close()
        wait_until(lambda: server.http.get("/api/notebooks/p").json()["running"] is None
                   and "after" in server.http.get("/api/notebooks/p").json()["blocks"],
                   "the notebook run to end")
        for client in watchers[2:]:
            client.close()
    finally:
        server.stop()
    output = (project.root.parent / "server.log").read_text()
    assert "Traceback" not in output and "Exception in ASGI" not in output, output[-4000:]


def test_ctrl_c_on_the_server_leaves_no_tracebacks(project: ProjectFolder) -> None:
    project.pipeline("p", BLOCKS)
    project.pipeline("q", {"x.py": "x = 1\n"})
    port = free_port()
    log_path = project.root.parent / "serve.log"
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C in a terminal signals the whole foreground group.
        server = subprocess.Popen(
            [sys.executable, "-m", "cairn", "serve", "--port", str(port), "--project",
             str(project.root)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(base + "/openapi.json"), "the server to listen")
        # Two notebook workers, one of them running a block.
        assert httpx.get(base + "/api/notebooks/q", timeout=60).is_success
        assert httpx.post(base + "/api/notebooks/p/run", json={"mode": "all"},
                          timeout=60).is_success
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    output = log_path.read_text()
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-4000:]


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return False
    return True
