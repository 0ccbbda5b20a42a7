"""A SQL block's checkpoints: the expressions that give their new values, checked and
translated, and the values the database returns, as JSON.

The settings come from `checkpoints:` in pipeline.yaml (which wins) and from the block's
`-- cairn: checkpoint.NAME=EXPRESSION` header. The database evaluates each expression over
the block's table, after its statements and in its transaction; the runner commits the
values with the block's success.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from cairn.errors import BlockError


def checkpoint_expressions(settings: Mapping[str, str], header: Mapping[str, str],
                           written_in: str, target: str, filename: str,
                           ) -> dict[str, str]:
    """Each checkpoint's expression, checked to be one SQL value and written in the
    engine's dialect. A bad one fails the block before any statement runs."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    from cairn.blocks.sql_analysis import header_checkpoints

    expressions: dict[str, str] = {}
    for name, expression in {**header_checkpoints(header), **settings}.items():
        problem = None
        try:
            parsed = sqlglot.parse(f"SELECT {expression} FROM __cairn_block", read=written_in)
        except ParseError as error:
            first = error.errors[0] if error.errors else {}
            problem = str(first.get("description", error))
        else:
            select = parsed[0] if len(parsed) == 1 else None
            if (isinstance(select, exp.Select) and len(select.expressions) == 1
                    and select.args.get("from_") is not None and not select.args.get("where")):
                expressions[name] = select.expressions[0].sql(dialect=target)
            else:
                problem = "it is not a single SQL expression"
        if problem is not None:
            raise BlockError(
                f"checkpoint {name!r}: cannot read the expression `{expression}`: {problem}",
                file=filename,
                detail="hint: give one SQL value over the block's result, such as "
                "`checkpoints: {last_seen: \"max(updated_at)\"}` in pipeline.yaml or "
                "`-- cairn: checkpoint.last_seen=max(updated_at)`",
            )
    return expressions


def json_value(value: Any) -> Any:
    """A database value as JSON: dates, times and timestamps as ISO 8601 text (with their
    offset when they have one), decimals as integers when whole and as floats otherwise,
    UUIDs as text; lists and structs item by item. NaN and infinities are refused."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise BlockError(f"a checkpoint cannot be {value}")
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    return value
