"""The webhook source: messages POSTed to the Cairn server, read from the stream's inbox.

Cairn holds the position: the inbox file partly consumed and how many of its messages.
Files consumed in full are deleted when their batch commits; every other file in the
inbox is unconsumed, whatever its name, so a crash can only replay, never skip.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cairn.errors import CairnError, Problem
from cairn.io.connection import Connection
from cairn.project.streaming import SourceSettings
from cairn.stream import inbox
from cairn.stream.inbox import InboxFile
from cairn.stream.message import Message
from cairn.stream.ports import Source, StreamScope

_POLL_SECONDS = 0.05  # how often an idle fetch looks for new files


class WebhookOptions(BaseModel):
    """A webhook source's `options`: the token callers present, and the largest body."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = None
    token_env: str | None = None  # or the environment variable holding it (on the server)
    max_body_bytes: int = Field(default=10_000_000, ge=1)

    @model_validator(mode="after")
    def _one_token(self) -> WebhookOptions:
        if (self.token is None) == (self.token_env is None):
            raise ValueError("give either `token` or `token_env`")
        return self

    def expected(self) -> str | None:
        return self.token if self.token is not None else os.environ.get(str(self.token_env))


def webhook_options(settings: SourceSettings) -> WebhookOptions:
    try:
        return WebhookOptions.model_validate(settings.options)
    except ValidationError as error:
        reasons = "; ".join(e["msg"] for e in error.errors())
        raise CairnError(Problem(
            "bad-options", f"the webhook source's options are wrong: {reasons}",
            hint="options: {token_env: NAME_OF_VARIABLE, max_body_bytes: 10000000}")) from None


class WebhookSource(Source):
    """Reads the inbox in order of arrival, a batch ending anywhere inside a file."""

    holds_position = True

    def __init__(self, settings: SourceSettings, connection: Connection | None,
                 scope: StreamScope) -> None:
        super().__init__(settings, connection, scope)
        self.options = webhook_options(settings)
        self.inbox = inbox.folder(scope.state_dir)
        self._file: str | None = None  # committed: the file partly (or just fully) consumed
        self._index = 0  # and how many of its messages
        self._reading: tuple[InboxFile, list[bytes], int] | None = None  # next index to fetch
        self._queue: deque[InboxFile] = deque()
        self._taken: set[str] = set()  # fetched in full, deleted when committed

    def open(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)

    def restore(self, checkpoints: dict[str, Any]) -> None:
        self._file = checkpoints.get("file")
        self._index = int(checkpoints.get("index") or 0)
        self._reading = None
        self._queue.clear()
        self._taken.clear()

    def position(self) -> dict[str, Any]:
        return {"file": self._file, "index": self._index} if self._file else {}

    def fetch(self, max_messages: int, max_wait: float) -> list[Message]:
        deadline = time.monotonic() + max_wait
        batch: list[Message] = []
        while True:
            self._take(batch, max_messages)
            left = deadline - time.monotonic()
            if len(batch) >= max_messages or left <= 0:
                return batch
            time.sleep(min(_POLL_SECONDS, left))

    def commit(self, messages: Sequence[Message]) -> None:
        for message in messages:
            name, _, last = message.handle
            if last:
                (self.inbox / name).unlink(missing_ok=True)
                self._taken.discard(name)
        if messages:
            self._file, self._index, _ = messages[-1].handle

    def close(self) -> None:
        self._reading = None
        self._queue.clear()

    def lag(self) -> int:
        """Messages waiting, counted from the file names without opening the files."""
        waiting = inbox.entries(self.inbox)
        done = next((self._index for e in waiting if e.name == self._file), 0)
        return sum(entry.count for entry in waiting) - done

    def sample(self, count: int) -> list[Message]:
        newest: list[Message] = []
        for entry in reversed(inbox.entries(self.inbox)):
            if len(newest) >= count:
                break
            try:
                values = inbox.read(self.inbox, entry)
            except FileNotFoundError:  # consumed meanwhile
                continue
            messages = [self._message(entry, values, i) for i in range(len(values))]
            newest[:0] = messages[-(count - len(newest)):]
        return newest

    def _take(self, batch: list[Message], max_messages: int) -> None:
        """Add messages to `batch` from the file being read, then the next ones."""
        while len(batch) < max_messages:
            if self._reading is None and not self._start_next():
                return
            assert self._reading is not None
            entry, values, index = self._reading
            end = min(len(values), index + max_messages - len(batch))
            batch.extend(self._message(entry, values, i) for i in range(index, end))
            if end == len(values):
                self._reading = None
                self._taken.add(entry.name)
            else:
                self._reading = (entry, values, end)

    def _start_next(self) -> bool:
        if not self._queue:
            waiting = [e for e in inbox.entries(self.inbox) if e.name not in self._taken]
            # The committed position covers one file partly: finish it before any other.
            waiting.sort(key=lambda e: e.name != self._file)
            self._queue.extend(waiting)
        while self._queue:
            entry = self._queue.popleft()
            start = self._index if entry.name == self._file else 0
            try:
                values = inbox.read(self.inbox, entry)
            except FileNotFoundError:
                continue
            if start >= len(values):  # consumed in full before a crash kept it from deletion
                (self.inbox / entry.name).unlink(missing_ok=True)
                continue
            self._reading = (entry, values, start)
            return True
        return False

    def _message(self, entry: InboxFile, values: list[bytes], index: int) -> Message:
        end = index + 1
        return Message(values[index], topic=self.scope.pipeline,
                       position=f"{entry.name}:{index}", timestamp=entry.arrived,
                       handle=(entry.name, end, end == len(values)))


SOURCE = WebhookSource
