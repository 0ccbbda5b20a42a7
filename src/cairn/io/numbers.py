"""Numbers leave a database as numbers. DuckDB's `sum()` of integers is a HUGEINT and of
decimals a DECIMAL(38, s); PostgreSQL's and MySQL's are NUMERIC. Arrow carries all of
these as decimals, which pandas turns into Python `Decimal` objects in an object column:
slow, and not what `df.x + 1` or a JSON dump expects. Every table read from a database
passes through `plain_numbers` on its way out, so the rule lives here only:

- an integer-valued decimal (scale 0) whose values all fit in int64 becomes int64;
- a decimal with a scale whose values all have at most 15 significant digits becomes
  float64 (a double keeps 15 digits exactly: the value prints back as it was stored);
- any other decimal stays an Arrow decimal, and pandas gets it as `decimal128[pyarrow]`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_INT64 = (Decimal(-(2**63)), Decimal(2**63 - 1))
_DOUBLE_DIGITS = 15


def _plain_type(column: pa.ChunkedArray) -> pa.DataType | None:
    """The type a decimal column's values fit without loss, or None to keep it."""
    kind = column.type
    if not pa.types.is_decimal(kind):
        return None
    bounds = pc.min_max(column)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if kind.scale <= 0:
        digits = kind.precision - kind.scale  # a negative scale adds zeros
        if digits <= 18 or low is None or (low >= _INT64[0] and high <= _INT64[1]):
            return pa.int64()
        return None
    if kind.precision <= _DOUBLE_DIGITS or low is None:
        return pa.float64()
    largest = max(abs(low), abs(high))
    return pa.float64() if largest < Decimal(10) ** (_DOUBLE_DIGITS - kind.scale) else None


def plain_numbers(table: pa.Table) -> pa.Table:
    """`table` with its decimal columns as int64 or float64 where the values allow."""
    for index, field in enumerate(table.schema):
        target = _plain_type(table.column(index))
        if target is not None:
            column = pc.cast(table.column(index), target, safe=target != pa.float64())
            table = table.set_column(index, pa.field(field.name, target, field.nullable),
                                     column)
    return table


def _keep_decimals(kind: pa.DataType) -> Any:
    import pandas as pd

    return pd.ArrowDtype(kind) if pa.types.is_decimal(kind) else None


def to_pandas(table: pa.Table) -> Any:
    """A table read from a database as a pandas DataFrame of plain numbers."""
    return plain_numbers(table).to_pandas(types_mapper=_keep_decimals)
