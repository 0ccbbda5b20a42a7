"""Kafka: the adapters against a real broker (Tansu, started once for the module), then a
real `cairn stream` process into PostgreSQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import tansu
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
from tansu import CLIENT_OPTIONS, Kafka

pytest.importorskip("confluent_kafka")

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from cairn.errors import CairnError
from cairn.io.connection import Connection
from cairn.project.streaming import SinkSettings, SourceSettings
from cairn.stream.kafka import KafkaSink, KafkaSource
from cairn.stream.message import Message, Rows
from cairn.stream.ports import StreamScope

kafka = tansu.kafka  # the module's broker, a fixture requested by name


def _group(topic: str) -> str:
    """Each test's consumer group, as fresh as its topic."""
    return f"{topic}-group"


def _connection(kafka: Kafka) -> Connection:
    return Connection("broker", "kafka", {"url": kafka.url})


def _source(kafka: Kafka, topic: str, tmp_path: Path, **options: Any) -> KafkaSource:
    settings = SourceSettings(kind="kafka", connection="broker", topic=topic,
                              group=_group(topic), options={**CLIENT_OPTIONS, **options})
    source = KafkaSource(settings, _connection(kafka), StreamScope("events", tmp_path, tmp_path))
    source.open()
    return source


def _publish(kafka: Kafka, topic: str, numbers: range, **extra: object) -> None:
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all"})
    for number in numbers:
        producer.produce(topic, event(number, **extra))
    assert producer.flush(10) == 0


def _drain(source: KafkaSource, expected: int) -> list[Message]:
    """Fetches until `expected` messages came (the group join takes a few seconds)."""
    messages: list[Message] = []
    for _ in range(60):
        if len(messages) >= expected:
            break
        messages += source.fetch(expected - len(messages), 0.5)
    return messages


def _ids(messages: list[Message]) -> list[int]:
    return [json.loads(m.value)["id"] for m in messages]


def _group_state(kafka: Kafka, group: str) -> tuple[str, int]:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return described.state.name, len(described.members)


def _read_all(kafka: Kafka, topic: str) -> list[Any]:
    """Every record of the topic's one partition, by a consumer outside any group."""
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "cairn-test-reader",
                         "enable.partition.eof": True, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    records: list[Any] = []
    try:
        while True:
            record = consumer.poll(10)
            assert record is not None, "the partition's end never came"
            if record.error() is None:
                records.append(record)
            elif record.error().code() == KafkaError._PARTITION_EOF:
                return records
    finally:
        consumer.close()


def test_a_group_continues_after_its_last_commit_and_leaves_on_close(
        kafka: Kafka, tmp_path: Path) -> None:
    topic = kafka.topic()
    _publish(kafka, topic, range(1, 11))
    source = _source(kafka, topic, tmp_path)
    messages = _drain(source, 10)
    assert _ids(messages) == list(range(1, 11))
    assert [m.position for m in messages] == [f"0:{n}" for n in range(10)]
    assert all(m.topic == topic and m.timestamp for m in messages)
    source.commit(messages[:4])  # the rest is held, as by a process that stops now
    assert source.position() == {f"{topic}-0": 4}
    assert source.lag() == 6
    source.close()
    assert _group_state(kafka, _group(topic)) == ("EMPTY", 0)

    again = _source(kafka, topic, tmp_path)
    rest = _drain(again, 6)
    assert _ids(rest) == [5, 6, 7, 8, 9, 10]
    again.commit(rest)
    assert again.position() == {f"{topic}-0": 10}
    assert again.lag() == 0
    assert again.fetch(10, 0.5) == []
    again.close()
    assert _group_state(kafka, _group(topic)) == ("EMPTY", 0)
    kafka.delete(topic)


def test_sample_reads_the_newest_without_moving_the_group(kafka: Kafka,
                                                          tmp_path: Path) -> None:
    topic = kafka.topic()
    _publish(kafka, topic, range(1, 21))
    settings = SourceSettings(kind="kafka", connection="broker", topic=topic,
                              group=_group(topic))
    unopened = KafkaSource(settings, _connection(kafka), StreamScope("events", tmp_path,
                                                                    tmp_path))
    sample = unopened.sample(5)  # as the notebook does, without `open`
    assert _ids(sample) == [16, 17, 18, 19, 20]
    assert [m.position for m in sample] == ["0:15", "0:16", "0:17", "0:18", "0:19"]

    source = _source(kafka, topic, tmp_path)
    assert _ids(source.sample(50)) == list(range(1, 21))
    assert _ids(_drain(source, 20)) == list(range(1, 21))  # the group starts at the start
    assert source.lag() == 20  # nothing committed
    source.close()
    kafka.delete(topic)


