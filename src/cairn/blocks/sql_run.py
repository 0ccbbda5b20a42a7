"""Execute a SQL block in the warehouse; its result stays there as a table or view."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cairn.blocks.spec import BlockSpec
from cairn.blocks.sql_analysis import render
from cairn.errors import BlockError
from cairn.runtime.values import TableRef, table_kind
from cairn.runtime.warehouse import Warehouse, quote

_DUCKDB_LINE = re.compile(r"LINE (\d+):")


def _reported_line(error: Exception, first_line: int) -> int:
    """DuckDB says `LINE n:` counting from the statement's start; make it a file line."""
    match = _DUCKDB_LINE.search(str(error))
    return first_line + int(match.group(1)) - 1 if match else first_line


def _line_of(text: str, statement: str, start: int) -> tuple[int, int]:
    """The 1-based line where `statement` begins in `text`, searching from `start`."""
    position = text.find(statement.strip(), start)
    if position < 0:
        return 1, start
    return text.count("\n", 0, position) + 1, position + len(statement.strip())


def run_sql(
    spec: BlockSpec,
    inputs: Mapping[str, Any],
    variables: Mapping[str, Any],
    warehouse: Warehouse,
    materialize: str,
) -> dict[str, Any]:
    """Run every statement; the last one must be a query, stored under the block's name."""
    import duckdb

    text, _refs = render(spec.source, str(spec.file), variables)
    cursor = warehouse.cursor()
    try:
        python_tables = []
        for name, value in inputs.items():
            if table_kind(value) is not None:
                cursor.register(name, value)  # a view over the frame: no copy
                python_tables.append(name)
        if materialize == "view" and python_tables:
            raise BlockError(
                f"a view cannot read Python outputs ({', '.join(python_tables)}): they exist "
                "only while the block runs",
                file=str(spec.file),
                detail="hint: set `materialize: table` for this block in pipeline.yaml",
            )
        try:
            statements = duckdb.extract_statements(text)
        except duckdb.Error as error:
            raise BlockError(f"SQL error: {error}", file=str(spec.file),
                             line=_reported_line(error, 1)) from None
        if not statements or statements[-1].type != duckdb.StatementType.SELECT:
            raise BlockError(
                "the last statement of a SQL block must be a query (SELECT, WITH, FROM, VALUES)",
                file=str(spec.file),
                detail="hint: its result becomes the block's table; end the file with a query",
            )
        offset = 0
        for index, statement in enumerate(statements, start=1):
            line, offset = _line_of(text, statement.query, offset)
            query = statement.query.strip().rstrip(";")
            if index == len(statements):
                kind = "VIEW" if materialize == "view" else "TABLE"
                query = f"CREATE OR REPLACE {kind} {quote(spec.name)} AS {query}"
            try:
                cursor.execute(query)
            except duckdb.Error as error:
                raise BlockError(
                    f"SQL error in statement {index}: {error}",
                    file=str(spec.file),
                    line=_reported_line(error, line),
                    detail="statement: " + " ".join(statement.query.split())[:300],
                ) from None
        return {spec.name: TableRef(spec.name)}
    finally:
        cursor.close()


def count_rows(warehouse: Warehouse, table: str) -> int:
    cursor = warehouse.cursor()
    try:
        row = cursor.execute(f"SELECT count(*) FROM {quote(table)}").fetchone()
        return int(row[0]) if row else 0
    finally:
        cursor.close()
