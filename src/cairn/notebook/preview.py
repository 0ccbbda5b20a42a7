"""What the page shows of a block's outputs: pages of tables, reprs of other values."""

from __future__ import annotations

import json
from typing import Any

from cairn.io.numbers import to_pandas
from cairn.io.pool import Databases
from cairn.runtime.values import TableRef, table_kind

PAGE_ROWS = 50
PREVIEW_LIMIT = 1_000  # rows of a database table fetched for display, at most
_REPR_CHARACTERS = 4_000


def _frame(value: Any) -> Any:
    kind = table_kind(value)
    if kind in ("polars", "arrow"):
        return value.to_pandas()
    return value


def _page_of_frame(frame: Any, offset: int, limit: int) -> dict[str, Any]:
    window = frame.iloc[offset : offset + limit]
    rows = json.loads(window.to_json(orient="values", date_format="iso", default_handler=str))
    columns = [{"name": str(name), "type": str(dtype)} for name, dtype in frame.dtypes.items()]
    return {"columns": columns, "rows": rows, "offset": offset, "total": len(frame)}


def page(value: Any, databases: Databases, offset: int = 0, limit: int = PAGE_ROWS,
         ) -> dict[str, Any]:
    """Rows `offset` to `offset + limit` of a table output, with column names and types."""
    if isinstance(value, TableRef):
        database = databases.get(value.connection)
        total = database.count(value.name)
        shown = min(limit, max(0, PREVIEW_LIMIT - offset)) if offset < PREVIEW_LIMIT else 0
        head = to_pandas(database.read(value.name, offset + shown))
        result = _page_of_frame(head, offset, shown)
        result["total"] = total
        return result
    return _page_of_frame(_frame(value), offset, limit)


def is_table(value: Any) -> bool:
    return isinstance(value, TableRef) or table_kind(value) is not None


def describe(name: str, value: Any, databases: Databases) -> dict[str, Any]:
    """An output as the page shows it first."""
    if is_table(value):
        first = page(value, databases)
        return {"name": name, "kind": "table", "columns": first["columns"],
                "rows": first["total"], "page": first}
    text = repr(value)
    if len(text) > _REPR_CHARACTERS:
        text = text[:_REPR_CHARACTERS] + f"… ({len(text):,} characters)"
    return {"name": name, "kind": "value", "repr": text}
