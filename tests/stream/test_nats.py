"""NATS JetStream: the adapters against the real server, then a real `cairn stream` process
into PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from harness import (
    StreamProcess,
    assert_poison_set_aside,
    count,
    event,
    ids,
    kill_after_first_rows,
    query,
    stream_project,
)
from support import ProjectFolder, wait_until

pytest.importorskip("nats")

import nats
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig

from cairn.errors import CairnError
from cairn.io.connection import Connection
from cairn.project.streaming import SinkSettings, SourceSettings
from cairn.stream.message import Rows
from cairn.stream.nats import NatsSink, NatsSource
from cairn.stream.nats_pull import parse_reply
from cairn.stream.ports import StreamScope

URL = "nats://127.0.0.1:4222"
CONNECTION = Connection("broker", "nats", {"url": URL})


@dataclass
class Subject:
    """A stream of the test's own, named after its one subject."""

    subject: str
    stream: str

    async def _call(self, action: Any) -> Any:
        client = await nats.connect(URL)
        try:
            return await action(client.jetstream())
        finally:
            await client.close()

    def call(self, action: Any) -> Any:
        return asyncio.run(self._call(action))

    def publish(self, values: list[bytes]) -> None:
        async def publish(js: Any) -> None:
            acks = [await js.publish_async(self.subject, value) for value in values]
            await asyncio.gather(*acks)

        self.call(publish)

    def consumer(self, name: str) -> Any:
        async def info(js: Any) -> Any:
            return await js.consumer_info(self.stream, name)

        return self.call(info)

    def read_all(self) -> list[Any]:
        async def read(js: Any) -> list[Any]:
            info = await js.stream_info(self.stream)
            return [await js.get_msg(self.stream, seq)
                    for seq in range(info.state.first_seq, info.state.last_seq + 1)]

        return self.call(read)


@pytest.fixture
def new_subject() -> Iterator[Subject]:
    """A subject no stream holds yet; the stream made for it, if any, goes at the end."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 4222)) != 0:
            pytest.skip("NATS is not reachable at 127.0.0.1:4222")
    tag = secrets.token_hex(4)
    made = Subject(f"cairn.test.{tag}", f"cairn_test_{tag}")
    yield made

    async def delete(js: Any) -> None:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(made.stream)

    made.call(delete)


@pytest.fixture
def subject(new_subject: Subject) -> Subject:
    """A subject and its stream, of the test's own."""
    async def create(js: Any) -> None:
        await js.add_stream(name=new_subject.stream, subjects=[new_subject.subject])

    new_subject.call(create)
    return new_subject


def _source(subject: Subject, tmp_path: Path, **options: Any) -> NatsSource:
    settings = SourceSettings(kind="nats", connection="broker", topic=subject.subject,
                              options=options)
    source = NatsSource(settings, CONNECTION, StreamScope("events", tmp_path, tmp_path))
    source.open()
    return source


def _values(messages: list[Any]) -> list[int]:
    return [json.loads(m.value)["id"] for m in messages]


def _drain(source: NatsSource, expected: int) -> list[Any]:
    """Fetches until `expected` messages came, or a fetch brings none."""
    messages: list[Any] = []
    while len(messages) < expected:
        batch = source.fetch(expected - len(messages), 1.0)
        if not batch:
            break
        messages += batch
    return messages


def test_committed_messages_are_not_read_again_by_the_same_durable(
        subject: Subject, tmp_path: Path) -> None:
    subject.publish([event(n) for n in range(1, 11)])
    source = _source(subject, tmp_path)
    assert source.lag() == 10
    messages = _drain(source, 10)
    assert _values(messages) == list(range(1, 11))
    assert [m.position for m in messages] == [str(n) for n in range(1, 11)]
    assert all(m.timestamp and m.topic == subject.subject for m in messages)
    source.commit(messages)
    assert source.position() == {"stream_sequence": 10}
    assert source.lag() == 0
    source.close()

    again = _source(subject, tmp_path)
    assert again.position() == {"stream_sequence": 10}  # the durable kept it
    assert again.fetch(10, 0.3) == []
    again.close()
    info = subject.consumer("cairn-events")
    assert (info.num_ack_pending, info.num_pending, info.num_waiting) == (0, 0, 0)


def test_messages_held_at_close_come_back_first(subject: Subject, tmp_path: Path) -> None:
    subject.publish([event(n) for n in range(1, 6)])
    source = _source(subject, tmp_path)
    first = _drain(source, 3)
    assert _values(first) == [1, 2, 3]
    source.close()  # without commit: they go back at once

    subject.publish([event(6)])
    again = _source(subject, tmp_path)
    messages = _drain(again, 6)
    assert _values(messages) == [1, 2, 3, 4, 5, 6]
    again.commit(messages)
    again.close()


