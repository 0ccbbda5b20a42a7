"""RabbitMQ: a durable queue as a source, an exchange (or a queue) as a sink.

The source consumes with manual acknowledgements and a prefetch of one micro-batch, so
the broker never sends more than a batch beyond what was committed; whatever is not
acknowledged when the connection ends (a crash, a kill, `close`) goes back to the queue
and is delivered again first. RabbitMQ keeps no offsets: the position Cairn shows is the
count of messages this process acknowledged, and a queue cannot be peeked without taking
its messages, so there is no sample. The client answers heartbeats while it fetches: sinks
slower than the heartbeat timeout (`heartbeat`, 60 s by default) lose the connection, and
their batch is delivered again.

The connection's `options` set attributes of pika's connection parameters (`heartbeat`,
`blocked_connection_timeout`, ...), except `exchange`: where sinks publish (default: the
default exchange, which routes to the queue named by the sink's `topic`). The source's
own `options`: `declare` (default true: create the queue, durable, when it is missing)
and `bind` (`{exchange, routing_key}`: bind the queue to an exchange).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import (
    AMQPConnectionError,
    AMQPError,
    ChannelClosedByBroker,
)

from cairn.errors import CairnError, Problem
from cairn.io.connection import Connection
from cairn.stream.message import Message, Rows, encode
from cairn.stream.ports import Sink, Source

_MAX_PREFETCH = 65535  # AMQP's prefetch count is an unsigned short
_PERSISTENT = 2


class RabbitMQSource(Source):
    """Consumes one queue, acknowledging a batch with one multiple-ack at commit."""

    _connection: pika.BlockingConnection | None = None
    _channel: BlockingChannel
    _consumer: str | None = None
    _acknowledged = 0  # by this process: RabbitMQ keeps no position to show
    _unacknowledged = 0

    def open(self) -> None:
        self.queue = str(self.settings.topic)
        self._connection, self._channel = _open(self.connection)
        self._inbox: list[Message] = []
        options = self.settings.options
        try:
            self._channel.queue_declare(self.queue, durable=True,
                                        passive=not options.get("declare", True))
        except ChannelClosedByBroker as error:
            self._connection.close()
            raise CairnError(Problem(
                "unknown-queue", f"RabbitMQ refused queue {self.queue!r}: {error.reply_text}",
                hint="create the queue, or leave out `declare: false` so Cairn creates it",
            )) from error
        bind = options.get("bind")
        if bind:
            self._channel.queue_bind(self.queue, exchange=bind["exchange"],
                                     routing_key=bind.get("routing_key", self.queue))

    def fetch(self, max_messages: int, max_wait: float) -> list[Message]:
        if self._consumer is None:
            # The prefetch limit applies to consumers started after it is set, and the
            # batch size is known only now.
            self._channel.basic_qos(prefetch_count=min(max_messages, _MAX_PREFETCH))
            self._consumer = self._channel.basic_consume(self.queue, self._deliver)
        deadline = time.monotonic() + max_wait
        while len(self._inbox) < max_messages:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # Returns as soon as deliveries were dispatched, or at the time limit.
            self._live.process_data_events(time_limit=remaining)
        batch, self._inbox = self._inbox[:max_messages], self._inbox[max_messages:]
        return batch

    def commit(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        # Delivery tags grow on a channel, so one multiple-ack covers the whole batch.
        self._channel.basic_ack(delivery_tag=max(m.handle for m in messages), multiple=True)
        # The broker does not answer an ack, and a process killed right after sending one
        # can lose it; it answers the channel's methods in order, so this answer means the
        # batch is acknowledged and will not be delivered again.
        self._channel.queue_declare(self.queue, passive=True)
        self._acknowledged += len(messages)
        self._unacknowledged -= len(messages)

    def close(self) -> None:
        if self._consumer is not None and self._connection is not None:
            # A connection already gone has taken its consumer with it.
            with contextlib.suppress(AMQPError):
                self._channel.basic_cancel(self._consumer)
        _close(self._connection)  # the broker requeues every unacknowledged message
        self._consumer = self._connection = None
        self._unacknowledged = 0

    def position(self) -> dict[str, Any]:
        return {"acknowledged": self._acknowledged}

    def lag(self) -> int | None:
        # The broker counts the messages ready to deliver; those delivered to this process
        # and not yet acknowledged are waiting too.
        declared = self._channel.queue_declare(self.queue, passive=True)
        return int(declared.method.message_count) + self._unacknowledged

    @property
    def _live(self) -> pika.BlockingConnection:
        if self._connection is None:
            raise RuntimeError("the RabbitMQ source is closed")
        return self._connection

    def _deliver(self, channel: BlockingChannel, method: Any, properties: Any,
                 body: bytes) -> None:
        headers = {str(k): str(v) for k, v in (properties.headers or {}).items()}
        key = properties.message_id.encode() if properties.message_id else None
        self._unacknowledged += 1
        self._inbox.append(Message(
            value=body, key=key, headers=headers, topic=method.routing_key,
            position=str(method.delivery_tag),
            timestamp=float(properties.timestamp) if properties.timestamp else None,
            handle=method.delivery_tag))


class RabbitMQSink(Sink):
    """Publishes each row as a persistent JSON message; a batch is one AMQP transaction."""

    _connection: pika.BlockingConnection | None = None
    _channel: BlockingChannel

    def open(self) -> None:
        self._connection, self._channel = _open(self.connection)
        self.routing_key = str(self.settings.topic)
        self.exchange = str(_options(self.connection).get("exchange", ""))
        if not self.exchange:
            # The default exchange routes to the queue of that name: make sure it exists, so
            # rows written before any consumer started wait in it.
            self._channel.queue_declare(self.routing_key, durable=True)
        self._returned: list[bytes] = []
        self._channel.add_on_return_callback(lambda _ch, _m, _p, body: self._returned.append(body))
        # RabbitMQ makes a transaction's messages durable by the time it answers the commit:
        # the guarantee of publisher confirms, with one round trip a batch instead of one a row.
        self._channel.tx_select()

    def write(self, rows: Rows) -> None:
        for record in rows.records():
            key = "-".join(str(record.get(name)) for name in self.settings.key) or None
            properties = pika.BasicProperties(
                content_type="application/json", delivery_mode=_PERSISTENT, message_id=key)
            # `mandatory`: a row no queue takes comes back instead of vanishing.
            self._channel.basic_publish(self.exchange, self.routing_key, encode(record),
                                        properties, mandatory=True)
        self._channel.tx_commit()
        self._channel.connection.process_data_events(0)  # returns arrive before the commit's answer
        if self._returned:
            count, self._returned = len(self._returned), []
            raise CairnError(Problem(
                "undelivered", f"RabbitMQ routed {count} row(s) for {self.routing_key!r} on "
                f"exchange {self.exchange or '(default)'!r} to no queue",
                hint="bind a queue to the exchange with that routing key"))

    def close(self) -> None:
        _close(self._connection)
        self._connection = None


def _options(connection: Connection | None) -> dict[str, Any]:
    return dict((connection.settings.get("options") if connection else None) or {})


def _open(connection: Connection | None) -> tuple[pika.BlockingConnection, BlockingChannel]:
    """A blocking connection and its one channel, with the connection's parameters."""
    assert connection is not None, "the settings require a RabbitMQ connection"
    parameters = pika.URLParameters(str(connection.settings["url"]))
    for name, value in _options(connection).items():
        if name == "exchange":
            continue
        if not hasattr(parameters, name):
            raise CairnError(Problem(
                "invalid-config", f"connection {connection.name!r}: unknown RabbitMQ option "
                f"{name!r}", hint="options are pika's connection parameters, and `exchange`"))
        setattr(parameters, name, value)
    try:
        client = pika.BlockingConnection(parameters)
    except AMQPConnectionError as error:
        raise CairnError(Problem(
            "unreachable", f"cannot connect to RabbitMQ for connection {connection.name!r}: "
            f"{error!r}", hint="check the url (amqp://user:password@host:5672/vhost)",
        )) from error
    return client, client.channel()


def _close(connection: pika.BlockingConnection | None) -> None:
    with contextlib.suppress(AMQPError):  # a connection already gone needs no closing
        if connection is not None and connection.is_open:
            connection.close()


SOURCE = RabbitMQSource
SINK = RabbitMQSink
