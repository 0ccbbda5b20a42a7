"""MQTT: a topic filter as a source, a topic as a sink (paho-mqtt, MQTT 3.1.1, QoS 1).

The source holds a persistent session: its client id is the consumer group, it connects
without a clean session, subscribes at QoS 1 and acknowledges a message only at commit.
What is unacknowledged when the process ends is sent again (flagged DUP) when the same
client id connects next, and messages published while no consumer is connected wait in
the session, which `close` leaves on the broker for that reason. The inbox holds one batch,
counting those fetched and not yet committed; when it is full the network thread stops
reading, and the broker and TCP hold the rest (no keepalive is sent meanwhile either:
sinks slower than 1.5 keepalives lose the connection, and the batch comes again).

What MQTT cannot guarantee, unlike the log-based brokers:
- The broker bounds what a session keeps (Mosquitto: `max_queued_messages`, 1000 by
  default) and drops what comes beyond it for a consumer that is away or behind.
- A session starts with the stream's first connection: messages published before that are
  not kept (but for a retained message, which comes again at each start).
- Sessions survive a broker restart only with persistence on, and Mosquitto writes them to
  disk only every `autosave_interval` and at shutdown; they expire if the broker is set to
  (`persistent_client_expiration`).
- Messages published at QoS 0 arrive at QoS 0: nothing acknowledges or redelivers them.
- A client id is held by one connection: a second consumer in the same group takes the
  session over and disconnects the first.
- No offsets, no count of waiting messages, no peek: the position is a count of the
  messages acknowledged, lag is unknown and there is no sample.

The connection's `options`: `keepalive` (seconds, default 60); the others are keyword
arguments of paho's `Client` (`transport`, ...). `mqtts://` connects with TLS.
"""

from __future__ import annotations

import inspect
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cairn.errors import CairnError, Problem
from cairn.io.connection import Connection
from cairn.stream.message import Message, Rows, encode
from cairn.stream.ports import Sink, Source

_QOS = 1
_ANSWER_TIMEOUT_S = 30.0  # for the broker's answers: CONNACK, SUBACK, PUBACK, UNSUBACK


