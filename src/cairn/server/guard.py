"""What every request passes before a route sees it: the right host, origin, token and
content type.

A browser on the developer's machine is the threat: any page it shows may send requests to
127.0.0.1, or rebind its own DNS name to it. So the server answers only to the host names it
knows (loopback and `--allow-host`), refuses state changes and WebSockets from pages of other
origins, and takes bodies only as JSON (a cross-origin "simple" POST cannot send JSON without
a CORS preflight, which the server never grants). The token, when set, is checked before
anything else is said, so an unknown route or a malformed body tells a stranger nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from cairn.server.auth import LOCAL_HOSTS, token_matches

# Routes that check a token of their own (a trigger's, a webhook source's) instead of the
# server's; they are called by other systems, not by browsers or the UI.
OWN_TOKEN = re.compile(r"^/api/pipelines/[^/]+/(trigger|events)$")
_GUARDED = ("/api/", "/metrics")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def host_name(value: str) -> str:
    """The name in a `Host` header or URL authority, without port or brackets."""
    value = value.strip().lower()
    if value.startswith("["):  # an IPv6 literal: [::1]:6789
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class RequestGuard:
    """ASGI middleware that refuses requests by host, origin, token and content type."""

    def __init__(self, app: ASGIApp, token: str | None, allowed_hosts: Collection[str] = ()
                 ) -> None:
        self.app = app
        self.token = token
        self.hosts = {*LOCAL_HOSTS, *(host_name(h) for h in allowed_hosts)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":  # refused before the handshake: an HTTP 403
            await send({"type": "websocket.close", "code": 1008, "reason": refusal[1]})
        else:
            status, message = refusal
            body = json.dumps({"detail": message}).encode()
            headers = [(b"content-type", b"application/json"),
                       (b"content-length", str(len(body)).encode())]
            if status == 401:
                headers.append((b"www-authenticate", b"Bearer"))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """The status and message a request is refused with, if it is."""
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not self._known(host_name(host)):
            return 400, (f"this server does not answer to the host name {host!r}; "
                         "start it with --allow-host NAME to allow it")
        websocket = scope["type"] == "websocket"
        path: str = scope["path"]
        method = "GET" if websocket else scope["method"]
        origin = headers.get("origin")
        if origin is not None and (websocket or method not in _SAFE_METHODS) and not (
                self._same_site(origin, host)):
            return 403, f"requests from pages of {origin} are not allowed"
        own_token = OWN_TOKEN.match(path) is not None
        if self.token is not None and path.startswith(_GUARDED) and not own_token and not (
                token_matches(self.token, _presented(scope, headers, websocket))):
            return 401, "a valid token is required"
        if not websocket and not own_token and _has_body(headers) and not is_json(headers):
            return 415, "send the body as JSON (Content-Type: application/json)"
        return None

    def _known(self, name: str) -> bool:
        return "*" in self.hosts or name in self.hosts

    def _same_site(self, origin: str, host: str) -> bool:
        """Whether a page of `origin` may change things: it is this server's own page, or
        one served by an allowed host (loopback included, e.g. the UI's dev server)."""
        authority = urlsplit(origin).netloc
        return bool(authority) and (authority.lower() == host.lower()
                                    or self._known(host_name(authority)))


def _presented(scope: Scope, headers: Headers, websocket: bool) -> str:
    """The token a request carries: `Authorization: Bearer`, or on a WebSocket (browsers
    cannot set its headers) `?token=`."""
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:]
    if websocket:
        query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
        tokens: list[str] = query.get("token", [""])
        return tokens[0]
    return ""


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    return (length is not None and length.strip() not in ("", "0")) or (
        "transfer-encoding" in headers)


def is_json(headers: Headers) -> bool:
    """Whether the body is declared JSON (`application/json`, or `+json` types)."""
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json"))
