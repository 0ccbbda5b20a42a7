"""The two interfaces every source and sink implements, and where each kind lives."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, Problem
from cairn.io.connection import Connection
from cairn.project.streaming import SinkSettings, SourceSettings
from cairn.stream.message import Message, Rows


@dataclass(frozen=True)
class StreamScope:
    """What sources and sinks may need besides their settings."""

    pipeline: str
    root: Path  # the project folder: relative paths are relative to it
    state_dir: Path  # `.cairn/streams/<pipeline>`: Cairn-held state (webhook inbox, ...)
    batch_size: int | None = None  # the pipeline's `batch.max_messages`

    @property
    def group(self) -> str:
        """The default consumer group / durable consumer name."""
        return f"cairn-{self.pipeline}"


class Source(ABC):
    """A consumer of one topic. The loop calls `open`, then `fetch` and `commit` in turn,
    and `close` at the end; a message is acknowledged only by `commit`, after every sink
    has durably written its batch, so a crash anywhere replays at most that batch."""

    def __init__(self, settings: SourceSettings, connection: Connection | None,
                 scope: StreamScope) -> None:
        self.settings = settings
        self.connection = connection
        self.scope = scope
        self.group = settings.group or scope.group

    @abstractmethod
    def open(self) -> None:
        """Connect and subscribe; create the consumer group / durable consumer if missing."""

    @abstractmethod
    def fetch(self, max_messages: int, max_wait: float) -> list[Message]:
        """Up to `max_messages`, returning once there are that many or `max_wait` seconds
        have passed (possibly with none). Unacknowledged messages of an earlier process
        (redeliveries) come first."""

    @abstractmethod
    def commit(self, messages: Sequence[Message]) -> None:
        """Acknowledge the messages of a batch (all fetched, in order, none left out)."""

    @abstractmethod
    def close(self) -> None:
        """Disconnect, leaving no consumer behind (the durable position stays)."""

    def position(self) -> dict[str, Any]:
        """The committed position, as checkpoints to show: name -> JSON value."""
        return {}

    def restore(self, checkpoints: dict[str, Any]) -> None:  # noqa: B027 - most keep none
        """Sources whose position Cairn holds (files, webhook) continue from these."""

    def lag(self) -> int | None:
        """Messages waiting beyond the committed position, when the broker says."""
        return None

    def sample(self, count: int) -> list[Message]:
        """Up to `count` of the newest messages, without consuming them. Called on a
        source that is not open (a stream of it may be running): it connects, reads and
        disconnects without joining the consumer group."""
        return []


class Sink(ABC):
    """A destination of a stream's rows; `write` returns once they are durably stored."""

    def __init__(self, settings: SinkSettings, connection: Connection | None,
                 scope: StreamScope) -> None:
        self.settings = settings
        self.connection = connection
        self.scope = scope

    def open(self) -> None:  # noqa: B027 - sinks that connect lazily keep this
        """Connect; create what is missing (a table is created by its first write)."""

    @abstractmethod
    def write(self, rows: Rows) -> None:
        """Store the rows durably (committed, flushed, acknowledged by the broker)."""

    def close(self) -> None:  # noqa: B027 - sinks without resources keep this
        """Release connections."""


# kind -> module holding `SOURCE` and/or `SINK`, imported only when used.
_SOURCES = {"nats": "nats", "redis": "redis", "rabbitmq": "rabbitmq", "mqtt": "mqtt",
            "kafka": "kafka", "webhook": "webhook", "files": "files"}
_SINKS = {"nats": "nats", "redis": "redis", "rabbitmq": "rabbitmq", "mqtt": "mqtt",
          "kafka": "kafka", "files": "file_sink"}
_SQL_SINK = "table_sink"


def make_source(settings: SourceSettings, connection: Connection | None,
                scope: StreamScope) -> Source:
    if connection is not None and connection.kind not in (settings.kind, "files"):
        raise CairnError(Problem(
            "wrong-connection", f"the {settings.kind} source names connection "
            f"{connection.name!r}, which is a {connection.kind} connection",
            hint=f"name a connection of kind {settings.kind} in io_config.yaml"))
    source: Source = _module(_SOURCES[settings.kind]).SOURCE(settings, connection, scope)
    return source


def make_sink(settings: SinkSettings, connection: Connection | None,
              scope: StreamScope) -> Sink:
    """The sink for a table (SQL connection), files (a url) or a broker topic."""
    if settings.table:
        if connection is None or not connection.is_sql:
            raise _sink_error(settings, connection, "a table needs a SQL connection")
        name = _SQL_SINK
    elif settings.topic:
        if connection is None or not connection.is_broker:
            raise _sink_error(settings, connection, "a topic needs a broker connection")
        name = _SINKS[connection.kind]
    else:
        if connection is not None and connection.kind != "files":
            raise _sink_error(settings, connection, "a url needs a files connection, or none")
        name = _SINKS["files"]
    sink: Sink = _module(name).SINK(settings, connection, scope)
    return sink


def _module(name: str) -> Any:
    """A kind's module; a client library that is missing is named with what installs it."""
    try:
        return importlib.import_module(f"cairn.stream.{name}")
    except ModuleNotFoundError as error:
        if (error.name or "cairn").startswith("cairn"):
            raise
        raise CairnError(Problem(
            "missing-package", f"streams of kind {name} need the Python package "
            f"{error.name!r}, which is not installed",
            hint="pip install 'cairn[stream]' installs every broker's client")) from None


def _sink_error(settings: SinkSettings, connection: Connection | None,
                reason: str) -> CairnError:
    named = f"connection {connection.name!r} ({connection.kind})" if connection else "none"
    return CairnError(Problem("wrong-connection", f"sink {settings.target!r}: {reason}; "
                              f"it has {named}",
                              hint="see the connections with `cairn connections list`"))
