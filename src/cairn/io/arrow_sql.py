"""Move Arrow tables into and out of SQLAlchemy databases by the fastest path each offers:
PostgreSQL `COPY` fed with CSV that pyarrow writes in C, batched multi-row INSERTs elsewhere."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from cairn.io.numbers import plain_numbers

_BATCH_ROWS = 100_000


def as_arrow(frame: Any) -> pa.Table:
    """A pandas, polars or pyarrow table as a pyarrow Table."""
    if isinstance(frame, pa.Table):
        return frame
    if type(frame).__module__.startswith("polars"):
        return frame.to_arrow()
    return pa.Table.from_pandas(frame, preserve_index=False)


def _column_type(arrow_type: pa.DataType) -> sa.types.TypeEngine[Any]:
    if pa.types.is_boolean(arrow_type):
        return sa.Boolean()
    if pa.types.is_integer(arrow_type):
        return sa.BigInteger()
    if pa.types.is_floating(arrow_type):
        return sa.Double()
    if pa.types.is_decimal(arrow_type):
        return sa.Numeric(arrow_type.precision, arrow_type.scale)
    if pa.types.is_timestamp(arrow_type):
        return sa.DateTime(timezone=arrow_type.tz is not None)
    if pa.types.is_date(arrow_type):
        return sa.Date()
    if pa.types.is_time(arrow_type):
        return sa.Time()
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return sa.LargeBinary()
    return sa.Text()


def table_for(name: str, schema: pa.Schema, db_schema: str | None, temporary: bool,
              ) -> sa.Table:
    """A SQLAlchemy table whose columns match an Arrow schema."""
    columns = [sa.Column(field.name, _column_type(field.type)) for field in schema]
    options: dict[str, Any] = {"prefixes": ["TEMPORARY"]} if temporary else {"schema": db_schema}
    if temporary:
        options["postgresql_on_commit"] = "DROP"
    return sa.Table(name, sa.MetaData(), *columns, **options)


def _batches(table: pa.Table) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, _BATCH_ROWS):
        yield table.slice(start, _BATCH_ROWS)


def _plain(table: pa.Table) -> pa.Table:
    """Values drivers accept: instants in UTC without a zone, everything else as is."""
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = column.cast(pa.timestamp(column.type.unit))
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def insert(connection: sa.Connection, target: sa.Table, table: pa.Table) -> int:
    """Bulk-load `table` into the existing `target` within `connection`'s transaction."""
    if connection.dialect.name == "postgresql":
        return _copy_into_postgres(connection, target, table)
    statement = connection.dialect.statement_compiler(connection.dialect, target.insert()
                                                      ).string
    raw = table if connection.dialect.name != "mysql" else _plain(table)
    for batch in _batches(raw):
        rows: list[Any] = (
            list(zip(*(column.to_pylist() for column in batch.columns), strict=True))
            if connection.dialect.positional else batch.to_pylist()
        )
        if rows:
            connection.exec_driver_sql(statement, rows)
    return int(table.num_rows)


def _copy_into_postgres(connection: sa.Connection, target: sa.Table, table: pa.Table) -> int:
    import pyarrow.csv as pacsv

    preparer = connection.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(c.name) for c in target.columns)
    name = preparer.format_table(target)
    options = pacsv.WriteOptions(include_header=False)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {name} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        for batch in _batches(table):
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, options)
            copy.write(buffer.getbuffer())
    return int(table.num_rows)


def fetch(result: sa.CursorResult[Any]) -> pa.Table:
    """A query result as a pyarrow Table, read in batches, numbers as plain as they fit."""
    names = list(result.keys())
    batches = []
    while rows := result.fetchmany(_BATCH_ROWS):
        batches.append(pa.table({n: [row[i] for row in rows] for i, n in enumerate(names)}))
    if not batches:
        return pa.table({n: pa.array([], pa.null()) for n in names})
    return plain_numbers(pa.concat_tables(batches, promote_options="permissive"))
