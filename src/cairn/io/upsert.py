"""The `upsert` write policy, shared by SQL blocks, `write_table` and stream table sinks.

An upsert keeps one row per key: the new rows replace the stored rows with the same key
and new keys are added, in the one transaction of the write. The new rows are brought to
one per key first (the last row of a key wins, as a later message or a later line of a
result is the newer value), then the stored rows whose key they have are deleted and
they are inserted: statements every engine Cairn runs on has alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cairn.errors import BlockError

STAGED = "__cairn_upsert"  # the new rows, one per key, as the engine's statements see them


def last_per_key(table: Any, key: Sequence[str], target: str) -> Any:
    """The rows of a pyarrow table with one row per key, each key's last, in the order
    of those last rows. A missing key column or a key with a NULL is refused: a NULL
    matches no stored row, so such a row would be added again by every write."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not key:
        raise BlockError(f"the upsert of {target} has no key",
                         detail="hint: name the key columns, e.g. `key: [id]`")
    missing = [column for column in key if column not in table.column_names]
    if missing:
        raise BlockError(
            f"the upsert of {target} needs the key column {missing[0]!r}, which the rows "
            "do not have", detail=f"hint: the rows have: {', '.join(table.column_names)}")
    for column in key:
        if table[column].null_count:
            raise BlockError(f"the upsert of {target}: {table[column].null_count} row(s) "
                             f"have no value (NULL) in the key column {column!r}",
                             detail="hint: every row needs a key to be replaced by")
    positions = pa.array(range(table.num_rows), pa.int64())
    last = (table.select(list(key)).append_column("__cairn_position", positions)
            .group_by(list(key), use_threads=False)
            .aggregate([("__cairn_position", "max")]))["__cairn_position_max"]
    return table.take(pc.take(last, pc.sort_indices(last)))


def delete_matching(target: str, key: Sequence[str], quote: Callable[[str], str],
                    mysql: bool = False) -> str:
    """The statement deleting the stored rows of `target` whose key the staged rows have."""
    matches = " AND ".join(f"b.{quote(k)} = t.{quote(k)}" for k in key)
    staged = f"(SELECT 1 FROM {STAGED} AS b WHERE {matches})"
    if mysql:  # MySQL names the alias it deletes from before FROM
        return f"DELETE t FROM {target} AS t WHERE EXISTS {staged}"
    return f"DELETE FROM {target} AS t WHERE EXISTS {staged}"


def empty_copy(target: str, query: str) -> str:
    """Creates the table of a first upsert with the columns (and types) of its query."""
    return f"CREATE TABLE {target} AS SELECT * FROM ({query}) AS q WHERE 1 = 0"
