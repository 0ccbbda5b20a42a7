"""The watermark strategy over a real PostgreSQL table: only new rows, ties at the watermark
taken exactly once, failures reprocessed, resets reprocessing everything."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
from support import CLI, ProjectFolder, RecordingObserver

from cairn import service
from cairn.errors import BlockError
from cairn.ids import BlockName, RunId
from cairn.incremental.watermark import Watermark
from cairn.runtime.context import RunContext
from cairn.store.metadata import MetadataStore

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

BLOCK = """
import json
from pathlib import Path
from cairn.incremental.watermark import Watermark
from cairn.io import read_sql

_orders = Watermark(context, "orders", column="updated_at", key="id")
_condition, _params = _orders.where()
_new = _orders.filter(read_sql(f"SELECT id, updated_at FROM orders WHERE {{_condition}}",
                               "pg", params=_params))
with open({processed!r}, "a") as _log:
    _log.write(json.dumps(sorted(_new["id"].tolist())) + "\\n")
if Path({fail!r}).exists():
    raise RuntimeError("failing after reading")
_orders.advance(_new)
"""


@pytest.fixture
def database(project: ProjectFolder) -> Iterator[sa.Engine]:
    """The table `orders` in a PostgreSQL schema of the test's own, as connection `pg`."""
    engine = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        engine.connect().close()
    except sa.exc.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable: {error.orig}")
    schema = f"cairn_wm_{secrets.token_hex(4)}"
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        connection.exec_driver_sql(f"CREATE TABLE {schema}.orders "
                                   "(id integer PRIMARY KEY, updated_at timestamptz)")
        connection.exec_driver_sql(f"SET search_path TO {schema}")
    (project.root / "io_config.yaml").write_text(
        "default:\n  pg:\n    kind: postgres\n    host: 127.0.0.1\n    user: postgres\n"
        f"    database: test\n    schema: {schema}\n")
    scoped = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT",
                              connect_args={"options": f"-csearch_path={schema}"})
    yield scoped
    scoped.dispose()
    with engine.connect() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    engine.dispose()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / name for name in ("processed", "fail")}


@pytest.fixture
def pipeline(project: ProjectFolder, database: sa.Engine, files: dict[str, Path],
             ) -> ProjectFolder:
    project.pipeline("p", {"incremental.py": BLOCK.format(
        **{name: str(path) for name, path in files.items()})})
    return project


def upsert(database: sa.Engine, *rows: tuple[int, datetime]) -> None:
    with database.connect() as connection:
        connection.execute(sa.text(
            "INSERT INTO orders VALUES (:id, :at) "
            "ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at"),
            [{"id": i, "at": at} for i, at in rows])


def run(project: ProjectFolder, observer: RecordingObserver, status: str = "success") -> None:
    result = service.run_pipeline(project.load(), "p", observer)
    failures = {b: o.failure.describe() for b, o in observer.outcomes.items() if o.failure}
    assert result.status == status, failures


def batches(processed: Path) -> list[list[int]]:
    return [json.loads(line) for line in processed.read_text().splitlines()]


def checkpoint(project: ProjectFolder) -> Any:
    store = MetadataStore(project.load().metadata_url)
    try:
        return store.checkpoint_values("p", "incremental").get("orders")
    finally:
        store.close()


def test_runs_over_a_growing_table_process_only_new_and_changed_rows(
        pipeline: ProjectFolder, database: sa.Engine, files: dict[str, Path],
        observer: RecordingObserver) -> None:
    upsert(database, *((i, T + timedelta(minutes=i)) for i in (1, 2, 3)))
    run(pipeline, observer)
    upsert(database, (4, T + timedelta(minutes=4)), (1, T + timedelta(minutes=9)))  # 1 changed
    run(pipeline, observer)
    run(pipeline, observer)
    assert batches(files["processed"]) == [[1, 2, 3], [1, 4], []]
    assert checkpoint(pipeline) == {"at": (T + timedelta(minutes=9)).isoformat(), "keys": [1]}


def test_rows_with_the_watermark_timestamp_across_runs_are_processed_once(
        pipeline: ProjectFolder, database: sa.Engine, files: dict[str, Path],
        observer: RecordingObserver) -> None:
    upsert(database, (5, T), (6, T - timedelta(hours=1)))
    run(pipeline, observer)
    # Same timestamp as the watermark, one key smaller and one larger than those taken.
    upsert(database, (2, T), (7, T))
    run(pipeline, observer)
    upsert(database, (3, T), (8, T + timedelta(seconds=1)))
    run(pipeline, observer)
    run(pipeline, observer)
    assert batches(files["processed"]) == [[5, 6], [2, 7], [3, 8], []]
    assert checkpoint(pipeline) == {"at": (T + timedelta(seconds=1)).isoformat(), "keys": [8]}


