"""A chat model on 127.0.0.1 that speaks the OpenAI and Anthropic wire formats, answers
scripted replies in order and records every request."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: text content, or an HTTP error status with a message."""

    content: str = ""
    status: int = 200
    error: str = ""


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeLLM:
    replies: list[Reply] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def script(self, *replies: Reply | str) -> None:
        self.replies.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def sent_text(self, index: int = -1) -> str:
        """Everything a request carried, as one string, for containment checks."""
        request = self.requests[index]
        return json.dumps(request.body) + json.dumps(request.headers)


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.requests.append(Recorded(self.path, {k.lower(): v for k, v in
                                                      self.headers.items()}, body))
            reply = fake.replies.pop(0) if fake.replies else Reply(status=500, error="no reply")
            if reply.status != 200:
                self._send(reply.status, {"error": {"type": "error", "message": reply.error}})
            elif self.path.endswith("/chat/completions"):
                self._send(200, {
                    "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {
                        "role": "assistant", "content": reply.content}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
            elif self.path.endswith("/messages"):
                self._send(200, {
                    "id": "msg_1", "type": "message", "role": "assistant",
                    "model": body["model"], "stop_reason": "end_turn",
                    "content": [{"type": "text", "text": reply.content}],
                    "usage": {"input_tokens": 1, "output_tokens": 1}})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


class FakeServer:
    """Starts and stops the fake on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.fake = FakeLLM()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.fake))
        self.fake.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
