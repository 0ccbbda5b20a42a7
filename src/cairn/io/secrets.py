"""Secret values known to this process, so that nothing Cairn prints can reveal them."""

from __future__ import annotations

import threading
from urllib.parse import quote

MASK = "***"

_lock = threading.Lock()
_known: set[str] = set()
# Longest first, so that a secret containing another is masked whole. Replaced, never
# mutated, so `redact` can read it without the lock.
_ordered: tuple[str, ...] = ()


def register_secret(value: str) -> None:
    """Remember a secret value; `redact` masks it from now on."""
    if not value:
        return
    global _ordered
    # Inside URLs a secret appears percent-encoded.
    forms = {value, quote(value, safe="")}
    with _lock:
        if forms <= _known:
            return
        _known.update(forms)
        _ordered = tuple(sorted(_known, key=len, reverse=True))


def redact(text: str) -> str:
    """`text` with every registered secret value replaced by `***`."""
    for value in _ordered:
        text = text.replace(value, MASK)
    return text