def test_a_missing_topic_is_created_unless_refused(kafka: Kafka, tmp_path: Path) -> None:
    topic = f"cairn-test-new-{uuid.uuid4().hex[:8]}"
    with pytest.raises(CairnError, match=f"Kafka has no topic {topic}"):
        _source(kafka, topic, tmp_path, create_topic=False)
    _source(kafka, topic, tmp_path, partitions=2).close()
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    assert len(admin.list_topics(timeout=10).topics[topic].partitions) == 2
    kafka.delete(topic)


def test_the_sink_stores_every_row_with_its_key(kafka: Kafka, tmp_path: Path) -> None:
    topic = kafka.topic()
    settings = SinkSettings(connection="broker", topic=topic, key=["id"])
    sink = KafkaSink(settings, _connection(kafka), StreamScope("events", tmp_path, tmp_path))
    sink.open()
    sink.write(Rows([{"id": n, "amount": n * 2} for n in range(1, 251)]))
    sink.write(Rows([]))
    sink.close()

    records = _read_all(kafka, topic)
    assert [json.loads(r.value()) for r in records] == [
        {"id": n, "amount": n * 2} for n in range(1, 251)]
    assert records[0].key() == b"[1]"
    kafka.delete(topic)


# Through `cairn stream`: the consumer settings that make Tansu's group joins quick.
def _project(project: ProjectFolder, schema: str, kafka: Kafka, topic: str,
             mode: str = "append") -> None:
    options = ", ".join(f"{name}: {value}" for name, value in CLIENT_OPTIONS.items())
    stream_project(project, schema, f"kind: kafka\nurl: {kafka.url}",
                   f"kind: kafka\nconnection: broker\ntopic: {topic}\ngroup: {_group(topic)}\n"
                   f"options: {{{options}}}",
                   mode)


def test_events_become_rows_and_a_clean_stop_leaves_the_group_empty(
        project: ProjectFolder, pg_schema: str, kafka: Kafka, cli: Any) -> None:
    topic = kafka.topic()
    _project(project, pg_schema, kafka, topic)
    _publish(kafka, topic, range(1, 201))
    stream = StreamProcess(project.root)
    wait_until(lambda: count(pg_schema) == 200, what="200 rows")
    _publish(kafka, topic, range(201, 251))  # arrive while it runs
    wait_until(lambda: count(pg_schema) == 250, what="250 rows")
    assert stream.stop() == 0, stream.output()

    assert ids(pg_schema) == list(range(1, 251))
    assert query(pg_schema, "SELECT sum(amount) FROM doubled")[0][0] == 2 * sum(range(251))
    assert _group_state(kafka, _group(topic)) == ("EMPTY", 0)
    shown = cli.run("checkpoints", "events", cwd=project.root)
    assert f"{topic}-0" in shown.stdout, shown.stdout + shown.stderr
    kafka.delete(topic)


def test_sigkill_mid_flow_loses_nothing_and_upsert_leaves_no_duplicates(
        project: ProjectFolder, pg_schema: str, kafka: Kafka) -> None:
    topic = kafka.topic()
    _project(project, pg_schema, kafka, topic, mode="upsert")
    _publish(kafka, topic, range(1, 2001))
    kill_after_first_rows(project.root, pg_schema, 2000)

    # The new member joins once the killed one's session has expired.
    second = StreamProcess(project.root)
    wait_until(lambda: count(pg_schema) == 2000, what="all 2,000 rows")
    assert second.stop() == 0, second.output()
    assert ids(pg_schema) == list(range(1, 2001))  # none lost, none twice
    kafka.delete(topic)


def test_a_poison_message_goes_to_the_dead_letters_and_the_stream_goes_on(
        project: ProjectFolder, pg_schema: str, kafka: Kafka) -> None:
    topic = kafka.topic()
    _project(project, pg_schema, kafka, topic)
    _publish(kafka, topic, range(1, 21))
    _publish(kafka, topic, range(21, 22), poison=True)
    _publish(kafka, topic, range(22, 41))
    stream = StreamProcess(project.root)
    wait_until(lambda: count(pg_schema) == 39, what="the 39 good rows")
    wait_until(lambda: count(pg_schema, "dead_letters") == 1, what="the dead letter")
    assert stream.stop() == 0, stream.output()

    assert_poison_set_aside(pg_schema)
    assert "dead letter" in stream.output()
    kafka.delete(topic)
