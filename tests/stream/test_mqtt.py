"""MQTT: the source and sink against the real broker (Mosquitto), then through
`cairn stream`."""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
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
from cairn.stream.ports import Sink, StreamScope, make_sink, make_source

mqtt = pytest.importorskip("paho.mqtt.client")
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402 - after the skip above

from cairn.stream.mqtt import MQTTSource  # noqa: E402 - needs paho

URL = "mqtt://127.0.0.1:1883"
CONNECTION = Connection("broker", "mqtt", {"url": URL})
SCOPE = StreamScope("events", Path("."), Path("."))


@dataclass
class Names:
    topic: str
    group: str  # the source's client id, whose session the broker keeps


def _raw(client_id: str = "") -> Any:
    """A connected client with a clean session."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=True, protocol=mqtt.MQTTv311)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    assert connected.wait(10), "no CONNACK from the broker"
    return client


def _forget(client_id: str) -> None:
    """Ends the broker's session of a client id: connecting clean discards it."""
    client = _raw(client_id)
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def names() -> Iterator[Names]:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError:
        pytest.skip("the MQTT broker is not reachable at 127.0.0.1:1883")
    token = secrets.token_hex(4)
    names = Names(f"cairn-test/{token}/events", f"cairn-test-{token}")
    yield names
    _forget(names.group)


def _source(names: Names) -> MQTTSource:
    settings = SourceSettings(kind="mqtt", connection="broker", topic=names.topic,
                              group=names.group)
    source = make_source(settings, CONNECTION, SCOPE)
    assert isinstance(source, MQTTSource)
    source.open()
    return source


def _sink(topic: str) -> Sink:
    sink = make_sink(SinkSettings(connection="broker", topic=topic), CONNECTION, SCOPE)
    sink.open()
    return sink


def _publish(topic: str, numbers: range, **extra: Any) -> None:
    client = _raw()
    for info in [client.publish(topic, event(n, **extra), qos=1) for n in numbers]:
        info.wait_for_publish(10)
        assert info.is_published()
    client.disconnect()
    client.loop_stop()


def _subscribe(names: Names) -> None:
    """Makes the source's session on the broker, as a stream's first start would: only a
    session that exists keeps what is published while its consumer is away."""
    _source(names).close()


def test_committed_messages_are_not_delivered_again(names: Names) -> None:
    source = _source(names)
    _publish(names.topic, range(25))
    assert consume_all(source) == list(range(25))
    assert source.position() == {"acknowledged": 25}
    source.close()

    again = _source(names)
    assert again.session_present
    assert again.fetch(10, 0.5) == []
    again.close()


def test_messages_published_while_away_wait_in_the_session(names: Names) -> None:
    _subscribe(names)
    _publish(names.topic, range(30))
    source = _source(names)
    assert consume_all(source) == list(range(30))
    source.close()


def test_a_batch_closed_without_commit_comes_back_first(names: Names) -> None:
    source = _source(names)
    _publish(names.topic, range(20))
    assert numbers(source.fetch(5, 2.0)) == [0, 1, 2, 3, 4]
    source.close()  # without acknowledging: the session keeps them

    again = _source(names)
    assert consume_all(again, batch=5) == list(range(20))
    again.close()


def test_a_killed_consumer_s_batch_is_delivered_again(names: Names) -> None:
    _subscribe(names)
    _publish(names.topic, range(30))
    crash_holding_a_batch("mqtt", URL, names.topic, names.group)

    source = _source(names)
    assert consume_all(source) == list(range(10, 30))  # the killed batch first, in order
    source.close()


def test_no_more_than_a_batch_is_held_beyond_what_was_committed(names: Names) -> None:
    source = _source(names)
    _publish(names.topic, range(100))
    batch = source.fetch(10, 2.0)
    assert numbers(batch) == list(range(10))
    # Until the batch is committed the inbox takes nothing more: the next fetch finds none.
    assert source.fetch(10, 0.5) == []
    source.commit(batch)
    assert numbers(source.fetch(10, 2.0)) == list(range(10, 20))
    source.close()