class _Inbox:
    """What the network thread hands over: messages, and the ids of packets the broker
    answered. `put` waits while a batch is held, counting the messages fetched and not
    yet acknowledged, unless the loop waits for an answer that may come behind them."""

    def __init__(self) -> None:
        self._items: deque[Message] = deque()
        self._answers: set[int] = set()
        self._changed = threading.Condition()
        self._fetched = self._awaiting = 0
        self._closed = False
        self.limit = 1  # until the first fetch says how many a batch takes

    def put(self, message: Message) -> None:
        with self._changed:
            while (len(self._items) + self._fetched >= self.limit
                   and not (self._closed or self._awaiting)):
                self._changed.wait()
            if not self._closed:  # else unacknowledged: the session sends it again
                self._items.append(message)
                self._changed.notify_all()

    def take(self, count: int, timeout: float) -> list[Message]:
        deadline = time.monotonic() + timeout
        with self._changed:
            self.limit = count
            self._changed.notify_all()
            while len(self._items) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            batch = [self._items.popleft() for _ in range(min(count, len(self._items)))]
            self._fetched += len(batch)
            return batch

    def acknowledged(self, count: int) -> None:
        with self._changed:
            self._fetched = max(self._fetched - count, 0)
            self._changed.notify_all()

    def answered(self, mid: int) -> None:
        with self._changed:
            self._answers.add(mid)
            self._changed.notify_all()

    def wait_answer(self, mid: int | None) -> bool:
        """Whether the broker answered packet `mid` in time (None: it was never sent)."""
        if mid is None:
            return False
        with self._changed:
            self._awaiting += 1
            self._changed.notify_all()
            try:
                return self._changed.wait_for(lambda: mid in self._answers, _ANSWER_TIMEOUT_S)
            finally:
                self._awaiting -= 1
                self._answers.clear()  # an earlier answer nobody waited for included

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class MQTTSource(Source):
    """Subscribes one topic filter in a persistent session, acknowledging at commit."""

    _client: mqtt.Client | None = None
    _acknowledged = 0  # by this process: MQTT keeps no position to show

    def open(self) -> None:
        self._inbox = _Inbox()
        self._barrier = f"cairn/barrier/{uuid.uuid4().hex}"
        client = _client(self.connection, self.group, clean_session=False, manual_ack=True)
        client.on_message = self._receive
        client.on_subscribe = client.on_unsubscribe = (
            lambda _c, _u, mid, _codes, _p: self._inbox.answered(mid))
        self._client = client
        self.session_present = _connect(client, self.connection, self._subscribe)
        # Once subscribed, the session keeps what is published, whenever it is consumed.
        if not self._inbox.wait_answer(self._subscribed):
            self.close()
            raise _unanswered(f"the subscription to {self.settings.topic!r}")

    def _subscribe(self, client: mqtt.Client) -> None:
        # On every connection, reconnections included: the filter may have changed since
        # the session was made, and subscribing again is harmless.
        self._subscribed = client.subscribe(str(self.settings.topic), qos=_QOS)[1]

    def fetch(self, max_messages: int, max_wait: float) -> list[Message]:
        return self._inbox.take(max_messages, max_wait)

    def commit(self, messages: Sequence[Message]) -> None:
        client = self._client
        assert client is not None, "the MQTT source is closed"
        for message in messages:
            mid, qos = message.handle
            if qos > 0:  # QoS 0 deliveries have nothing to acknowledge
                client.ack(mid, qos)
        self._inbox.acknowledged(len(messages))
        # Nothing answers a PUBACK, and a process killed right after sending some can lose
        # them. The broker handles a connection's packets in order, so its answer to an
        # UNSUBSCRIBE (of a filter never subscribed) means it has taken the acknowledgements.
        if not self._inbox.wait_answer(client.unsubscribe(self._barrier)[1]):
            raise _unanswered("the acknowledgement of a batch (it comes again)")
        self._acknowledged += len(messages)

    def close(self) -> None:
        if self._client is None:
            return
        self._inbox.close()  # frees the network thread if it waits for room
        self._client.disconnect()
        self._client.loop_stop()
        self._client = None

    def position(self) -> dict[str, Any]:
        return {"acknowledged": self._acknowledged}

    def _receive(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(Message(value=bytes(message.payload), topic=message.topic,
                                position=str(message.mid), handle=(message.mid, message.qos)))


class MQTTSink(Sink):
    """Publishes each row as JSON at QoS 1, returning once the broker acknowledged them all."""

    _client: mqtt.Client | None = None

    def open(self) -> None:
        # A sink keeps no session: `write` waits for every acknowledgement before returning.
        client_id = f"{self.scope.group}-sink-{uuid.uuid4().hex[:8]}"
        self._client = _client(self.connection, client_id, clean_session=True,
                               manual_ack=False)
        _connect(self._client, self.connection)

    def write(self, rows: Rows) -> None:
        assert self._client is not None, "the MQTT sink is closed"
        topic = str(self.settings.topic)
        sent = [self._client.publish(topic, encode(record), qos=_QOS)
                for record in rows.records()]
        deadline = time.monotonic() + _ANSWER_TIMEOUT_S
        for info in sent:
            try:
                info.wait_for_publish(max(deadline - time.monotonic(), 0))
            except (RuntimeError, ValueError) as error:  # not connected; paho's queue full
                raise _unanswered(f"rows published to {topic!r} ({error})") from error
            if not info.is_published():
                raise _unanswered(f"rows published to {topic!r}")

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None


def _client(connection: Connection | None, client_id: str, *, clean_session: bool,
            manual_ack: bool) -> mqtt.Client:
    """A client for the connection's URL, credentials and options, not yet connected."""
    assert connection is not None, "the settings require an MQTT connection"
    url = urlsplit(str(connection.settings["url"]))
    options = dict(connection.settings.get("options") or {})
    options.pop("keepalive", None)
    # Checked before the call: a Client that fails to construct also fails to be collected.
    allowed = set(inspect.signature(mqtt.Client).parameters) - {
        "callback_api_version", "client_id", "clean_session", "protocol", "manual_ack"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise CairnError(Problem(
            "invalid-config", f"connection {connection.name!r}: unknown MQTT option(s) "
            f"{', '.join(unknown)}", hint="options are `keepalive` and keyword arguments of "
            "paho's Client: " + ", ".join(sorted(allowed))))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=clean_session, protocol=mqtt.MQTTv311,
                         manual_ack=manual_ack, **options)
    if url.username:
        client.username_pw_set(unquote(url.username),
                               unquote(url.password) if url.password else None)
    if url.scheme in ("mqtts", "ssl"):
        client.tls_set()
    return client


def _connect(client: mqtt.Client, connection: Connection | None,
             connected: Callable[[mqtt.Client], None] = lambda client: None) -> bool:
    """Connects and starts the network thread, calling `connected` on every connection;
    returns whether the broker had kept a session for the client id."""
    assert connection is not None
    url = urlsplit(str(connection.settings["url"]))
    keepalive = int((connection.settings.get("options") or {}).get("keepalive", 60))
    answered = threading.Event()
    answer: dict[str, Any] = {}

    def on_connect(c: mqtt.Client, _userdata: Any, flags: Any, code: Any, _p: Any) -> None:
        if not code.is_failure:
            connected(c)
        answer.update(code=code, session_present=flags.session_present)
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(url.hostname or "127.0.0.1",
                       url.port or (8883 if url.scheme in ("mqtts", "ssl") else 1883),
                       keepalive=keepalive)
    except OSError as error:
        raise _unreachable(connection, str(error)) from error
    client.loop_start()
    if not answered.wait(_ANSWER_TIMEOUT_S) or answer["code"].is_failure:
        client.disconnect()
        client.loop_stop()
        raise _unreachable(connection, str(answer.get("code", "no answer")))
    return bool(answer["session_present"])


def _unanswered(what: str) -> CairnError:
    return CairnError(Problem("broker-timeout", f"the MQTT broker did not answer {what} in "
                              f"{_ANSWER_TIMEOUT_S:.0f} s", hint="check that the broker is up"))


def _unreachable(connection: Connection, reason: str) -> CairnError:
    return CairnError(Problem(
        "unreachable", f"cannot connect to the MQTT broker of connection "
        f"{connection.name!r}: {reason}", hint="check the url (mqtt://user:password@host:1883)"))


SOURCE = MQTTSource
SINK = MQTTSink
