"""SQL blocks on real databases: DuckDB, SQLite, PostgreSQL and MariaDB on this machine.

Each test gets its own PostgreSQL schema or MariaDB database, dropped afterwards.
"""

from __future__ import annotations

import json
import secrets
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from support import ProjectFolder, RecordingObserver

from cairn import service
from cairn.errors import CairnError
from cairn.io.database import Database
from cairn.store.metadata import MetadataStore

SERVERS = {
    "postgres": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306/test",
}


@dataclass
class Target:
    """A database for one test, named `db` in io_config.yaml and the project's default."""

    kind: str
    url: str  # for the test's own checks
    schema: str | None

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.exec_driver_sql(query)]
        finally:
            engine.dispose()

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}" if self.schema else name


def _server_or_skip(kind: str) -> sa.Engine:
    engine = sa.create_engine(SERVERS[kind], isolation_level="AUTOCOMMIT")
    try:
        engine.connect().close()
    except sa.exc.OperationalError as error:
        pytest.skip(f"{kind} is not reachable at {SERVERS[kind]}: {error.orig}")
    return engine


@pytest.fixture(params=["duckdb", "sqlite", "postgres", "mysql"])
def target(request: pytest.FixtureRequest, project: ProjectFolder) -> Iterator[Target]:
    kind = request.param
    name = f"cairn_t_{secrets.token_hex(4)}"
    settings = {
        "duckdb": f"kind: duckdb\n    path: {project.root}/data.duckdb",
        "sqlite": f"kind: sqlite\n    path: {project.root}/data.sqlite",
        "postgres": "kind: postgres\n    host: 127.0.0.1\n    port: 5432\n    user: postgres\n"
                    f"    database: test\n    schema: {name}",
        "mysql": f"kind: mysql\n    host: 127.0.0.1\n    port: 3306\n    user: root\n"
                 f"    database: {name}",
    }[kind]
    (project.root / "io_config.yaml").write_text(f"default:\n  db:\n    {settings}\n")
    (project.root / "cairn.yaml").write_text("name: t\ndefault_connection: db\n")
    if kind in SERVERS:
        admin = _server_or_skip(kind)
        if kind == "mysql":
            with admin.connect() as connection:
                connection.exec_driver_sql(f"CREATE DATABASE {name}")
            url = SERVERS[kind].replace("/test", f"/{name}")
            yield Target(kind, url, None)
            with admin.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE {name}")
        else:
            yield Target(kind, SERVERS[kind], name)
            with admin.connect() as connection:
                connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        admin.dispose()
    elif kind == "sqlite":
        yield Target(kind, f"sqlite:///{project.root}/data.sqlite", None)
    else:
        yield Target(kind, f"duckdb:///{project.root}/data.duckdb", None)


def run(project: ProjectFolder, observer: RecordingObserver, **options: Any) -> str:
    result = service.run_pipeline(project.load(), "p", observer, **options)
    failures = {b: o.failure.describe() for b, o in observer.outcomes.items() if o.failure}
    assert result.status == "success", failures
    return result.run_id


def rows_of(target: Target, project: ProjectFolder, table: str) -> list[tuple[Any, ...]]:
    if target.kind == "duckdb":
        import duckdb

        connection = duckdb.connect(str(project.root / "data.duckdb"), read_only=True)
        try:
            return connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
        finally:
            connection.close()
    return target.rows(f"SELECT * FROM {target.table(table)} ORDER BY 1")


def test_python_frames_are_loaded_and_aggregated_in_the_database(
        project: ProjectFolder, observer: RecordingObserver, target: Target) -> None:
    project.pipeline("p", {
        "orders.py": """
            import pandas as pd
            orders = pd.DataFrame({
                "region": ["north", "south", "north", "", None],
                "amount": [10.5, 20.0, 4.5, 1.0, 2.0],
                "paid": [True, False, True, None, True],
                "at": pd.to_datetime(["2026-01-01 10:00:00", "2026-01-02 00:00:00",
                                      "2026-01-03 00:00:00", None, "2026-01-05 00:00:00"],
                                     utc=True),
            })
        """,
        "totals.sql": """
            SELECT coalesce(region, 'unknown') AS region, count(*) AS n, sum(amount) AS total
            FROM orders
            GROUP BY coalesce(region, 'unknown')
        """,
        "check.py": "check = totals.sort_values('region').to_dict('records')\n",
    })
    run(project, observer)
    assert [(r, int(n), float(t)) for r, n, t in rows_of(target, project, "totals")] == [
        ("", 1, 1.0), ("north", 2, 15.0), ("south", 1, 20.0), ("unknown", 1, 2.0)]
    check, = service.read_output(project.load(), "p", "check").values()
    assert [row["region"] for row in check] == ["", "north", "south", "unknown"]
    assert observer.outcomes["totals"].rows_out == 4


