"""Outputs round-trip through files of the right format, written atomically."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from cairn.runtime import values
from cairn.runtime.values import StoredOutput, TableRef, read_value, write_value


@pytest.mark.parametrize(("value", "kind", "suffix"), [
    (42, "json", ".json"),
    ("text", "json", ".json"),
    (None, "json", ".json"),
    (float("nan"), "pickle", ".pkl"),
    ({"nested": [1, (2, 3)]}, "pickle", ".pkl"),
    (pa.table({"a": [1, 2], "b": ["x", None]}), "arrow", ".arrow"),
], ids=["int", "str", "none", "nan", "dict", "arrow"])
def test_round_trip(tmp_path: Path, value: object, kind: str, suffix: str) -> None:
    stored = write_value(value, tmp_path, "v")
    assert stored.kind == kind and stored.file == "v" + suffix
    assert stored.bytes == (tmp_path / stored.file).stat().st_size
    back = read_value(stored, tmp_path)
    if isinstance(value, float):
        assert back != back  # NaN survives
    elif isinstance(value, pa.Table):
        assert back.equals(value)
    else:
        assert back == value
    assert [p.name for p in tmp_path.iterdir()] == [stored.file]  # no temporary file left


def test_pandas_keeps_types_and_index(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"when": pd.to_datetime(["2026-01-01", "2026-01-02"]), "n": [1, 2], "s": ["a", None]},
        index=pd.Index([10, 20], name="key"),
    )
    stored = write_value(frame, tmp_path, "frame")
    assert (stored.kind, stored.rows) == ("pandas", 2)
    pd.testing.assert_frame_equal(read_value(stored, tmp_path), frame)


def test_large_pandas_frames_are_written_in_slices(tmp_path: Path) -> None:
    frame = pd.DataFrame({"n": range(2_500_000)})
    stored = write_value(frame, tmp_path, "big")
    assert stored.rows == 2_500_000
    back = read_value(stored, tmp_path)
    assert back["n"].iloc[-1] == 2_499_999 and len(back) == 2_500_000


def test_polars_round_trip(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": [1, 2, 3], "b": [0.5, None, 1.5]})
    stored = write_value(frame, tmp_path, "pl")
    assert stored.kind == "polars"
    assert read_value(stored, tmp_path).equals(frame)


def test_unstorable_values_are_recorded_not_fatal(tmp_path: Path) -> None:
    stored = write_value(threading.Lock(), tmp_path, "lock")
    assert stored.kind == "unstored" and stored.file is None
    assert "lock" in (stored.note or "")
    with pytest.raises(FileNotFoundError, match="lock was not stored"):
        read_value(stored, tmp_path)


def test_warehouse_tables_are_references(tmp_path: Path) -> None:
    stored = write_value(TableRef("sums"), tmp_path, "sums")
    assert stored == StoredOutput("sums", "table", note="sums", connection="warehouse")
    assert read_value(stored, tmp_path) == TableRef("sums")


def test_frames_arrow_cannot_hold_are_pickled(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [Path("x"), Path("y")]})
    stored = write_value(frame, tmp_path, "paths")
    assert stored.kind == "pickle"
    pd.testing.assert_frame_equal(read_value(stored, tmp_path), frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paths.pkl"]


def test_a_failed_write_leaves_the_previous_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write_value(pa.table({"a": [1]}), tmp_path, "t")

    def fail_midway(value: pa.Table, kind: str) -> Iterator[pa.RecordBatch]:
        yield from value.to_batches()
        raise OSError("disk full")

    monkeypatch.setattr(values, "_arrow_batches", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        write_value(pa.table({"a": [2, 3]}), tmp_path, "t")
    back = read_value(StoredOutput("t", "arrow", "t.arrow"), tmp_path)
    assert back.column("a").to_pylist() == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.arrow"]
