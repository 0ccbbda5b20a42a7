"""NATS JetStream: a durable pull consumer as a source, JetStream publishes as a sink.

The source is the durable consumer named by the group (default `cairn-<pipeline>`) with
explicit acknowledgements, filtered on the source's `topic` (a subject, wildcards
allowed). It pulls one micro-batch at a time, so the server never sends more than a
batch beyond what was acknowledged. Messages a crashed process held are sent again once
their `ack_wait` has passed; those a process held when it closed are sent again at once.

The connection's `options` are keyword arguments of `nats.connect` (`user`, `password`,
`token`, `tls`, ...). The source's own `options`: `stream` (the stream holding the
subject; default: the one whose subjects cover it), `create_stream` (default true: create
a stream for the subject when none covers it), and, for a consumer still to be created,
`ack_wait` (seconds; the server's default is 30) and `max_ack_pending` (default: the
pipeline's `batch.max_messages`, to which a consumer allowing more is lowered at start).
The server then never hands out a message while a batch's worth is unacknowledged, so
what a crashed process held comes back before any newer message: a key's older value is
never written after its newer one.
A sink publishes to its `topic`, with the row's `key` columns in the `Cairn-Key` header.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from cairn.errors import CairnError, Problem
from cairn.stream.message import Message, Rows, encode
from cairn.stream.nats_client import TIMEOUT, Session, stream_for
from cairn.stream.nats_pull import KEY_HEADER, Pull
from cairn.stream.ports import Sink, Source

_MAX_ACK_PENDING = 1_000_000  # a source used outside a stream: any batch it may ask for
_SAMPLE_SCAN = 20  # sample reads at most this many messages per one it returns


def _matches(pattern: str, subject: str) -> bool:
    """Whether a subject is one a filter subject (with `*` and `>`) covers."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or token not in ("*", tokens[index]):
            return False
    return len(tokens) == len(wanted)