def test_messages_of_a_crashed_consumer_come_back_after_ack_wait(
        subject: Subject, tmp_path: Path) -> None:
    subject.publish([event(n) for n in range(1, 5)])
    crashed = _source(subject, tmp_path, ack_wait=1)
    assert _values(_drain(crashed, 4)) == [1, 2, 3, 4]
    # As a crash would: the connection just ends, nothing acknowledged or given back.
    crashed._held.clear()
    crashed.close()

    source = _source(subject, tmp_path, ack_wait=1)
    messages: list[Any] = []
    # Nothing until their ack_wait is over, then all of them (a slow machine may see one
    # again if a second passes before the commit).
    for _ in range(20):
        if len({m.position for m in messages}) == 4:
            break
        messages += source.fetch(4, 0.5)
    assert sorted(set(_values(messages))) == [1, 2, 3, 4]
    assert all(m.position in "1234" for m in messages)
    source.commit(messages)
    source.close()
    assert subject.consumer("cairn-events").num_ack_pending == 0


def test_what_a_crashed_consumer_held_comes_back_before_anything_newer(
        subject: Subject, tmp_path: Path) -> None:
    # Each id twice: its old value (sequences 1-10), then its new one (11-20).
    subject.publish([event(n, version="old") for n in range(1, 11)]
                    + [event(n, version="new") for n in range(1, 11)])
    settings = SourceSettings(kind="nats", connection="broker", topic=subject.subject,
                              options={"ack_wait": 1})
    scope = StreamScope("events", tmp_path, tmp_path, batch_size=10)  # as `cairn stream`
    # The consumer as an earlier version made it, allowing 1,000,000 unacknowledged.
    crashed = NatsSource(settings, CONNECTION, StreamScope("events", tmp_path, tmp_path))
    crashed.open()
    assert _values(_drain(crashed, 10)) == list(range(1, 11))
    crashed._held.clear()  # as a crash would: nothing acknowledged or given back
    crashed.close()

    source = NatsSource(settings, CONNECTION, scope)
    source.open()
    assert subject.consumer("cairn-events").config.max_ack_pending == 10
    first: list[Any] = []
    wait_until(lambda: bool(first.extend(source.fetch(10, 0.2)) or first),
               what="the first batch of the next consumer")
    # The old values come again first (after their ack_wait), not after the new ones,
    # which an upsert would then overwrite with them.
    assert {json.loads(m.value)["version"] for m in first} == {"old"}
    source.commit(first)
    source.close()


def _late_arrivals(subject: Subject, tmp_path: Path, total: int) -> tuple[NatsSource, list[Any]]:
    """A source whose first fetch gave up (after 2 ms) while the server was still sending
    the batch it asked for: the fetch's messages, and all `total` delivered to the source."""
    padding = "x" * 1000  # the client reads these for longer than the fetch waits
    subject.publish([event(n, padding=padding) for n in range(1, total + 1)])
    source = _source(subject, tmp_path, ack_wait=60)
    first = source.fetch(total, 0.002)
    wait_until(lambda: subject.consumer("cairn-events").num_ack_pending == total,
               what=f"all {total} delivered")
    assert len(first) < total, "the fetch took everything: nothing arrived after it"
    return source, first


def test_what_arrives_after_a_fetch_gave_up_comes_with_the_next_fetch(
        subject: Subject, tmp_path: Path) -> None:
    source, first = _late_arrivals(subject, tmp_path, 2000)
    rest = source.fetch(2000 - len(first), 1.0)
    assert _values(first + rest) == list(range(1, 2001))  # in order, none twice
    # Nothing more was asked of the server while the late ones were waiting.
    assert subject.consumer("cairn-events").num_ack_pending == 2000
    source.commit(first + rest)
    source.close()
    info = subject.consumer("cairn-events")
    assert (info.num_ack_pending, info.num_pending, info.num_waiting) == (0, 0, 0)


def test_what_arrives_after_a_fetch_gave_up_goes_back_at_close(
        subject: Subject, tmp_path: Path) -> None:
    source, _ = _late_arrivals(subject, tmp_path, 2000)
    source.close()  # the fetched and the arrived, neither committed, go back at once

    # The next consumer gets all of them now, not after their 60 s ack_wait: a fetch
    # waiting a second for the first of them would otherwise end the drain empty.
    again = _source(subject, tmp_path, ack_wait=60)
    messages = _drain(again, 2000)
    assert _values(messages) == list(range(1, 2001))
    again.commit(messages)
    again.close()
    assert subject.consumer("cairn-events").num_ack_pending == 0


