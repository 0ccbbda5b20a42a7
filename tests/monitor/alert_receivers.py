"""Real far ends for alert tests: an SMTP server (aiosmtpd) and an HTTP receiver that
records every request, like a Slack, Teams, Discord, PagerDuty or generic webhook would."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support import free_port


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    seen: Any = None  # what the receiver's `on_request` returned when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HTTPReceiver:
    """Answers 200 (or `status[path]`) to every POST and keeps the requests."""

    status: dict[str, int] = field(default_factory=dict)
    on_request: Callable[[], Any] | None = None
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen = receiver.on_request() if receiver.on_request else None
                receiver.requests.append(Request(self.path, dict(self.headers), body, seen))
                self.send_response(receiver.status.get(self.path, 200))
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def at(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int = 1, seconds: float = 30) -> list[Request]:
        deadline = time.monotonic() + seconds
        while len(self.at(path)) < count:
            assert time.monotonic() < deadline, f"{path}: {len(self.at(path))} of {count}"
            time.sleep(0.05)
        return self.at(path)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SMTPReceiver:
    """An aiosmtpd server on a free port that keeps every message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                receiver.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


class Silent:
    """A port that accepts connections and never answers: a hanging channel."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/hook"

    def stop(self) -> None:
        self.socket.close()
