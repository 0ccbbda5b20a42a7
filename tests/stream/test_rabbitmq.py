"""RabbitMQ: the source and sink against the real broker, then through `cairn stream`."""

from __future__ import annotations

import json
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import (
    StreamProcess,
    assert_poison_set_aside,
    consume_all,
    count,
    crash_holding_a_batch,
    event,
    ids,
    kill_after_first_rows,
    numbers,
    query,
    stream_project,
)
from support import ProjectFolder, wait_until

from cairn.errors import CairnError
from cairn.io.connection import Connection
from cairn.project.streaming import SinkSettings, SourceSettings
from cairn.stream.message import Rows
from cairn.stream.ports import Sink, Source, StreamScope, make_sink, make_source

pika = pytest.importorskip("pika")

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
SCOPE = StreamScope("events", Path("."), Path("."))


@pytest.fixture
def channel() -> Iterator[Any]:
    """A raw channel to the broker, for publishing, inspecting and cleaning up."""
    try:
        client = pika.BlockingConnection(pika.URLParameters(URL))
    except pika.exceptions.AMQPConnectionError:
        pytest.skip("RabbitMQ is not reachable at 127.0.0.1:5672")
    yield client.channel()
    client.close()


@pytest.fixture
def queue(channel: Any) -> Iterator[str]:
    name = f"cairn-test-{secrets.token_hex(4)}"
    yield name
    channel.queue_delete(name)


def _connection(**options: Any) -> Connection:
    return Connection("broker", "rabbitmq", {"url": URL, "options": options})


def _source(queue: str, **options: Any) -> Source:
    settings = SourceSettings(kind="rabbitmq", connection="broker", topic=queue,
                              options=options)
    source = make_source(settings, _connection(), SCOPE)
    source.open()
    return source


def _sink(topic: str, key: list[str] | None = None, **options: Any) -> Sink:
    settings = SinkSettings(connection="broker", topic=topic, key=key or [])
    sink = make_sink(settings, _connection(**options), SCOPE)
    sink.open()
    return sink


def _publish(channel: Any, queue: str, numbers: range, **extra: Any) -> None:
    channel.queue_declare(queue, durable=True)
    for number in numbers:
        channel.basic_publish("", queue, event(number, **extra),
                              pika.BasicProperties(delivery_mode=2))


def _queue_state(channel: Any, queue: str) -> tuple[int, int]:
    """(messages ready, consumers) as the broker reports them."""
    method = channel.queue_declare(queue, passive=True).method
    return method.message_count, method.consumer_count


def test_committed_messages_are_gone_and_close_leaves_no_consumer(
        channel: Any, queue: str) -> None:
    _publish(channel, queue, range(25))
    source = _source(queue)
    assert source.lag() == 25
    assert consume_all(source) == list(range(25))
    assert source.position() == {"acknowledged": 25}
    assert source.lag() == 0
    assert _queue_state(channel, queue) == (0, 1)
    source.close()

    assert _queue_state(channel, queue) == (0, 0)
    again = _source(queue)
    assert again.fetch(10, 0.5) == []
    again.close()


def test_a_batch_closed_without_commit_comes_back_first(channel: Any, queue: str) -> None:
    _publish(channel, queue, range(20))
    source = _source(queue)
    first = source.fetch(5, 2.0)
    assert numbers(first) == [0, 1, 2, 3, 4]
    source.close()  # without acknowledging: RabbitMQ requeues them

    again = _source(queue)
    assert consume_all(again, batch=5) == list(range(20))
    again.close()


def test_a_killed_consumer_s_batch_is_delivered_again(channel: Any, queue: str) -> None:
    _publish(channel, queue, range(30))
    crash_holding_a_batch("rabbitmq", URL, queue)

    source = _source(queue)
    assert consume_all(source) == list(range(10, 30))  # the killed batch first, in order
    source.close()


def test_the_prefetch_holds_no_more_than_a_batch_beyond_what_was_committed(
        channel: Any, queue: str) -> None:
    _publish(channel, queue, range(100))
    source = _source(queue)
    batch = source.fetch(10, 2.0)
    assert len(batch) == 10
    # Without a commit the broker sends nothing more: the next fetch waits and finds none.
    assert source.fetch(10, 0.5) == []
    assert _queue_state(channel, queue)[0] == 90
    assert source.lag() == 100
    source.commit(batch)
    assert numbers(source.fetch(10, 2.0)) == list(range(10, 20))
    source.close()


