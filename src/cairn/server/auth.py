"""Who may use the API: anyone on 127.0.0.1 by default, token holders when one is set."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status
from starlette.requests import HTTPConnection

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_binding(host: str, token: str | None) -> str | None:
    """Why the server must not start with these settings, if it must not."""
    if host not in LOCAL_HOSTS and not token:
        return (f"binding to {host} exposes code execution to the network, so it needs a "
                "token: pass --token or set CAIRN_TOKEN")
    return None


def allowed(connection: HTTPConnection) -> bool:
    """Whether a request or WebSocket carries the token (`Authorization: Bearer` or
    `?token=`), when the server has one."""
    expected: str | None = connection.app.state.token
    if expected is None:
        return True
    authorization = connection.headers.get("authorization", "")
    presented = (authorization[7:] if authorization.lower().startswith("bearer ")
                 else connection.query_params.get("token", ""))
    return hmac.compare_digest(expected.encode(), presented.encode())


def require_token(request: Request) -> None:
    """A FastAPI dependency for every `/api` route."""
    if not allowed(request):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a valid token is required",
                            headers={"WWW-Authenticate": "Bearer"})