class NatsSource(Source):
    """Fetches from a durable pull consumer; acknowledges every message at commit."""

    _session: Session | None = None
    _pull: Pull | None = None
    _acked: int | None = None

    def open(self) -> None:
        self.subject = str(self.settings.topic)
        self._held: dict[str, str] = {}  # fetched, not yet acknowledged: reply by sequence
        self._session = Session(self.connection, self.scope, "source")
        try:
            self._session.run(self._open(self._session.client, self._session.js))
        except BaseException:
            self.close()
            raise

    async def _open(self, client: Client, js: JetStreamContext) -> None:
        options = self.settings.options
        self.stream = await stream_for(js, self.subject, options)
        try:
            info = await js.consumer_info(self.stream, self.group)
        except nats.js.errors.NotFoundError:
            info = await js.add_consumer(self.stream, ConsumerConfig(
                durable_name=self.group, ack_policy=AckPolicy.EXPLICIT,
                filter_subject=self.subject, ack_wait=options.get("ack_wait"),
                max_ack_pending=options.get("max_ack_pending",
                                            self.scope.batch_size or _MAX_ACK_PENDING)))
        if info.config.filter_subject != self.subject:
            raise CairnError(Problem(
                "consumer-taken", f"JetStream consumer {self.group} on stream {self.stream} "
                f"reads {info.config.filter_subject or 'every subject'}, not {self.subject}",
                hint="give the source another `group`"))
        batch = self.scope.batch_size
        if ("max_ack_pending" not in options and batch
                and (info.config.max_ack_pending or 0) > batch):
            # A consumer made before (or for larger batches) would hand out newer messages
            # while a crashed process's batch waits for its ack_wait.
            info = await js.add_consumer(self.stream, dataclasses.replace(
                info.config, max_ack_pending=batch))
        self._acked = info.ack_floor.stream_seq if info.ack_floor else None
        self._pull = Pull(client, self.stream, self.group)
        await self._pull.start()

    def _opened(self) -> tuple[Session, Pull]:
        if self._session is None or self._pull is None:
            raise RuntimeError("the NATS source is not open")
        return self._session, self._pull

    def fetch(self, max_messages: int, max_wait: float) -> list[Message]:
        session, pull = self._opened()
        try:
            messages = session.run(pull.fetch(max_messages, max_wait), max_wait)
        except nats.errors.Error as error:
            raise _failed(f"fetching from consumer {self.group}", error) from None
        self._held.update((m.position, m.handle) for m in messages)
        return messages

    def commit(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        session, _ = self._opened()
        try:
            session.run(_ack(session.client, [m.handle for m in messages]))
        except (TimeoutError, nats.errors.Error) as error:
            raise _failed("acknowledging the batch", error) from None
        for message in messages:
            self._held.pop(message.position, None)
        self._acked = max(int(m.position) for m in messages)

    def position(self) -> dict[str, Any]:
        return {"stream_sequence": self._acked} if self._acked else {}

    def lag(self) -> int | None:
        session, _ = self._opened()
        try:
            info = session.run(session.js.consumer_info(self.stream, self.group))
            return int(info.num_pending)
        except (TimeoutError, nats.errors.Error):
            return None  # unknown for now; the next fetch says what is wrong

    def sample(self, count: int) -> list[Message]:
        if self._session is not None:
            return self._session.run(self._sample(self._session.js, count))
        # Not open (a block tried in the notebook): a connection of its own, and neither
        # stream nor consumer made.
        session = Session(self.connection, self.scope, "sample")
        try:
            return session.run(self._sample(session.js, count))
        finally:
            session.close()

    async def _sample(self, js: JetStreamContext, count: int) -> list[Message]:
        subject = str(self.settings.topic)
        stream = await stream_for(js, subject, {**self.settings.options, "create_stream": False})
        state = (await js.stream_info(stream)).state
        found: list[Message] = []
        sequence = state.last_seq
        while len(found) < count and sequence >= max(state.first_seq, 1) \
                and state.last_seq - sequence < count * _SAMPLE_SCAN:
            try:
                raw = await js.get_msg(stream, sequence)
            except nats.js.errors.NotFoundError:  # deleted since
                raw = None
            if raw is not None and raw.subject and _matches(subject, raw.subject):
                headers = dict(raw.headers or {})
                key = headers.get(KEY_HEADER)
                found.append(Message(raw.data or b"", key.encode() if key else None, headers,
                                     raw.subject, str(sequence), None))
            sequence -= 1
        return found[::-1]

    def close(self) -> None:
        session, self._session = self._session, None
        pull, self._pull = self._pull, None
        if session is not None:
            held, self._held = list(self._held.values()), {}
            # What this process held goes back at once, rather than after `ack_wait`.
            session.close(pull.release(held) if pull is not None else None)


def _failed(what: str, error: Exception) -> CairnError:
    return CairnError(Problem("broker-error", f"NATS JetStream: {what} failed: "
                              f"{error or type(error).__name__}"))


async def _ack(client: Client, replies: list[str]) -> None:
    # The server handles a consumer's acknowledgements in the order they arrive and answers
    # one sent as a request after handling it: that answer confirms the whole batch.
    for reply in replies[:-1]:
        await client.publish(reply, b"+ACK")
    await client.request(replies[-1], b"+ACK", timeout=TIMEOUT)


class NatsSink(Sink):
    """Publishes each row as JSON to the subject and waits for JetStream to store all."""

    _session: Session | None = None

    def open(self) -> None:
        self.subject = str(self.settings.topic)
        self._session = Session(self.connection, self.scope, "sink")
        try:
            self._session.run(stream_for(self._session.js, self.subject, {}))
        except BaseException:
            self.close()
            raise

    def write(self, rows: Rows) -> None:
        if not len(rows):
            return
        if self._session is None:
            raise RuntimeError("the NATS sink is not open")
        try:
            self._session.run(self._publish(self._session.js, rows.records()))
        except (TimeoutError, nats.errors.Error) as error:
            raise _failed(f"storing the batch on {self.subject}", error) from None

    async def _publish(self, js: JetStreamContext, records: list[dict[str, Any]]) -> None:
        # Published without waiting for each, then every acknowledgement awaited.
        acks = []
        for record in records:
            headers = ({KEY_HEADER: encode([record.get(k) for k in self.settings.key]).decode()}
                       if self.settings.key else None)
            acks.append(await js.publish_async(self.subject, encode(record), headers=headers))
        await asyncio.wait_for(asyncio.gather(*acks), TIMEOUT)

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()


SOURCE = NatsSource
SINK = NatsSink