def test_message_fields_come_from_the_delivery(channel: Any, queue: str) -> None:
    channel.queue_declare(queue, durable=True)
    channel.basic_publish("", queue, b"not json", pika.BasicProperties(
        timestamp=1_700_000_000, message_id="m-1", headers={"origin": "test"}))
    source = _source(queue)
    [message] = source.fetch(1, 2.0)
    assert (message.value, message.key, message.topic) == (b"not json", b"m-1", queue)
    assert (message.timestamp, message.headers, message.position) == (
        1_700_000_000.0, {"origin": "test"}, "1")
    source.commit([message])
    source.close()


def test_the_sink_writes_persistent_messages_a_raw_consumer_reads(
        channel: Any, queue: str) -> None:
    sink = _sink(queue, key=["id"])
    sink.write(Rows([{"id": n, "amount": n * 2} for n in range(12)]))
    sink.write(Rows([]))
    sink.close()

    received = []
    while (answer := channel.basic_get(queue, auto_ack=True))[0] is not None:
        _, properties, body = answer
        received.append((json.loads(body), properties.delivery_mode, properties.message_id))
    assert received == [({"id": n, "amount": n * 2}, 2, str(n)) for n in range(12)]


def test_an_exchange_sink_reaches_a_bound_source_and_refuses_unroutable_rows(
        channel: Any, queue: str) -> None:
    routing_key = f"key-{queue}"
    source = _source(queue, bind={"exchange": "amq.direct", "routing_key": routing_key})
    sink = _sink(routing_key, exchange="amq.direct")
    sink.write(Rows([{"id": 1}, {"id": 2}]))
    assert consume_all(source) == [1, 2]
    source.close()

    nowhere = _sink(f"nowhere-{queue}", exchange="amq.direct")
    with pytest.raises(CairnError, match="routed 1 row"):
        nowhere.write(Rows([{"id": 3}]))
    nowhere.close()
    sink.close()


def test_a_missing_queue_it_may_not_declare_is_a_clear_error(queue: str) -> None:
    with pytest.raises(CairnError, match=f"refused queue '{queue}'"):
        _source(queue, declare=False)


def test_an_unreachable_broker_and_unknown_options_are_clear_errors(queue: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens on it once closed
    closed = Connection("broker", "rabbitmq", {"url": f"amqp://127.0.0.1:{port}/%2F"})
    settings = SourceSettings(kind="rabbitmq", connection="broker", topic=queue)
    with pytest.raises(CairnError, match="cannot connect to RabbitMQ"):
        make_source(settings, closed, SCOPE).open()
    with pytest.raises(CairnError, match="unknown RabbitMQ option 'colour'"):
        _sink(queue, colour="blue")


# Through `cairn stream` into PostgreSQL.

def _project(project: ProjectFolder, schema: str, queue: str, mode: str = "append") -> None:
    stream_project(project, schema, f"kind: rabbitmq\nurl: {URL}",
                   f"kind: rabbitmq\nconnection: broker\ntopic: {queue}", mode)


def test_events_become_rows_and_a_clean_stop_leaves_no_consumer(
        project: ProjectFolder, pg_schema: str, channel: Any, queue: str) -> None:
    _project(project, pg_schema, queue)
    _publish(channel, queue, range(1, 501))
    stream = StreamProcess(project.root)
    wait_until(lambda: count(pg_schema) == 500, what="500 rows")
    _publish(channel, queue, range(501, 601))  # arrive while it runs
    wait_until(lambda: count(pg_schema) == 600, what="600 rows")
    assert stream.stop() == 0, stream.output()

    assert ids(pg_schema) == list(range(1, 601))
    assert query(pg_schema, "SELECT sum(amount) FROM doubled")[0][0] == 2 * sum(range(601))
    assert _queue_state(channel, queue) == (0, 0)


def test_sigkill_mid_flow_loses_nothing_and_upsert_leaves_no_duplicates(
        project: ProjectFolder, pg_schema: str, channel: Any, queue: str) -> None:
    _project(project, pg_schema, queue, mode="upsert")
    _publish(channel, queue, range(1, 3001))
    kill_after_first_rows(project.root, pg_schema, 3000)

    second = StreamProcess(project.root, "events", "--stop-when-idle", "2")
    assert second.wait() == 0, second.output()
    assert ids(pg_schema) == list(range(1, 3001))  # none lost, none twice
    assert _queue_state(channel, queue) == (0, 0)


def test_a_poison_message_goes_to_the_dead_letters_and_the_stream_goes_on(
        project: ProjectFolder, pg_schema: str, channel: Any, queue: str) -> None:
    _project(project, pg_schema, queue)
    _publish(channel, queue, range(1, 21))
    _publish(channel, queue, range(21, 22), poison=True)
    _publish(channel, queue, range(22, 41))
    stream = StreamProcess(project.root, "events", "--stop-when-idle", "1.5")
    assert stream.wait() == 0, stream.output()

    assert_poison_set_aside(pg_schema)