def test_a_failed_run_reprocesses_and_a_reset_reprocesses_everything(
        pipeline: ProjectFolder, database: sa.Engine, files: dict[str, Path],
        observer: RecordingObserver, cli: type[CLI]) -> None:
    upsert(database, (1, T), (2, T))
    run(pipeline, observer)
    upsert(database, (3, T), (4, T + timedelta(minutes=1)))
    files["fail"].touch()
    run(pipeline, observer, "failed")
    assert checkpoint(pipeline) == {"at": T.isoformat(), "keys": [1, 2]}
    files["fail"].unlink()
    run(pipeline, observer)
    cli.run("checkpoints", "reset", "p", "incremental", cwd=pipeline.root, check=True)
    run(pipeline, observer)
    assert batches(files["processed"]) == [[1, 2], [3, 4], [3, 4], [1, 2, 3, 4]]


def context_with(value: Any) -> RunContext:
    return RunContext(RunId("r"), "p", BlockName("b"), T, load_checkpoints=lambda: (
        {} if value is None else {"orders": value}))


def frame(*rows: tuple[int, str]) -> pd.DataFrame:
    return pd.DataFrame({"id": [i for i, _ in rows],
                         "updated_at": pd.to_datetime([at for _, at in rows])})


def test_lookback_takes_late_rows_once() -> None:
    rows = [(1, "2024-05-01 10:00"), (2, "2024-05-01 11:00")]
    first = Watermark(context_with(None), "orders", "updated_at", "id",
                      lookback=timedelta(hours=2))
    first.advance(first.filter(frame(*rows)))
    value = first.context.new_checkpoints["orders"]
    assert value == {"at": "2024-05-01T11:00:00", "keys": [2],
                     "recent": [["2024-05-01T10:00:00", 1]]}

    # A row committed late with an older timestamp (within the window) and one far older.
    late = [*rows, (3, "2024-05-01 09:30"), (4, "2024-05-01 08:00"), (1, "2024-05-01 12:00")]
    second = Watermark(context_with(value), "orders", "updated_at", "id",
                       lookback=timedelta(hours=2))
    assert second.where() == ("updated_at >= :watermark_since",
                              {"watermark_since": datetime(2024, 5, 1, 9, 0)})
    taken = second.filter(frame(*late))
    assert taken["id"].tolist() == [3, 1]  # 4 is before the window: missed, as documented
    second.advance(taken)
    assert second.context.new_checkpoints["orders"]["recent"] == [
        ["2024-05-01T10:00:00", 1], ["2024-05-01T11:00:00", 2]]


def test_the_condition_selects_what_filter_keeps_in_duckdb() -> None:
    value = {"at": "2024-05-01T10:00:00", "keys": [5, 9]}
    watermark = Watermark(context_with(value), "orders", "updated_at", "id")
    condition, parameters = watermark.where("$")
    connection = duckdb.connect()
    connection.execute("CREATE TABLE orders AS SELECT * FROM (VALUES "
                       "(4, TIMESTAMP '2024-05-01 10:00:00'), (5, TIMESTAMP '2024-05-01 10:00:00'),"
                       "(6, TIMESTAMP '2024-05-01 09:59:59'), (7, TIMESTAMP '2024-05-01 10:00:01')"
                       ") t(id, updated_at)")
    selected = connection.execute(f"SELECT id FROM orders WHERE {condition} ORDER BY id",
                                  parameters).fetchall()
    everything = connection.execute("SELECT * FROM orders ORDER BY id").df()
    assert selected == [(4,), (7,)]
    assert watermark.filter(everything)["id"].tolist() == [4, 7]


def test_a_checkpoint_that_is_not_a_watermark_is_a_clear_error() -> None:
    with pytest.raises(BlockError, match="checkpoint 'orders' is not a watermark"):
        Watermark(context_with(42), "orders", "updated_at", "id")
    watermark = Watermark(context_with(None), "orders", "updated_at", "id")
    with pytest.raises(BlockError, match="the frame has no column 'id'"):
        watermark.filter(pd.DataFrame({"updated_at": [T]}))
