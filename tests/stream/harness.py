"""Helpers for stream tests: a project writing to a fresh PostgreSQL schema, and a real
`cairn stream` process to start, kill and stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from support import ProjectFolder, wait_until

from cairn.stream.message import Message
from cairn.stream.ports import Source

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# A transformer that keeps a message's id and doubles its amount; it raises on a message
# with `"poison": true`, which must then go to the dead letters.
DOUBLE = """
from cairn import block


@block
def doubled(messages):
    rows = []
    for message in messages:
        if message.get("poison"):
            raise ValueError(f"poison message {message['id']}")
        rows.append({"id": message["id"], "amount": message["amount"] * 2})
    return rows
"""


def stream_project(project: ProjectFolder, schema: str, broker: str, source: str,
                   sink_mode: str = "append", blocks: dict[str, str] | None = None,
                   name: str = "events", batch: str = "max_messages: 50\n  max_wait: 0.1",
                   ) -> Path:
    """A streaming pipeline `name` reading `source` (YAML of the source mapping) from the
    `broker` connection (YAML of its settings) into table `doubled` of `schema`. Dead
    letters go to `dead_letters` in the same schema."""
    key = "\n    key: [id]" if sink_mode == "upsert" else ""
    broker_settings = textwrap.indent(textwrap.dedent(broker).strip(), "    ")
    (project.root / "io_config.yaml").write_text(
        f"default:\n  sink:\n    kind: postgres\n    url: {POSTGRES}\n"
        f"    schema: {schema}\n  broker:\n{broker_settings}\n")
    settings = (
        f"type: streaming\nsource:\n{textwrap.indent(textwrap.dedent(source).strip(), '  ')}\n"
        f"batch:\n  {batch}\n"
        f"sinks:\n  - connection: sink\n    table: doubled\n    mode: {sink_mode}{key}\n"
        "dead_letter:\n  connection: sink\n  table: dead_letters\n"
        "restart:\n  delay: 0.5\n  max_delay: 2\n")
    return project.pipeline(name, blocks if blocks is not None else {"doubled.py": DOUBLE},
                            settings)


def create_schema(schema: str) -> None:
    engine = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine.dispose()


def drop_schema(schema: str) -> None:
    engine = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    engine.dispose()


def query(schema: str, sql: str) -> list[Any]:
    """Rows of a query on the sink's schema; none when the table does not exist yet."""
    engine = sa.create_engine(POSTGRES)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"SET search_path TO {schema}")
            return list(connection.exec_driver_sql(sql))
    except sa.exc.ProgrammingError:
        return []
    finally:
        engine.dispose()


def count(schema: str, table: str = "doubled") -> int:
    rows = query(schema, f"SELECT count(*) FROM {table}")
    return int(rows[0][0]) if rows else 0


def ids(schema: str, table: str = "doubled") -> list[int]:
    return [row[0] for row in query(schema, f"SELECT id FROM {table} ORDER BY id")]


def kill_after_first_rows(root: Path, schema: str, total: int) -> None:
    """Start the stream and SIGKILL it once its first rows are written, before all `total`."""
    first = StreamProcess(root)
    wait_until(lambda: count(schema) > 0, what="the first rows")
    first.kill()
    assert count(schema) < total, "killed too late to test anything: make the batches smaller"


def assert_poison_set_aside(schema: str) -> None:
    """Of events 1..40, 21 (the poison) is in the dead letters with its error, the rest in
    the table."""
    assert ids(schema) == [n for n in range(1, 41) if n != 21]
    dead = query(schema, "SELECT block, error, value FROM dead_letters")
    assert [(block, error) for block, error, _ in dead] == [
        ("doubled", "ValueError: poison message 21")]
    assert json.loads(dead[0][2])["poison"] is True


def crash_holding_a_batch(kind: str, url: str, topic: str, group: str | None = None) -> None:
    """A consumer in a child process commits a batch of 10, fetches the next 10 and is
    killed holding them, as in a crash: they must come to the next consumer first."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from cairn.io.connection import Connection
        from cairn.project.streaming import SourceSettings
        from cairn.stream.ports import StreamScope, make_source

        connection = Connection("broker", {kind!r}, {{"url": {url!r}}})
        settings = SourceSettings(kind={kind!r}, connection="broker", topic={topic!r},
                                  group={group!r})
        source = make_source(settings, connection, StreamScope("e", Path("."), Path(".")))
        source.open()
        source.commit(source.fetch(10, 5.0))
        print(len(source.fetch(10, 5.0)), flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    with holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "10"
        finally:
            holder.kill()


def numbers(messages: list[Message]) -> list[int]:
    """The ids of events as `event` makes them."""
    return [json.loads(m.value)["id"] for m in messages]


def consume_all(source: Source, batch: int = 10) -> list[int]:
    """Fetch and commit until the source has nothing more; the ids seen, in order."""
    seen: list[int] = []
    while messages := source.fetch(batch, 1.0):
        seen += numbers(messages)
        source.commit(messages)
    return seen


def event(number: int, **extra: Any) -> bytes:
    return json.dumps({"id": number, "amount": number, **extra}).encode()


STARTED: list[StreamProcess] = []  # what the tests' teardown kills if still running


class StreamProcess:
    """`cairn stream PIPELINE` in a subprocess, its output in a log file beside the project."""

    def __init__(self, root: Path, pipeline: str = "events", *arguments: str) -> None:
        STARTED.append(self)
        self.log_path = root.parent / f"stream-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in wait()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cairn", "stream", pipeline, "--project", str(root),
             *arguments], stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """As a crash would: no chance to acknowledge or close anything."""
        self.process.send_signal(signal.SIGKILL)
        self.wait()

    def stop(self) -> int:
        """A clean stop: SIGTERM, then the process finishes its batch and closes."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout=timeout)
        self.log.close()
        return code

    def ensure_gone(self) -> None:
        if self.running():
            self.kill()

    def running(self) -> bool:
        return self.process.poll() is None