def test_the_sink_publishes_rows_a_raw_subscriber_receives(names: Names) -> None:
    received: list[bytes] = []
    subscriber = _raw()
    subscriber.on_message = lambda client, userdata, message: received.append(message.payload)
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.subscribe(names.topic, qos=1)
    assert subscribed.wait(10)

    sink = _sink(names.topic)
    sink.write(Rows([{"id": n, "amount": n * 2} for n in range(12)]))
    sink.write(Rows([]))
    sink.close()
    wait_until(lambda: len(received) == 12, timeout=10, what="12 messages")
    subscriber.disconnect()
    subscriber.loop_stop()
    assert [json.loads(value) for value in received] == [
        {"id": n, "amount": n * 2} for n in range(12)]


def test_an_unreachable_broker_and_unknown_options_are_clear_errors(names: Names) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens on it once closed
    closed = Connection("broker", "mqtt", {"url": f"mqtt://127.0.0.1:{port}"})
    settings = SourceSettings(kind="mqtt", connection="broker", topic=names.topic)
    with pytest.raises(CairnError, match="cannot connect to the MQTT broker"):
        make_source(settings, closed, SCOPE).open()
    odd = Connection("broker", "mqtt", {"url": URL, "options": {"colour": "blue"}})
    with pytest.raises(CairnError, match="unknown MQTT option\\(s\\) colour"):
        make_source(settings, odd, SCOPE).open()


# Through `cairn stream` into PostgreSQL.

def _project(project: ProjectFolder, schema: str, names: Names, mode: str = "append",
             batch: str = "max_messages: 50\n  max_wait: 0.1") -> None:
    stream_project(project, schema, f"kind: mqtt\nurl: {URL}",
                   f"kind: mqtt\nconnection: broker\ntopic: {names.topic}\n"
                   f"group: {names.group}", mode, batch=batch)


def test_events_become_rows_and_a_clean_stop_keeps_the_session_without_a_consumer(
        project: ProjectFolder, pg_schema: str, names: Names) -> None:
    _project(project, pg_schema, names)
    _subscribe(names)
    _publish(names.topic, range(1, 501))
    stream = StreamProcess(project.root)
    wait_until(lambda: count(pg_schema) == 500, what="500 rows")
    _publish(names.topic, range(501, 601))  # arrive while it runs
    wait_until(lambda: count(pg_schema) == 600, what="600 rows")
    assert stream.stop() == 0, stream.output()

    assert ids(pg_schema) == list(range(1, 601))
    assert query(pg_schema, "SELECT sum(amount) FROM doubled")[0][0] == 2 * sum(range(601))
    # The process is gone, and its session waits for the next one: a client with its id
    # (no other holds it) finds the session present.
    present: list[bool] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=names.group,
                         clean_session=False, protocol=mqtt.MQTTv311)
    client.on_connect = lambda c, u, flags, code, p: present.append(flags.session_present)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    wait_until(lambda: bool(present), timeout=10, what="CONNACK")
    client.disconnect()
    client.loop_stop()
    assert present == [True]


def test_sigkill_mid_flow_loses_nothing_and_upsert_leaves_no_duplicates(
        project: ProjectFolder, pg_schema: str, names: Names) -> None:
    # Mosquitto keeps at most 1000 messages for a session (max_queued_messages): stay below.
    _project(project, pg_schema, names, mode="upsert", batch="max_messages: 10\n  max_wait: 0.1")
    _subscribe(names)
    _publish(names.topic, range(1, 901))
    kill_after_first_rows(project.root, pg_schema, 900)

    second = StreamProcess(project.root, "events", "--stop-when-idle", "2")
    assert second.wait() == 0, second.output()
    assert ids(pg_schema) == list(range(1, 901))  # none lost, none twice


def test_a_poison_message_goes_to_the_dead_letters_and_the_stream_goes_on(
        project: ProjectFolder, pg_schema: str, names: Names) -> None:
    _project(project, pg_schema, names)
    _subscribe(names)
    _publish(names.topic, range(1, 21))
    _publish(names.topic, range(21, 22), poison=True)
    _publish(names.topic, range(22, 41))
    stream = StreamProcess(project.root, "events", "--stop-when-idle", "1.5")
    assert stream.wait() == 0, stream.output()

    assert_poison_set_aside(pg_schema)
