"""SQL blocks read checkpoints with `{{ checkpoint() }}` and set them from an expression
over their table, committed only with the block's success."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

import duckdb
import pytest
from support import CLI, ProjectFolder, RecordingObserver

from cairn import service
from cairn.blocks.sql_analysis import read_header
from cairn.blocks.sql_checkpoints import json_value
from cairn.store.metadata import MetadataStore

# Appends the orders changed since its watermark to its own table, the `new_orders` block.
NEW_ORDERS = """
-- cairn: write=append, checkpoint.last_seen=max(updated_at)
SELECT id, amount, updated_at
FROM orders
WHERE updated_at > {{ checkpoint('last_seen', '1970-01-01') }}
"""


def warehouse(project: ProjectFolder, sql: str, rows: Sequence[tuple[object, ...]] = ()
              ) -> list[tuple[object, ...]]:
    path = project.load().warehouse_path
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path))
    try:
        if rows:
            connection.executemany(sql, rows)
            return []
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def add_orders(project: ProjectFolder, *orders: tuple[int, int, str]) -> None:
    warehouse(project, "CREATE TABLE IF NOT EXISTS orders "
                       "(id INTEGER, amount INTEGER, updated_at TIMESTAMP)")
    warehouse(project, "INSERT INTO orders VALUES (?, ?, ?)", orders)


def checkpoints(project: ProjectFolder, block: str) -> dict[str, object]:
    store = MetadataStore(project.load().metadata_url)
    try:
        return store.checkpoint_values("p", block)
    finally:
        store.close()


def test_append_with_a_watermark_processes_only_new_rows(
        project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", {"new_orders.sql": NEW_ORDERS})
    add_orders(project, (1, 10, "2024-05-01 10:00:00"), (2, 20, "2024-05-01 11:00:00"))
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    assert observer.outcomes["new_orders"].rows_out == 2
    assert checkpoints(project, "new_orders") == {"last_seen": "2024-05-01T11:00:00"}

    add_orders(project, (3, 30, "2024-05-02 09:00:00"))
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    # Nothing new: the watermark keeps its place (max() over no new rows is not NULL
    # here, the table holds every run's rows; a NULL would leave it too).
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    assert warehouse(project, "SELECT id FROM new_orders ORDER BY id") == [(1,), (2,), (3,)]
    assert checkpoints(project, "new_orders") == {"last_seen": "2024-05-02T09:00:00"}


def test_a_failing_block_leaves_the_checkpoint_and_the_next_run_reprocesses(
        project: ProjectFolder, observer: RecordingObserver) -> None:
    # The setting in pipeline.yaml instead of the header; a replaced table of new rows
    # only, whose max() is NULL when nothing is new.
    project.pipeline("p", {"changed.sql": """
        SELECT id, CASE WHEN amount > 0 THEN 100 // amount ELSE error('no amount') END
               AS share, updated_at
        FROM orders
        WHERE updated_at > {{ checkpoint('seen', '1970-01-01') }}
    """}, "blocks:\n  - {name: changed, checkpoints: {seen: max(updated_at), rows: count(*)}}\n")
    add_orders(project, (1, 10, "2024-05-01 10:00:00"))
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    add_orders(project, (2, 0, "2024-05-01 12:00:00"), (3, 5, "2024-05-01 13:00:00"))
    assert service.run_pipeline(project.load(), "p", observer).status == "failed"
    failure = observer.outcomes["changed"].failure
    assert failure is not None and "no amount" in failure.message
    assert checkpoints(project, "changed") == {"seen": "2024-05-01T10:00:00", "rows": 1}

    warehouse(project, "UPDATE orders SET amount = 4 WHERE id = 2")
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    assert warehouse(project, "SELECT id, share FROM changed ORDER BY id") == [(2, 25), (3, 20)]
    assert checkpoints(project, "changed") == {"seen": "2024-05-01T13:00:00", "rows": 2}

    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    assert warehouse(project, "SELECT count(*) FROM changed") == [(0,)]
    assert checkpoints(project, "changed") == {"seen": "2024-05-01T13:00:00", "rows": 0}


def test_reset_then_run_reprocesses_everything(
        project: ProjectFolder, observer: RecordingObserver, cli: type[CLI]) -> None:
    project.pipeline("p", {"new_orders.sql": NEW_ORDERS})
    add_orders(project, (1, 10, "2024-05-01 10:00:00"), (2, 20, "2024-05-01 11:00:00"))
    service.run_pipeline(project.load(), "p", observer)
    cli.run("checkpoints", "reset", "p", "new_orders", cwd=project.root, check=True)
    assert checkpoints(project, "new_orders") == {}
    warehouse(project, "DROP TABLE new_orders")  # a backfill starts from an empty table
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    assert warehouse(project, "SELECT id FROM new_orders ORDER BY id") == [(1,), (2,)]


@pytest.mark.parametrize(("setting", "message"), [
    ("checkpoint.seen=max(", "cannot read the expression `max(`"),
    ("checkpoint.seen=max(updated_at) FROM orders WHERE true",
     "cannot read the expression"),
    ("checkpoint.seen=max(no_such_column)", "cannot compute `MAX(no_such_column)`"),
], ids=["syntax", "not-one-expression", "unknown-column"])
def test_a_bad_expression_fails_the_block_naming_its_file(
        project: ProjectFolder, observer: RecordingObserver, setting: str, message: str,
) -> None:
    project.pipeline("p", {"block.sql": f"-- cairn: {setting}\nSELECT 1 AS updated_at\n"})
    assert service.run_pipeline(project.load(), "p", observer).status == "failed"
    failure = observer.outcomes["block"].failure
    assert failure is not None and message in failure.message, failure.message
    assert failure.file is not None and failure.file.endswith("block.sql")
    assert checkpoints(project, "block") == {}


def test_checkpoints_setting_on_a_python_block_is_a_problem(project: ProjectFolder) -> None:
    from cairn.project.pipeline import load_pipeline

    project.pipeline("p", {"b.py": "b = 1\n"}, "blocks:\n  - {name: b, checkpoints: {x: '1'}}\n")
    problems = load_pipeline(project.load(), "p").problems
    assert [p.kind for p in problems] == ["checkpoints-setting"]
    assert problems[0].file is not None and problems[0].file.endswith("pipeline.yaml")


def test_header_expressions_may_hold_commas() -> None:
    header = read_header("-- cairn: write=append, checkpoint.at=coalesce(max(a), 'x,y')\n"
                         "SELECT 1\n", "b.sql")
    assert header == {"write": "append", "checkpoint.at": "coalesce(max(a), 'x,y')"}


@pytest.mark.parametrize(("value", "expected"), [
    (dt.datetime(2024, 5, 1, 10, 0, 0, 250000), "2024-05-01T10:00:00.250000"),
    (dt.date(2024, 5, 1), "2024-05-01"),
    (Decimal("12.00"), 12),
    (Decimal("12.5"), 12.5),
    ([Decimal("1"), "a"], [1, "a"]),
    ({"k": dt.date(2024, 1, 2)}, {"k": "2024-01-02"}),
], ids=["timestamp", "date", "whole-decimal", "decimal", "list", "struct"])
def test_database_values_become_json(value: object, expected: object) -> None:
    assert json_value(value) == expected