def test_a_request_the_consumer_refuses_is_a_clear_error(subject: Subject,
                                                        tmp_path: Path) -> None:
    async def create() -> None:  # a consumer that hands out at most 5 messages a request
        client = await nats.connect(URL)
        config = {"durable_name": "cairn-events", "ack_policy": "explicit",
                  "filter_subject": subject.subject, "max_batch": 5}
        await client.request(
            f"$JS.API.CONSUMER.DURABLE.CREATE.{subject.stream}.cairn-events",
            json.dumps({"stream_name": subject.stream, "config": config}).encode())
        await client.close()

    asyncio.run(create())
    subject.publish([event(n) for n in range(1, 11)])
    source = _source(subject, tmp_path)
    with pytest.raises(CairnError, match="409 Exceeded MaxRequestBatch of 5"):
        source.fetch(10, 0.5)
    assert _values(source.fetch(5, 0.5)) == [1, 2, 3, 4, 5]
    source.close()


def test_a_request_refused_for_a_moment_waits_instead_of_failing(
        subject: Subject, tmp_path: Path) -> None:
    async def create(js: Any) -> None:  # a consumer taking one waiting request at a time
        await js.add_consumer(subject.stream, ConsumerConfig(
            durable_name="cairn-events", ack_policy=AckPolicy.EXPLICIT,
            filter_subject=subject.subject, max_waiting=1))

    subject.call(create)
    first = _source(subject, tmp_path)
    second = _source(subject, tmp_path)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(first.fetch, 10, 3.0)
        wait_until(lambda: subject.consumer("cairn-events").num_waiting == 1,
                   what="the first source's request")
        assert second.fetch(10, 0.3) == []  # 409 Exceeded MaxWaiting: no error
        assert second._pull is not None and second._pull._requests == 1  # nor asked again
        subject.publish([event(n) for n in range(1, 4)])
        assert _values(waiting.result()) == [1, 2, 3]
    first.close()
    second.close()


@pytest.mark.parametrize(("reply", "sequence", "stored"), [
    ("$JS.ACK.orders.cairn-events.1.57.12.1700000000250000000.3", "57", 1700000000.25),
    ("$JS.ACK.hub.ACCOUNTHASH.orders.cairn-events.2.57.12.1700000000250000000.3",
     "57", 1700000000.25),
    ("$JS.ACK.hub.ACCOUNTHASH.orders.cairn-events.2.57.12.1700000000250000000.3.x7Yz",
     "57", 1700000000.25),
])
def test_a_reply_subject_gives_the_sequence_and_time(reply: str, sequence: str,
                                                     stored: float) -> None:
    assert parse_reply(reply) == (sequence, pytest.approx(stored))


@pytest.mark.parametrize("reply", ["_INBOX.abc", "$JS.ACK.orders.cairn-events.1.57", ""])
def test_a_reply_subject_of_another_kind_is_refused(reply: str) -> None:
    with pytest.raises(ValueError, match="not the reply subject of a JetStream message"):
        parse_reply(reply)


def test_a_fetch_never_brings_more_than_asked(subject: Subject, tmp_path: Path) -> None:
    subject.publish([event(n) for n in range(1, 101)])
    source = _source(subject, tmp_path)
    batch = source.fetch(7, 0.5)
    assert 1 <= len(batch) <= 7
    assert subject.consumer("cairn-events").num_ack_pending == len(batch)
    source.close()


def test_sample_peeks_at_the_newest_without_consuming(subject: Subject,
                                                      tmp_path: Path) -> None:
    subject.publish([event(n) for n in range(1, 21)])
    settings = SourceSettings(kind="nats", connection="broker", topic=subject.subject)
    unopened = NatsSource(settings, CONNECTION, StreamScope("events", tmp_path, tmp_path))
    sample = unopened.sample(5)  # as the notebook does, without `open`
    assert _values(sample) == [16, 17, 18, 19, 20]
    assert [m.position for m in sample] == ["16", "17", "18", "19", "20"]
    with pytest.raises(nats.js.errors.NotFoundError):  # no consumer made for it
        subject.consumer("cairn-events")

    source = _source(subject, tmp_path)
    assert _values(source.sample(50)) == list(range(1, 21))
    assert source.lag() == 20
    assert _values(_drain(source, 20)) == list(range(1, 21))
    source.close()


