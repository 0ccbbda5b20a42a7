"""Redis Streams: a consumer group as a source, XADD as a sink.

The source reads as one named consumer of its group (`options.consumer`, default `cairn`),
so a process that starts after a crash is that same consumer: it first re-reads the
entries delivered but never acknowledged, then new ones. An entry's payload is its
`value` field (`options.field`); an entry without it is passed on as JSON of all fields.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from cairn.errors import CairnError, Problem
from cairn.io.connection import Connection
from cairn.project.streaming import SourceSettings
from cairn.stream.message import Message, Rows, encode
from cairn.stream.ports import Sink, Source, StreamScope


def _client(url: str, options: dict[str, Any] | None) -> Any:
    import redis

    return redis.Redis.from_url(url, **(options or {}))


class RedisSource(Source):
    """XREADGROUP from `settings.topic` (the stream key), XACK on commit."""

    def __init__(self, settings: SourceSettings, connection: Connection | None,
                 scope: StreamScope) -> None:
        super().__init__(settings, connection, scope)
        self.stream = str(settings.topic)
        self.field = str(settings.options.get("field", "value")).encode()

    def _connect(self) -> Any:
        assert self.connection is not None
        return _client(self.connection.settings["url"], self.connection.settings.get("options"))

    def open(self) -> None:
        import redis

        options = self.settings.options
        self.client = self._connect()
        self.consumer = str(options.get("consumer", "cairn"))
        try:
            # A new group starts at the stream's beginning ("0"), or at its end ("$").
            self.client.xgroup_create(self.stream, self.group, id=options.get("start", "0"),
                                      mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise CairnError(Problem("stream-source", f"Redis refused to create group "
                                         f"{self.group} on {self.stream}: {error}")) from None
        self.redeliveries = True  # entries this consumer was given but never acknowledged
        self.last_id: str | None = None

    def fetch(self, max_messages: int, max_wait: float) -> list[Message]:
        if self.redeliveries:
            pending = self._read("0", max_messages, None)
            if pending:
                return pending
            self.redeliveries = False
        messages: list[Message] = []
        deadline = time.monotonic() + max_wait
        while len(messages) < max_messages:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            messages += self._read(">", max_messages - len(messages), left_ms)
        return messages

    def _read(self, start: str, count: int, block_ms: int | None) -> list[Message]:
        answer = self.client.xreadgroup(self.group, self.consumer, {self.stream: start},
                                        count=count, block=block_ms)
        return [self._message(entry_id, fields)
                for _, entries in answer or [] for entry_id, fields in entries
                if fields]  # an entry deleted since delivery comes back empty

    def _message(self, entry_id: bytes, fields: dict[bytes, bytes]) -> Message:
        position = entry_id.decode()
        if self.field in fields:
            value = fields[self.field]
        else:
            value = encode({k.decode(): v.decode(errors="replace") for k, v in fields.items()})
        return Message(value, fields.get(b"key"), topic=self.stream, position=position,
                       timestamp=int(position.split("-")[0]) / 1000, handle=entry_id)

    def commit(self, messages: Sequence[Message]) -> None:
        if messages:
            self.client.xack(self.stream, self.group, *(m.handle for m in messages))
            self.last_id = messages[-1].position

    def position(self) -> dict[str, Any]:
        return {"last_id": self.last_id} if self.last_id else {}

    def lag(self) -> int | None:
        for group in self.client.xinfo_groups(self.stream):
            if group["name"].decode() == self.group:
                lag = group.get("lag")
                return int(lag) + int(group["pending"]) if lag is not None else None
        return None

    def sample(self, count: int) -> list[Message]:
        client = self._connect()
        try:
            entries = client.xrevrange(self.stream, count=count)
        finally:
            client.close()
        return [self._message(entry_id, fields) for entry_id, fields in reversed(entries)]

    def close(self) -> None:
        # The consumer goes unless it still owns unacknowledged entries, which the next
        # process (the same consumer) must get again.
        owned = self.client.xpending_range(self.stream, self.group, "-", "+", 1,
                                           consumername=self.consumer)
        if not owned:
            self.client.xgroup_delconsumer(self.stream, self.group, self.consumer)
        self.client.close()


class RedisSink(Sink):
    """XADD of each row as JSON under `value` (and `key` from the key columns)."""

    def open(self) -> None:
        assert self.connection is not None
        self.client = _client(self.connection.settings["url"],
                              self.connection.settings.get("options"))

    def write(self, rows: Rows) -> None:
        if not len(rows):
            return
        pipe = self.client.pipeline(transaction=False)
        for record in rows.records():
            fields = {"value": encode(record)}
            if self.settings.key:
                fields["key"] = encode([record.get(k) for k in self.settings.key])
            pipe.xadd(str(self.settings.topic), fields)
        pipe.execute()

    def close(self) -> None:
        self.client.close()


SOURCE = RedisSource
SINK = RedisSink
