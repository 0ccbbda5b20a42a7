"""Kafka: a consumer group as a source, a producer that waits for every broker's ack as a sink.

The source consumes the topic as a member of its group (default `cairn-<pipeline>`) and
commits nothing on its own: after a batch is written, the offsets after its last message
of each partition are committed synchronously. A process that starts after a crash
continues from those offsets, so it reads again what the crashed one held (once the dead
member's `session.timeout.ms` has passed). A new group starts at the topic's beginning.

The connection's url is `kafka://host:port[,host:port...]`; its `options` are librdkafka
settings for every client (`security.protocol`, `sasl.mechanism`, ...). The source's own
`options`: `create_topic` (default true: create the topic when it is missing, with
`partitions`, default 1) and any librdkafka consumer settings (`session.timeout.ms`, ...).
A sink creates its topic when missing and puts the row's `key` columns in the message key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka import Message as Record
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # what confluent_kafka.admin exports, typed

from cairn.errors import CairnError, Problem
from cairn.io.connection import Connection
from cairn.stream.message import Message, Rows, encode
from cairn.stream.ports import Sink, Source

_log = logging.getLogger(__name__)
_TIMEOUT = 30.0  # seconds a request to the brokers may take
_CONNECT_WAIT = 10.0
_OWN_OPTIONS = ("create_topic", "partitions")
# librdkafka prefetches up to 100,000 messages a partition by default; a batch's worth is
# enough to keep the stream busy without holding much more than it can write.
_PREFETCH = 1000


def _config(connection: Connection | None) -> dict[str, Any]:
    """The settings every client of the connection starts from."""
    assert connection is not None
    servers = str(connection.settings["url"]).split("://", 1)[-1].rstrip("/")
    return {"bootstrap.servers": servers, "logger": _log,
            **(connection.settings.get("options") or {})}


def _ensure_topic(config: dict[str, Any], topic: str, create: bool, partitions: int) -> None:
    admin = AdminClient(config)
    try:
        # Every topic's metadata: asking for the one topic would have brokers that
        # auto-create topics make it, with their default partitions.
        found = admin.list_topics(timeout=_CONNECT_WAIT).topics.get(topic)
        if found is not None and found.error is None:
            return
        if not create:
            raise CairnError(Problem(
                "unknown-topic", f"Kafka has no topic {topic}",
                hint="create the topic, or leave out `create_topic: false`"))
        admin.create_topics([NewTopic(topic, partitions)])[topic].result(_TIMEOUT)
    except KafkaException as error:
        if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise _broker_error(f"cannot reach topic {topic}", error) from None


def _broker_error(what: str, error: KafkaException | KafkaError) -> CairnError:
    reason = error.args[0] if isinstance(error, KafkaException) else error
    text = reason.str() if isinstance(reason, KafkaError) else str(reason)
    return CairnError(Problem(
        "broker-error", f"Kafka: {what}: {text}",
        hint="check the connection's url and options in io_config.yaml, and that the brokers "
             "are up"))


def _message(record: Record) -> Message:
    topic, partition, offset = record.topic(), record.partition(), record.offset()
    kind, stamp = record.timestamp()
    headers = record.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    texts = {name: value.decode(errors="replace") if isinstance(value, bytes) else value or ""
             for name, value in pairs}
    return Message(record.value() or b"", record.key(), texts, topic or "",
                   f"{partition}:{offset}",
                   None if kind == TIMESTAMP_NOT_AVAILABLE else stamp / 1000,
                   (topic, partition, offset))


def _name(part: TopicPartition) -> str:
    return f"{part.topic}-{part.partition}"


class KafkaSource(Source):
    """A group member of one topic, committing offsets only when told to."""

    _consumer: Consumer | None = None

    def open(self) -> None:
        self.topic = str(self.settings.topic)
        options = self.settings.options
        config = _config(self.connection)
        _ensure_topic(config, self.topic, bool(options.get("create_topic", True)),
                      int(options.get("partitions", 1)))
        self._committed: dict[str, int] = {}  # "<topic>-<partition>" -> next offset
        self._asked: set[str] = set()  # partitions whose committed offset was looked up
        self._consumer = Consumer({
            "auto.offset.reset": "earliest", "queued.min.messages": _PREFETCH, **config,
            **{k: v for k, v in options.items() if k not in _OWN_OPTIONS},
            # What delivery rests on, whatever the options say:
            "group.id": self.group, "enable.auto.commit": False})
        self._consumer.subscribe([self.topic])

    def _opened(self) -> Consumer:
        if self._consumer is None:
            raise RuntimeError("the Kafka source is not open")
        return self._consumer

    def fetch(self, max_messages: int, max_wait: float) -> list[Message]:
        messages = []
        for record in self._opened().consume(max_messages, max_wait):
            error = record.error()
            if error is None:
                messages.append(_message(record))
            elif error.fatal() or not error.retriable():
                raise _broker_error(f"consuming {self.topic} failed", error)
            else:
                _log.warning("Kafka: %s", error.str())
        return messages

    def commit(self, messages: Sequence[Message]) -> None:
        ends: dict[str, TopicPartition] = {}  # the offset after each partition's last
        for topic, partition, offset in (message.handle for message in messages):
            end = TopicPartition(topic, partition, offset + 1)
            ends[_name(end)] = end
        if not ends:
            return
        try:
            done = self._opened().commit(offsets=list(ends.values()), asynchronous=False)
        except KafkaException as error:
            raise _broker_error("committing the offsets failed", error) from None
        for part in done or []:
            if part.error is not None:
                raise _broker_error(f"committing partition {part.partition} failed",
                                    part.error)
        self._committed.update((name, part.offset) for name, part in ends.items())
        self._asked.update(ends)

    def position(self) -> dict[str, Any]:
        return dict(self._committed)

    def lag(self) -> int | None:
        # From what the consumer already knows: a request to the brokers can wait behind
        # a fetch's long poll, and the loop asks every second.
        consumer = self._opened()
        parts = consumer.assignment()
        unknown = [p for p in parts if _name(p) not in self._asked]
        if unknown:  # the group's offsets, once for each partition this consumer gets
            try:
                found = consumer.committed(unknown, timeout=_TIMEOUT)
            except KafkaException as error:
                _log.warning("Kafka: the lag of %s is unknown: %s", self.topic, error)
                return None
            self._asked.update(_name(p) for p in found)
            self._committed.update((_name(p), p.offset) for p in found if p.offset >= 0)
        total = 0
        for part in parts:
            low, high = consumer.get_watermark_offsets(part, cached=True)
            if high < 0:  # not fetched from yet
                return None
            total += max(0, high - self._committed.get(_name(part), low))
        return total if parts else None

    def sample(self, count: int) -> list[Message]:
        # A consumer of its own, assigned rather than subscribed: it joins no group and
        # commits nothing, so the stream's position stays where it is.
        # It needs no `open`, so a block can be tried in the notebook on the newest messages.
        topic = str(self.settings.topic)
        peeker = Consumer({**_config(self.connection), "group.id": f"{self.group}-sample",
                           "enable.auto.commit": False, "enable.partition.eof": True})
        try:
            found = peeker.list_topics(timeout=_CONNECT_WAIT).topics.get(topic)
            starts = []
            for partition in found.partitions if found is not None else ():
                part = TopicPartition(topic, partition)
                low, high = peeker.get_watermark_offsets(part, timeout=_TIMEOUT)
                if high > low:
                    starts.append(TopicPartition(topic, partition, max(low, high - count)))
            records = _read_to_end(peeker, starts)
        except KafkaException as error:
            raise _broker_error(f"reading the newest messages of {topic}", error) from None
        finally:
            peeker.close()
        records.sort(key=lambda r: (r.timestamp()[1], r.partition(), r.offset() or 0))
        return [_message(record) for record in records[-count:]]

    def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()  # leaves the group; nothing is committed on the way out


def _read_to_end(consumer: Consumer, starts: list[TopicPartition]) -> list[Record]:
    """Every record from the start offsets to the end of their partitions."""
    if not starts:
        return []
    consumer.assign(starts)
    unfinished = {part.partition for part in starts}
    records: list[Record] = []
    deadline = time.monotonic() + _TIMEOUT
    while unfinished and time.monotonic() < deadline:
        record = consumer.poll(1.0)  # one at a time: `consume` would wait for a full batch
        if record is None:
            continue
        error = record.error()
        if error is None:
            records.append(record)
        elif error.code() == KafkaError._PARTITION_EOF:
            unfinished.discard(record.partition())
    return records


class KafkaSink(Sink):
    """Produces each row as JSON and returns once every broker in sync has it."""

    _producer: Producer | None = None

    def open(self) -> None:
        self.topic = str(self.settings.topic)
        config = _config(self.connection)
        _ensure_topic(config, self.topic, create=True, partitions=1)
        self._producer = Producer({**config, "acks": "all"})

    def write(self, rows: Rows) -> None:
        if self._producer is None:
            raise RuntimeError("the Kafka sink is not open")
        producer, failures, keys = self._producer, [], self.settings.key

        def delivered(error: KafkaError | None, record: Record) -> None:
            if error is not None:
                failures.append(error)

        records = rows.records()
        for record in records:
            key = encode([record.get(k) for k in keys]) if keys else None
            while True:
                try:
                    producer.produce(self.topic, encode(record), key, on_delivery=delivered)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    producer.poll(0.1)
        left = producer.flush(_TIMEOUT)
        if failures or left:
            reason = failures[0].str() if failures else f"no answer within {_TIMEOUT:.0f} s"
            raise CairnError(Problem(
                "sink-failed", f"Kafka did not store {len(failures) or left} of "
                f"{len(records)} rows on {self.topic}: {reason}"))

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.purge()  # only what a failed write left: its batch is replayed anyway
            producer.close()


SOURCE = KafkaSource
SINK = KafkaSink
