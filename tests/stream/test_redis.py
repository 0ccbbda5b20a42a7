"""Redis Streams through a real `cairn stream` process into PostgreSQL."""

from __future__ import annotations

from harness import (
    DOUBLE,
    StreamProcess,
    count,
    event,
    ids,
    kill_after_first_rows,
    query,
    stream_project,
)
from support import CLI, ProjectFolder, free_port, wait_until

from cairn.store.metadata import MetadataStore
from cairn.store.stream_state import StreamStates

URL = "redis://127.0.0.1:6379/0"




def _project(project: ProjectFolder, schema: str, key: str, mode: str = "append") -> None:
    stream_project(project, schema, f"kind: redis\nurl: {URL}",
                   f"kind: redis\nconnection: broker\ntopic: {key}", mode)


def _publish(client: object, key: str, numbers: range, **extra: object) -> None:
    pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
    for number in numbers:
        pipe.xadd(key, {"value": event(number, **extra)})
    pipe.execute()


def test_events_become_rows_and_a_clean_stop_leaves_no_consumer(
        project: ProjectFolder, pg_schema: str, redis_stream: tuple[object, str],
        cli: type[CLI]) -> None:
    client, key = redis_stream
    _project(project, pg_schema, key)
    _publish(client, key, range(1, 501))
    stream = StreamProcess(project.root)
    wait_until(lambda: count(pg_schema) == 500, what="500 rows")
    _publish(client, key, range(501, 601))  # arrive while it runs
    wait_until(lambda: count(pg_schema) == 600, what="600 rows")
    assert stream.stop() == 0, stream.output()

    assert ids(pg_schema) == list(range(1, 601))
    assert query(pg_schema, "SELECT sum(amount) FROM doubled")[0][0] == 2 * sum(range(601))
    groups = client.xinfo_groups(key)  # type: ignore[attr-defined]
    assert [g["consumers"] for g in groups] == [0]
    assert [g["pending"] for g in groups] == [0]
    shown = cli.run("checkpoints", "events", cwd=project.root)
    assert "last_id" in shown.stdout, shown.stdout + shown.stderr


def test_sigkill_mid_flow_loses_nothing_and_upsert_leaves_no_duplicates(
        project: ProjectFolder, pg_schema: str, redis_stream: tuple[object, str]) -> None:
    client, key = redis_stream
    _project(project, pg_schema, key, mode="upsert")
    _publish(client, key, range(1, 3001))
    kill_after_first_rows(project.root, pg_schema, 3000)

    second = StreamProcess(project.root, "events", "--stop-when-idle", "2")
    assert second.wait() == 0, second.output()
    assert ids(pg_schema) == list(range(1, 3001))  # none lost, none twice


def test_a_poison_message_goes_to_the_dead_letters_and_the_stream_goes_on(
        project: ProjectFolder, pg_schema: str, redis_stream: tuple[object, str]) -> None:
    client, key = redis_stream
    _project(project, pg_schema, key)
    _publish(client, key, range(1, 21))
    _publish(client, key, range(21, 22), poison=True)
    _publish(client, key, range(22, 41))
    stream = StreamProcess(project.root, "events", "--stop-when-idle", "1.5")
    assert stream.wait() == 0, stream.output()

    assert ids(pg_schema) == [n for n in range(1, 41) if n != 21]
    dead = query(pg_schema, "SELECT block, error, line, value FROM dead_letters")
    assert len(dead) == 1
    block, error, line, value = dead[0]
    assert (block, error, line) == ("doubled", "ValueError: poison message 21", 9)
    assert '"poison": true' in value
    assert "dead letter" in stream.output()


def test_a_sink_that_fails_stops_the_stream_with_its_error_and_loses_nothing(
        project: ProjectFolder, pg_schema: str, redis_stream: tuple[object, str],
        cli: type[CLI]) -> None:
    client, key = redis_stream
    _project(project, pg_schema, key)
    config = project.root / "io_config.yaml"
    working = config.read_text()
    config.write_text(working.replace("127.0.0.1:5432", f"127.0.0.1:{free_port()}"))
    _publish(client, key, range(1, 101))
    broken = StreamProcess(project.root, "events", "--stop-when-idle", "2")
    assert broken.wait() == 2
    assert "stream events stopped: OperationalError" in broken.output()
    runs = cli.run("runs", "events", cwd=project.root)
    assert "failed" in runs.stdout, runs.stdout
    state = StreamStates(MetadataStore(project.load().metadata_url)).get("events")
    assert state is not None and state.status == "failed"
    assert "OperationalError" in state.last_error

    config.write_text(working)
    fixed = StreamProcess(project.root, "events", "--stop-when-idle", "2")
    assert fixed.wait() == 0, fixed.output()
    assert ids(pg_schema) == list(range(1, 101))


def test_a_sql_block_transforms_each_batch(
        project: ProjectFolder, pg_schema: str, redis_stream: tuple[object, str]) -> None:
    client, key = redis_stream
    stream_project(project, pg_schema, f"kind: redis\nurl: {URL}",
                   f"kind: redis\nconnection: broker\ntopic: {key}",
                   blocks={"doubled.sql": "SELECT id, amount * 2 AS amount FROM messages\n"
                                          "WHERE id % 2 = 0"})
    _publish(client, key, range(1, 101))
    stream = StreamProcess(project.root, "events", "--stop-when-idle", "1.5")
    assert stream.wait() == 0, stream.output()
    assert ids(pg_schema) == list(range(2, 101, 2))
    assert query(pg_schema, "SELECT sum(amount) FROM doubled")[0][0] == 2 * sum(range(2, 101, 2))


def test_a_sink_writing_an_output_no_block_defines_is_refused(
        project: ProjectFolder, pg_schema: str, redis_stream: tuple[object, str]) -> None:
    client, key = redis_stream
    undecorated = "def doubled(messages):\n    return messages\n"
    stream_project(project, pg_schema, f"kind: redis\nurl: {URL}",
                   f"kind: redis\nconnection: broker\ntopic: {key}",
                   blocks={"doubled.py": undecorated})
    _publish(client, key, range(1, 11))
    stream = StreamProcess(project.root, "events", "--stop-when-idle", "1")
    assert stream.wait() == 2
    assert "writes 'doubled', which no block of events defines" in stream.output()
    assert "needs `@block`" in stream.output()
    assert not client.xinfo_groups(key)  # refused before it joined the group


def test_a_slow_block_slows_consumption_instead_of_piling_messages_up(
        project: ProjectFolder, pg_schema: str, redis_stream: tuple[object, str]) -> None:
    client, key = redis_stream
    slow = DOUBLE.replace("    rows = []\n", "    import time\n    time.sleep(0.2)\n"
                                               "    rows = []\n")
    stream_project(project, pg_schema, f"kind: redis\nurl: {URL}",
                   f"kind: redis\nconnection: broker\ntopic: {key}",
                   blocks={"doubled.py": slow}, batch="max_messages: 20\n  max_wait: 0.1")
    _publish(client, key, range(1, 401))
    stream = StreamProcess(project.root)
    held = []
    while count(pg_schema) < 400:
        groups = client.xinfo_groups(key)  # type: ignore[attr-defined]
        held += [g["pending"] for g in groups]
        assert stream.running(), stream.output()
    assert stream.stop() == 0
    assert held and max(held) <= 20  # delivered but not acknowledged: one batch at most
    assert ids(pg_schema) == list(range(1, 401))