def test_types_survive_the_bulk_load(project: ProjectFolder, observer: RecordingObserver,
                                     target: Target) -> None:
    project.pipeline("p", {
        "typed.py": """
            import pyarrow as pa
            from datetime import datetime, timezone
            typed = pa.table({
                "i": pa.array([1, None], pa.int64()),
                "f": [1.5, None],
                "s": ["it's; DROP", None],
                "b": [True, None],
                "t": pa.array([datetime(2026, 1, 1, 12, 30, tzinfo=timezone.utc), None],
                              pa.timestamp("us", tz="UTC")),
            })
        """,
        "copied.sql": "SELECT * FROM typed\n",
        "back.py": "back = copied.to_dict('list')\n",
    })
    run(project, observer)
    back, = service.read_output(project.load(), "p", "back").values()
    assert back["i"][0] == 1 and back["f"][0] == 1.5 and back["s"][0] == "it's; DROP"
    assert bool(back["b"][0]) is True
    assert back["s"][1] is None or back["s"][1] != back["s"][1]  # None, or NaN in pandas
    moment = back["t"][0]
    if isinstance(moment, str):  # SQLite has no timestamp type: it keeps the text
        moment = datetime.fromisoformat(moment)
    instant = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    assert instant == datetime(2026, 1, 1, 12, 30, tzinfo=UTC)


def test_statements_run_in_order_and_variables_are_bound(
        project: ProjectFolder, observer: RecordingObserver, target: Target) -> None:
    project.pipeline("p", {
        "labels.sql": """
            CREATE TABLE scratch_labels (label VARCHAR(100));
            INSERT INTO scratch_labels VALUES ('first');
            INSERT INTO scratch_labels VALUES ({{ var('label') }});
            SELECT label FROM scratch_labels
        """,
    }, "variables:\n  label: \"'; DROP TABLE scratch_labels; --\"\n")
    run_id = run(project, observer)
    assert rows_of(target, project, "labels") == [
        ("'; DROP TABLE scratch_labels; --",), ("first",)]
    assert rows_of(target, project, "scratch_labels") == rows_of(target, project, "labels")

    store = MetadataStore(project.load().metadata_url)
    try:
        record, = store.block_runs(run_id)
        profile = json.loads(record.profile)
    finally:
        store.close()
    assert [step["statement"] for step in profile] == [1, 2, 3, 4]
    assert [step["line"] for step in profile] == [1, 2, 3, 4]
    assert profile[1]["rows"] in (1, None) and profile[3]["rows"] == 2
    assert all(step["seconds"] >= 0 for step in profile)


def test_a_failing_block_rolls_back(project: ProjectFolder, observer: RecordingObserver,
                                    target: Target) -> None:
    folder = project.pipeline("p", {"kept.sql": "SELECT 1 AS version\n"})
    run(project, observer)
    (folder / "kept.sql").write_text(textwrap.dedent("""
        INSERT INTO kept VALUES (2);
        SELECT version FROM kept WHERE no_such_column = 1
    """).lstrip())
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "failed"
    failure = observer.outcomes["kept"].failure
    assert failure is not None and "statement 2" in failure.message
    assert failure.line == 2 and failure.file is not None and failure.file.endswith("kept.sql")
    if target.kind != "mysql":  # MySQL commits before DDL: documented in docs/sql.md
        assert [int(v) for v, in rows_of(target, project, "kept")] == [1]  # rolled back


@pytest.mark.parametrize("policy", ["replace", "append", "fail"])
def test_write_policies(project: ProjectFolder, observer: RecordingObserver, target: Target,
                        policy: str) -> None:
    project.pipeline("p", {"numbers.sql": "SELECT 1 AS n UNION ALL SELECT 2\n"},
                     f"blocks:\n  - name: numbers\n    write: {policy}\n")
    run(project, observer)
    second = service.run_pipeline(project.load(), "p", observer)
    expected = {"replace": [1, 2], "append": [1, 1, 2, 2], "fail": [1, 2]}[policy]
    assert [int(n) for n, in rows_of(target, project, "numbers")] == expected
    assert second.status == ("failed" if policy == "fail" else "success")
    if policy == "fail":
        failure = observer.outcomes["numbers"].failure
        assert failure is not None and "write policy is `fail`" in failure.message


