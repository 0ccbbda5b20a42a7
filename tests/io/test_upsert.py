"""An upsert keeps the last row of each key of the rows it writes."""

from __future__ import annotations

import pyarrow as pa
import pytest

from cairn.errors import BlockError
from cairn.io.upsert import last_per_key


def test_the_last_row_of_each_key_wins() -> None:
    table = pa.table({"id": [1, 1, 2], "v": ["a2", "a3", "b2"]})
    kept = last_per_key(table, ["id"], "t")
    assert sorted(kept.to_pylist(), key=lambda row: row["id"]) == [
        {"id": 1, "v": "a3"}, {"id": 2, "v": "b2"}]


def test_rows_keep_their_order_and_compound_keys_match_whole() -> None:
    table = pa.table({"a": [1, 1, 2, 1, 2], "b": ["x", "y", "x", "x", "x"],
                      "v": [1, 2, 3, 4, 5]})
    kept = last_per_key(table, ["a", "b"], "t")
    assert kept.to_pylist() == [{"a": 1, "b": "y", "v": 2}, {"a": 1, "b": "x", "v": 4},
                                {"a": 2, "b": "x", "v": 5}]


def test_a_missing_key_column_or_a_null_key_is_refused() -> None:
    table = pa.table({"id": [1, None], "v": ["a", "b"]})
    with pytest.raises(BlockError, match="key column 'order_id'"):
        last_per_key(table, ["order_id"], "t")
    with pytest.raises(BlockError, match="NULL"):
        last_per_key(table, ["id"], "t")
