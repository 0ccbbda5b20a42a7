"""The webhook inbox: every accepted request as one synced file, named in order of arrival.

The server writes the files and the webhook source reads and deletes them, so an event
accepted while no stream runs waits here. A name reads `<time_ns>-<uuid>-<count>.<suffix>`:
the arrival time orders the files and dates their messages, and the count lets the source
tell how many messages wait without opening them. `.jsonl` holds one JSON value per line
(the elements of a posted array), `.body` one message: a request's body as it came.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cairn.atomic import write_atomically

_NAME = re.compile(r"(?P<ns>\d{20})-[0-9a-f]{32}-(?P<count>\d+)\.(?P<suffix>jsonl|body)")


@dataclass(frozen=True, order=True)
class InboxFile:
    """One request's file; sorting puts them in order of arrival."""

    name: str
    count: int  # messages it holds
    arrived: float  # epoch seconds

    @property
    def raw(self) -> bool:
        return self.name.endswith(".body")


def folder(state_dir: Path) -> Path:
    """The inbox of a stream whose Cairn-held state lives in `state_dir`."""
    return state_dir / "inbox"


def split(body: bytes) -> tuple[list[bytes], bool]:
    """A JSON array's elements (each as compact JSON), else the whole body as one message;
    and whether it was an array. An empty body or array holds none."""
    if not body.strip():
        return [], False
    if body.lstrip()[:1] == b"[":
        try:
            elements = json.loads(body)
        except ValueError:
            return [body], False
        if isinstance(elements, list):
            return [json.dumps(element, ensure_ascii=False, separators=(",", ":")).encode()
                    for element in elements], True
    return [body], False


def deliver(inbox: Path, body: bytes) -> int:
    """Store a request's messages durably (file and folder synced); return how many."""
    messages, array = split(body)
    if not messages:
        return 0
    inbox.mkdir(parents=True, exist_ok=True)
    # A body is kept byte for byte, since it need not be JSON; array elements are JSON
    # without raw newlines, so one per line frames them.
    suffix, data = ("jsonl", b"\n".join(messages) + b"\n") if array else ("body", body)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex}-{len(messages)}.{suffix}"
    write_atomically(inbox / name, data)
    sync_folder(inbox)  # the rename itself must survive a crash, not only the bytes
    return len(messages)


def sync_folder(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def entries(inbox: Path) -> list[InboxFile]:
    """The inbox's files in order of arrival (writers' temporary files left out)."""
    try:
        names = os.listdir(inbox)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        match = _NAME.fullmatch(name)
        if match:
            found.append(InboxFile(name, int(match["count"]), int(match["ns"]) / 1e9))
    return sorted(found)


def read(inbox: Path, entry: InboxFile) -> list[bytes]:
    """The messages of one file, in the order they were posted."""
    data = (inbox / entry.name).read_bytes()
    return [data] if entry.raw else data.split(b"\n")[:-1]
