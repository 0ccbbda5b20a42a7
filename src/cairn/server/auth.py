"""Who may use the API: anyone on this machine by default, token holders when one is set.

The checks themselves run in `guard.RequestGuard`, before any route."""

from __future__ import annotations

import hmac
from collections.abc import Collection

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_binding(host: str, token: str | None, allowed_hosts: Collection[str] = ()
                  ) -> str | None:
    """Why the server must not start with these settings, if it must not."""
    if host not in LOCAL_HOSTS and not token:
        return (f"binding to {host} exposes code execution to the network, so it needs a "
                "token: pass --token or set CAIRN_TOKEN")
    if "*" in allowed_hosts and not token:
        return ("--allow-host '*' lets any web page's DNS name reach the server, so it needs "
                "a token: pass --token or set CAIRN_TOKEN")
    return None


def token_matches(expected: str | None, presented: str) -> bool:
    """Whether `presented` is the (non-empty) expected token, in constant time: an empty or
    missing token never matches, so an empty setting refuses rather than opens."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
