"""A stream's upsert sink keeps each key once, with its last value, through a SIGKILL:
ids updated twice back to back (so a batch, the first one included, repeats keys), on
PostgreSQL and DuckDB, from a real Redis stream and `cairn stream` processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from harness import POSTGRES, StreamProcess, query, stream_project
from support import ProjectFolder, wait_until

from cairn.errors import CairnError
from cairn.io.connection import Connection
from cairn.io.database import open_database
from cairn.project.streaming import SinkSettings
from cairn.stream.message import Rows
from cairn.stream.ports import StreamScope
from cairn.stream.table_sink import TableSink

IDS = 1000
VALUES = (1, 2, 3)  # each id's values, published back to back: 3 is its last


def _rows_reader(project: ProjectFolder, sink: str, schema: str) -> Callable[[], list[Any]]:
    """(id, amount) of every row of the sink table, none while it does not exist."""
    if sink == "postgres":
        return lambda: query(schema, "SELECT id, amount FROM doubled ORDER BY id")
    path = project.root / "sink.duckdb"
    (project.root / "io_config.yaml").write_text(
        (project.root / "io_config.yaml").read_text().replace(
            f"kind: postgres\n    url: {POSTGRES}\n    schema: {schema}",
            f"kind: duckdb\n    path: {path}"))

    def rows() -> list[Any]:
        database = open_database(Connection("sink", "duckdb", {"path": str(path)}))
        try:  # through Cairn's file sharing, as the stream holds the file between batches
            return [tuple(row.values()) for row in database.query(
                "SELECT id, amount FROM doubled ORDER BY id").to_pylist()]
        except Exception:  # no table yet
            return []
        finally:
            database.close()
    return rows


@pytest.mark.parametrize("sink", ["postgres", "duckdb"])
def test_ids_updated_back_to_back_end_once_with_their_last_value_after_a_kill(
        project: ProjectFolder, pg_schema: str, redis_stream: tuple[Any, str],
        sink: str) -> None:
    client, key = redis_stream
    stream_project(project, pg_schema, "kind: redis\nurl: redis://127.0.0.1:6379/0",
                   f"kind: redis\nconnection: broker\ntopic: {key}", "upsert",
                   batch="max_messages: 50\n  max_wait: 0.1")
    rows = _rows_reader(project, sink, pg_schema)
    pipe = client.pipeline(transaction=False)
    for number in range(1, IDS + 1):
        for value in VALUES:
            pipe.xadd(key, {"value": json.dumps({"id": number, "amount": value})})
    pipe.execute()

    first = StreamProcess(project.root)
    wait_until(lambda: len(rows()) > 0, what="the first rows")
    first.kill()
    assert len(rows()) < IDS, "killed too late to test anything"
    second = StreamProcess(project.root, "events", "--stop-when-idle", "2")
    assert second.wait() == 0, second.output()

    stored = rows()
    assert [row[0] for row in stored] == list(range(1, IDS + 1))  # each id once
    assert {row[1] for row in stored} == {2 * VALUES[-1]}  # each with its last value


@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_the_first_batch_keeps_one_row_per_key_and_a_keyless_row_is_refused(
        project: ProjectFolder, kind: str) -> None:
    connection = Connection("db", kind, {"path": str(project.root / f"sink.{kind}")})
    settings = SinkSettings(connection="db", table="latest", mode="upsert", key=["id"])
    sink = TableSink(settings, connection, StreamScope("events", project.root, project.root))
    sink.open()
    try:
        sink.write(Rows([{"id": 1, "v": "a2"}, {"id": 1, "v": "a3"}, {"id": 2, "v": "b2"}]))
        sink.write(Rows([{"id": 2, "v": "b3"}, {"id": 3, "v": "c1"}, {"id": 2, "v": "b4"}]))
        with pytest.raises(CairnError, match=r"sink latest: .*key column 'id'"):
            sink.write(Rows([{"other": 1, "v": "x"}]))
    finally:
        sink.close()
    database = open_database(connection)
    stored = database.query("SELECT id, v FROM latest ORDER BY id")
    database.close()
    assert stored.to_pylist() == [{"id": 1, "v": "a3"}, {"id": 2, "v": "b4"},
                                  {"id": 3, "v": "c1"}]