def test_views_and_tables_replace_each_other(project: ProjectFolder,
                                             observer: RecordingObserver,
                                             target: Target) -> None:
    folder = project.pipeline("p", {
        "base.sql": "SELECT 1 AS n UNION ALL SELECT 5\n",
        "big.sql": "-- cairn: materialize=view\nSELECT n FROM base WHERE n > {{ var('low') }}\n",
    }, "variables:\n  low: 2\n")
    run(project, observer)
    assert [int(n) for n, in rows_of(target, project, "big")] == [5]
    (folder / "big.sql").write_text("SELECT n FROM base\n")  # now a table
    run(project, observer)
    assert [int(n) for n, in rows_of(target, project, "big")] == [1, 5]


def test_same_connection_reads_in_place(project: ProjectFolder, observer: RecordingObserver,
                                        target: Target,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []

    def spy(read: Any) -> Any:
        def wrapped(self: Database, table: str, limit: int | None = None) -> Any:
            reads.append(f"{self.connection.name}.{table}")
            return read(self, table, limit)
        return wrapped

    from cairn.io.alchemy_database import AlchemyDatabase
    from cairn.io.duckdb_database import DuckDBDatabase

    for engine in (AlchemyDatabase, DuckDBDatabase):
        monkeypatch.setattr(engine, "read", spy(engine.read))
    project.pipeline("p", {
        "raw.sql": "SELECT 1 AS k, 10 AS v UNION ALL SELECT 2, 20\n",
        "summed.sql": "SELECT sum(v) AS total FROM raw\n",
        "elsewhere.sql": "-- cairn: connection=warehouse\nSELECT total * 2 AS doubled "
                         "FROM summed\n",
    })
    run(project, observer)
    assert reads == ["db.summed"]  # raw -> summed stayed in the database; summed crossed
    import duckdb

    warehouse = duckdb.connect(str(project.load().warehouse_path), read_only=True)
    try:
        assert warehouse.execute("SELECT doubled FROM elsewhere").fetchall() == [(60,)]
    finally:
        warehouse.close()


@pytest.mark.parametrize("target", ["postgres"], indirect=True)
def test_replace_never_leaves_the_table_missing(project: ProjectFolder,
                                                observer: RecordingObserver,
                                                target: Target) -> None:
    folder = project.pipeline("p", {"slow.sql": "SELECT 1 AS n\n"})
    run(project, observer)
    (folder / "slow.sql").write_text("SELECT n FROM generate_series(1, 3) AS n, "
                                     "pg_sleep(0.5) AS pause\n")
    seen: list[int] = []
    errors: list[Exception] = []
    done = threading.Event()

    def read_continuously() -> None:
        engine = sa.create_engine(target.url)
        with engine.connect() as connection:
            while not done.is_set():
                try:
                    seen.append(connection.exec_driver_sql(
                        f"SELECT count(*) FROM {target.table('slow')}").scalar_one())
                    connection.commit()
                except Exception as error:
                    errors.append(error)
                time.sleep(0.01)
        engine.dispose()

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        run(project, observer)
        deadline = time.monotonic() + 5
        while 3 not in seen and time.monotonic() < deadline:  # a read after the commit
            time.sleep(0.01)
    finally:
        done.set()
        reader.join()
    assert not errors
    assert set(seen) == {1, 3} and seen[0] == 1 and seen[-1] == 3


def test_unknown_connection_is_a_plan_error(project: ProjectFolder,
                                            observer: RecordingObserver,
                                            target: Target) -> None:
    project.pipeline("p", {"x.sql": "-- cairn: connection=dbb\nSELECT 1 AS one\n"})
    with pytest.raises(CairnError) as raised:
        service.run_pipeline(project.load(), "p", observer)
    problem, = raised.value.problems
    assert problem.kind == "unknown-connection" and problem.file is not None
    assert problem.file.endswith("x.sql") and "did you mean 'db'" in (problem.hint or "")


@pytest.mark.parametrize("target", ["postgres"], indirect=True)
def test_a_block_written_for_duckdb_runs_elsewhere(project: ProjectFolder,
                                                   observer: RecordingObserver,
                                                   target: Target) -> None:
    project.pipeline("p", {
        "quarters.sql": "-- cairn: dialect=duckdb\n"
                        "SELECT n, n // 2 AS half, {{ var('label') }} AS label "
                        "FROM range(1, 4) AS t(n)\n",
    }, "variables:\n  label: q\n")
    run(project, observer)
    assert rows_of(target, project, "quarters") == [(1, 0, "q"), (2, 1, "q"), (3, 1, "q")]


def test_sums_reach_python_as_numbers(project: ProjectFolder, observer: RecordingObserver,
                                      target: Target) -> None:
    project.pipeline("p", {
        "facts.py": """
            import pandas as pd
            facts = pd.DataFrame({"k": ["a", "a", "b"], "n": [1, 2, 40],
                                  "price": [1.25, 2.50, 0.10]})
        """,
        # sum() of integers is HUGEINT in DuckDB, NUMERIC in PostgreSQL, DECIMAL in MySQL.
        "sums.sql": """
            SELECT k, sum(n) AS total, sum(CAST(price AS DECIMAL(10, 2))) AS money
            FROM facts GROUP BY k
        """,
        "check.py": """
            check = {"total": str(sums["total"].dtype), "money": str(sums["money"].dtype),
                     "rows": sorted(sums.itertuples(index=False, name=None))}
        """,
    })
    run(project, observer)
    check, = service.read_output(project.load(), "p", "check").values()
    assert (check["total"], check["money"]) == ("int64", "float64")
    assert check["rows"] == [("a", 3, 3.75), ("b", 40, 0.1)]


def _rounds(*rows: tuple[int | None, str]) -> str:
    """A query of (id, v) rows in this order (`seq` orders them on every engine)."""
    selects = [f"SELECT {'NULL' if i is None else i} AS id, '{v}' AS v, {n} AS seq"
               for n, (i, v) in enumerate(rows)]
    return "SELECT id, v, seq FROM (" + " UNION ALL ".join(selects) + ") AS r ORDER BY seq\n"


def test_upsert_replaces_rows_by_key_and_the_last_row_of_a_key_wins(
        project: ProjectFolder, observer: RecordingObserver, target: Target) -> None:
    settings = "blocks:\n  - name: latest\n    write: upsert\n    key: [id]\n"
    # The first write creates the table, one row per key too.
    project.pipeline("p", {"latest.sql": _rounds((1, "a1"), (2, "b1"), (1, "a2"))}, settings)
    run(project, observer)
    assert [(int(i), v) for i, v, _ in rows_of(target, project, "latest")] == [
        (1, "a2"), (2, "b1")]
    project.pipeline("p", {"latest.sql": _rounds((1, "a3"), (3, "c1"), (3, "c2"))}, settings)
    run(project, observer)
    assert [(int(i), v) for i, v, _ in rows_of(target, project, "latest")] == [
        (1, "a3"), (2, "b1"), (3, "c2")]
    assert observer.outcomes["latest"].failure is None
    # A row without a key fails the block, and the table stays as it was.
    project.pipeline("p", {"latest.sql": _rounds((1, "a4"), (None, "x"))}, settings)
    failed = service.run_pipeline(project.load(), "p", observer)
    assert failed.status == "failed"
    failure = observer.outcomes["latest"].failure
    assert failure is not None and "NULL" in failure.message
    assert failure.file is not None and failure.file.endswith("latest.sql")
    assert [(int(i), v) for i, v, _ in rows_of(target, project, "latest")] == [
        (1, "a3"), (2, "b1"), (3, "c2")]


def test_upsert_from_the_header_names_the_block_file_for_a_missing_key_column(
        project: ProjectFolder, observer: RecordingObserver, target: Target) -> None:
    project.pipeline("p", {"latest.sql": "-- cairn: write=upsert, key=[id, day]\n"
                                         + _rounds((1, "a"))})
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "failed"
    failure = observer.outcomes["latest"].failure
    assert failure is not None and "key column 'day'" in failure.message
    assert failure.file is not None and failure.file.endswith("latest.sql")
    project.pipeline("p", {"latest.sql": "-- cairn: write=upsert\n" + _rounds((1, "a"))})
    service.run_pipeline(project.load(), "p", observer)
    failure = observer.outcomes["latest"].failure
    assert failure is not None and "needs the `key` columns" in failure.message


def test_write_table_upserts_by_key(project: ProjectFolder, observer: RecordingObserver,
                                   target: Target) -> None:
    block = """
        import pyarrow as pa
        from cairn.io import write_table
        rows = {rows}
        saved = write_table(pa.Table.from_pylist(rows), "latest", policy="upsert", key=["id"])
    """
    project.pipeline("p", {"saved.py": block.format(rows=[
        {"id": 1, "v": "a1"}, {"id": 2, "v": "b1"}, {"id": 1, "v": "a2"}])})
    run(project, observer)
    assert rows_of(target, project, "latest") == [(1, "a2"), (2, "b1")]
    project.pipeline("p", {"saved.py": block.format(rows=[
        {"id": 2, "v": "b2"}, {"id": 3, "v": "c1"}, {"id": 2, "v": "b3"}])})
    run(project, observer)
    assert rows_of(target, project, "latest") == [(1, "a2"), (2, "b3"), (3, "c1")]
    saved, = service.read_output(project.load(), "p", "saved").values()
    assert saved == 2  # the rows it wrote, one per key