def test_a_missing_stream_is_created_unless_refused(new_subject: Subject,
                                                    tmp_path: Path) -> None:
    settings = SourceSettings(kind="nats", connection="broker", topic=new_subject.subject,
                              options={"create_stream": False})
    scope = StreamScope("events", tmp_path, tmp_path)
    with pytest.raises(CairnError, match="no JetStream stream holds subject"):
        NatsSource(settings, CONNECTION, scope).open()
    source = NatsSource(settings.model_copy(update={"options": {}}), CONNECTION, scope)
    source.open()
    assert source.stream == new_subject.stream  # named after the subject
    source.close()
    assert new_subject.consumer("cairn-events").config.filter_subject == new_subject.subject


def test_the_sink_stores_every_row_with_its_key(subject: Subject, tmp_path: Path) -> None:
    settings = SinkSettings(connection="broker", topic=subject.subject, key=["id"])
    sink = NatsSink(settings, CONNECTION, StreamScope("events", tmp_path, tmp_path))
    sink.open()
    sink.write(Rows([{"id": n, "amount": n * 2} for n in range(1, 251)]))
    sink.write(Rows([]))
    sink.close()

    stored = subject.read_all()
    assert [json.loads(m.data) for m in stored] == [
        {"id": n, "amount": n * 2} for n in range(1, 251)]
    assert stored[0].headers["Cairn-Key"] == "[1]"


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connection = Connection("broker", "nats", {"url": f"nats://127.0.0.1:{port}",
                                               "options": {"max_reconnect_attempts": 1}})
    settings = SourceSettings(kind="nats", connection="broker", topic="cairn.nowhere")
    with pytest.raises(CairnError, match="cannot connect to NATS"):
        NatsSource(settings, connection, StreamScope("events", tmp_path, tmp_path)).open()


def _project(project: ProjectFolder, schema: str, subject: Subject, mode: str = "append",
             ack_wait: float = 30) -> None:
    stream_project(project, schema, f"kind: nats\nurl: {URL}",
                   f"kind: nats\nconnection: broker\ntopic: {subject.subject}\n"
                   f"options: {{ack_wait: {ack_wait}}}", mode)


def test_events_become_rows_and_a_clean_stop_leaves_no_pull_waiting(
        project: ProjectFolder, pg_schema: str, subject: Subject, cli: Any) -> None:
    _project(project, pg_schema, subject)
    subject.publish([event(n) for n in range(1, 501)])
    stream = StreamProcess(project.root)
    wait_until(lambda: count(pg_schema) == 500, what="500 rows")
    subject.publish([event(n) for n in range(501, 601)])  # arrive while it runs
    wait_until(lambda: count(pg_schema) == 600, what="600 rows")
    assert stream.stop() == 0, stream.output()
    assert not stream.running()

    assert ids(pg_schema) == list(range(1, 601))
    assert query(pg_schema, "SELECT sum(amount) FROM doubled")[0][0] == 2 * sum(range(601))
    info = subject.consumer("cairn-events")
    assert (info.num_waiting, info.num_ack_pending, info.num_pending) == (0, 0, 0)
    shown = cli.run("checkpoints", "events", cwd=project.root)
    assert "stream_sequence" in shown.stdout, shown.stdout + shown.stderr


def test_sigkill_mid_flow_loses_nothing_and_upsert_leaves_no_duplicates(
        project: ProjectFolder, pg_schema: str, subject: Subject) -> None:
    # What the killed process held comes back once a short ack_wait has passed.
    _project(project, pg_schema, subject, mode="upsert", ack_wait=2)
    subject.publish([event(n) for n in range(1, 3001)])
    kill_after_first_rows(project.root, pg_schema, 3000)

    second = StreamProcess(project.root)
    wait_until(lambda: count(pg_schema) == 3000, what="all 3,000 rows")
    assert second.stop() == 0, second.output()
    assert ids(pg_schema) == list(range(1, 3001))  # none lost, none twice
    assert subject.consumer("cairn-events").num_ack_pending == 0


def test_a_poison_message_goes_to_the_dead_letters_and_the_stream_goes_on(
        project: ProjectFolder, pg_schema: str, subject: Subject) -> None:
    _project(project, pg_schema, subject)
    subject.publish([event(n) for n in range(1, 21)])
    subject.publish([event(21, poison=True)])
    subject.publish([event(n) for n in range(22, 41)])
    stream = StreamProcess(project.root, "events", "--stop-when-idle", "1.5")
    assert stream.wait() == 0, stream.output()

    assert_poison_set_aside(pg_schema)
    assert "dead letter" in stream.output()
