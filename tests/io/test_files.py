"""read_file/write_file: round trips per format, frame kind and store; globs; connections;
atomic writes; the errors users see."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import http.server
import importlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import s3_server
from s3_server import S3

from cairn.errors import CairnError
from cairn.io import files, secrets
from cairn.io.connection import Connection
from cairn.io.files import read_file, write_file

KINDS = ("pandas", "polars", "arrow")
FORMATS = ("csv", "parquet", "json", "jsonl")
# A null and an empty string, which CSV and JSON must keep apart.
ROWS = {"id": [1, 2, 3, 4], "score": [0.5, 1.25, -3.0, 0.0], "name": ["a", None, "", "ç"],
        "ok": [True, False, True, False]}
ROWS_TABLE = pa.table(ROWS)
s3 = s3_server.s3  # the session's local S3 server, a fixture requested by name


@dataclass(frozen=True)
class Place:
    """A folder on one store, with the storage options that reach it."""

    base: str
    options: dict[str, str]

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def read_bytes(self, name: str) -> bytes:
        with fsspec.open(self.url(name), "rb", **self.options) as handle:
            data: bytes = handle.read()
            return data


@pytest.fixture(params=["local", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if request.param == "local":
        return Place(str(tmp_path), {})
    server: S3 = request.getfixturevalue("s3")
    return Place(server.folder(), server.options)


def frame_of(kind: str) -> Any:
    if kind == "pandas":
        return ROWS_TABLE.to_pandas()
    if kind == "polars":
        return pl.from_arrow(ROWS_TABLE)
    return ROWS_TABLE


def rows(frame: Any) -> list[dict[str, Any]]:
    return files._to_arrow(frame).to_pylist()


def problem_of(error: pytest.ExceptionInfo[CairnError]) -> tuple[str, str]:
    [problem] = error.value.problems
    return problem.kind, problem.describe()


# Round trips


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(place: Place, fmt: str, kind: str) -> None:
    frame = frame_of(kind)
    url = place.url(f"nested/table.{fmt}")
    assert write_file(frame, url, storage_options=place.options) == url
    back = read_file(url, as_=kind, storage_options=place.options)
    assert type(back) is type(frame)
    assert rows(back) == rows(frame)


@pytest.mark.parametrize("name", ["table.csv.gz", "table.jsonl.gz"])
def test_compression_follows_the_suffix(place: Place, name: str) -> None:
    write_file(ROWS_TABLE, place.url(name), storage_options=place.options)
    assert gzip.decompress(place.read_bytes(name))  # really gzip, and complete
    assert rows(read_file(place.url(name), storage_options=place.options)) == rows(ROWS_TABLE)


def test_parquet_keeps_types_and_nulls(place: Place) -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    table = pa.table({
        "i": pa.array([1, None, 3], pa.int64()),
        "f": pa.array([1.5, None, float("inf")], pa.float64()),
        "s": pa.array(["a", None, ""], pa.string()),
        "b": pa.array([True, None, False], pa.bool_()),
        "ts": pa.array([dt.datetime(2026, 1, 1, 12, tzinfo=paris), None,
                        dt.datetime(2026, 6, 1, tzinfo=paris)], pa.timestamp("us", "Europe/Paris")),
        "d": pa.array([dt.date(2026, 1, 1), None, dt.date(2026, 12, 31)], pa.date32()),
    })
    url = place.url("types.parquet")
    write_file(table, url, storage_options=place.options)
    assert read_file(url, as_="arrow", storage_options=place.options).equals(table)

    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(),
                                          pa.bool_(): pd.BooleanDtype()}.get)
    write_file(frame, url, storage_options=place.options)
    pd.testing.assert_frame_equal(read_file(url, storage_options=place.options), frame)

    polars_frame = pl.from_arrow(table)
    write_file(polars_frame, url, storage_options=place.options)
    assert read_file(url, as_="polars", storage_options=place.options).equals(polars_frame)


def test_pandas_index_survives_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"n": [1, 2]}, index=pd.Index(["x", "y"], name="key"))
    url = write_file(frame, str(tmp_path / "indexed.parquet"))
    pd.testing.assert_frame_equal(read_file(url), frame)


def test_memory_store(tmp_path: Path) -> None:
    url = f"memory://cairn-test-{tmp_path.name}/table.parquet"
    written = write_file(ROWS_TABLE, url)
    try:
        assert rows(read_file(written)) == rows(read_file(url)) == rows(ROWS_TABLE)
    finally:
        fsspec.filesystem("memory").rm(written)


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """`tmp_path` served read-only over HTTP on 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_reads_over_http(http_folder: tuple[Path, str]) -> None:
    folder, base = http_folder
    write_file(ROWS_TABLE, str(folder / "table.csv"))
    assert rows(read_file(f"{base}/table.csv")) == rows(ROWS_TABLE)
    with pytest.raises(CairnError) as error:
        read_file(f"{base}/missing.csv")
    assert problem_of(error) == ("missing-file", f"no file at {base}/missing.csv")


def test_relative_local_paths_are_relative_to_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert write_file(ROWS_TABLE, "out/table.csv") == str(tmp_path / "out" / "table.csv")
    assert rows(read_file("out/table.csv")) == rows(ROWS_TABLE)


# Reading: globs, options, JSON shapes


def test_glob_reads_every_match_into_one_table(place: Place) -> None:
    write_file(pa.table({"id": [1], "x": [1.5]}), place.url("part-1.csv"),
               storage_options=place.options)
    # All empty in this file, so it reads as a null column; the glob promotes it to double.
    write_file(pa.table({"id": [2], "x": [None]}), place.url("part-2.csv"),
               storage_options=place.options)
    write_file(pa.table({"other": ["y"]}), place.url("other.parquet"),
               storage_options=place.options)
    back = read_file(place.url("part-*.csv"), as_="arrow", storage_options=place.options)
    assert back.to_pylist() == [{"id": 1, "x": 1.5}, {"id": 2, "x": None}]
    assert back.schema.field("x").type == pa.float64()


def test_csv_read_options_reach_pyarrow(tmp_path: Path) -> None:
    (tmp_path / "semi.csv").write_text("a;b\n1;x\n2;NA\n")
    back = read_file(str(tmp_path / "semi.csv"), as_="arrow", delimiter=";",
                     include_columns=["b"], null_values=["NA"])
    assert back.to_pylist() == [{"b": "x"}, {"b": None}]


def test_parquet_read_options_reach_pyarrow(tmp_path: Path) -> None:
    url = write_file(ROWS_TABLE, str(tmp_path / "t.parquet"))
    assert read_file(url, as_="arrow", columns=["id"]).column_names == ["id"]


@pytest.mark.parametrize(("text", "expected"), [
    ('[{"a": 1}, {"a": 2}]', [{"a": 1}, {"a": 2}]),
    ('{"a": 1}\n{"a": 2}\n', [{"a": 1}, {"a": 2}]),
    ("[]", []),
    ("", []),
], ids=["records", "lines-in-.json", "empty-array", "empty-file"])
def test_json_records_or_lines(tmp_path: Path, text: str, expected: list[dict[str, int]],
                               ) -> None:
    (tmp_path / "t.json").write_text(text)
    assert read_file(str(tmp_path / "t.json"), as_="arrow").to_pylist() == expected


def test_format_overrides_the_suffix(tmp_path: Path) -> None:
    url = write_file(ROWS_TABLE, str(tmp_path / "export.txt"), "ndjson")
    assert Path(url).read_text().startswith('{"id": 1,')
    assert rows(read_file(url, "jsonl")) == rows(ROWS_TABLE)


def test_importing_the_module_loads_no_heavy_library() -> None:
    code = ("import sys, cairn.io.files; "
            "print(sorted({'pyarrow', 'pandas', 'polars', 'fsspec', 's3fs'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


# Connections


def test_connection_joins_relative_urls_and_lends_its_options(s3: S3) -> None:
    base = s3.folder()
    lake = Connection("lake", "files", {"url": base + "/", "options": s3.options})
    written = write_file(ROWS_TABLE, "sub/t.parquet", connection=lake)
    assert written == f"{base}/sub/t.parquet"
    assert rows(read_file("sub/t.parquet", connection=lake)) == rows(ROWS_TABLE)
    # A full URL is used as it is, still with the connection's options.
    assert rows(read_file(written, connection=lake)) == rows(ROWS_TABLE)


def test_storage_options_override_the_connections(s3: S3) -> None:
    unreachable = Connection("lake", "files", {"url": s3.folder(),
                                               "options": {"endpoint_url": "http://127.0.0.1:9"}})
    url = write_file(ROWS_TABLE, "t.csv", connection=unreachable, storage_options=s3.options)
    assert rows(read_file(url, storage_options=s3.options)) == rows(ROWS_TABLE)


def test_local_connection_folder_is_relative_to_the_project(tmp_path: Path) -> None:
    local = Connection("local", "files", {"url": "data"}, root=tmp_path)
    assert write_file(ROWS_TABLE, "t.csv", connection=local) == str(tmp_path / "data/t.csv")
    assert rows(read_file("t.csv", connection=local)) == rows(ROWS_TABLE)


def test_only_files_connections_are_accepted(tmp_path: Path) -> None:
    warehouse = Connection("warehouse", "duckdb", {"path": "w.duckdb"}, root=tmp_path)
    with pytest.raises(CairnError) as error:
        read_file("t.csv", connection=warehouse)
    kind, text = problem_of(error)
    assert kind == "bad-connection" and "'warehouse' is not a files connection" in text


# Writing: refusing to overwrite, atomicity


def test_mode_fail_refuses_to_overwrite(place: Place) -> None:
    url = place.url("t.csv")
    write_file(pa.table({"v": [1]}), url, storage_options=place.options, mode="fail")
    with pytest.raises(CairnError) as error:
        write_file(pa.table({"v": [2]}), url, storage_options=place.options, mode="fail")
    assert problem_of(error) == (
        "file-exists", f'{url} already exists\n  hint: pass mode="overwrite" to replace it')
    assert read_file(url, as_="arrow", storage_options=place.options).to_pylist() == [{"v": 1}]


def _failing_writer(table: pa.Table, sink: IO[bytes]) -> None:
    sink.write(b"v\n9\n")
    raise RuntimeError("disk full")


def test_failed_write_keeps_the_old_file(place: Place, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    url = place.url("t.csv")
    write_file(pa.table({"v": [1]}), url, storage_options=place.options)
    monkeypatch.setitem(files._WRITERS, "csv", _failing_writer)
    with pytest.raises(RuntimeError, match="disk full"):
        write_file(pa.table({"v": [2]}), url, storage_options=place.options)
    assert place.read_bytes("t.csv") == b'"v"\n1\n'
    if place.base == str(tmp_path):
        assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # no temporary file left


def test_local_write_leaves_only_the_file(tmp_path: Path) -> None:
    for fmt in FORMATS:
        write_file(ROWS_TABLE, str(tmp_path / f"t.{fmt}"))
        write_file(ROWS_TABLE, str(tmp_path / f"t.{fmt}"))  # and over an existing one
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"t.{f}" for f in FORMATS)


# Errors


@pytest.mark.parametrize(("call", "kind", "text"), [
    (lambda d: read_file(f"{d}/t.xlsx"), "unknown-format",
     "cannot tell the file format of {d}/t.xlsx from its suffix\n"
     "  hint: supported formats: csv, parquet, json, jsonl (pass format=... to choose one)"),
    (lambda d: read_file(f"{d}/t.csv", "excel"), "unknown-format",
     "unknown file format 'excel'"),
    (lambda d: write_file(ROWS_TABLE, f"{d}/t"), "unknown-format", "cannot tell the file format"),
    (lambda d: read_file(f"{d}/missing.csv"), "missing-file", "no file at {d}/missing.csv"),
    (lambda d: read_file(f"{d}/*.csv"), "missing-file", "no files match {d}/*.csv"),
    (lambda d: read_file("gcs://bucket/t.csv"), "missing-backend",
     "gcs://bucket/t.csv needs the gcs:// filesystem, which is not installed\n"
     "  hint: Please install gcsfs"),
    (lambda d: read_file("nope://bucket/t.csv"), "unknown-protocol",
     "no filesystem is known for nope://bucket/t.csv"),
    (lambda d: read_file(f"{d}/t.csv", as_="numpy"), "bad-options",
     "cannot return a table as 'numpy'"),
    (lambda d: write_file(ROWS_TABLE, f"{d}/t.csv", mode="append"), "bad-options",
     "unknown write mode 'append'"),
    (lambda d: write_file([1, 2], f"{d}/t.csv"), "bad-value", "cannot write a list as a file"),
    (lambda d: write_file(pa.table({"l": [[1, 2]]}), f"{d}/t.csv"), "unwritable",
     "cannot write this table to {d}/t.csv as csv: Unsupported Type"),
    (lambda d: write_file(pl.DataFrame({"x": [float("nan")]}), f"{d}/t.json"), "unwritable",
     "Out of range float values are not JSON compliant"),
], ids=["suffix", "format", "no-suffix", "missing", "glob", "backend", "protocol", "as",
        "mode", "value", "csv-type", "json-nan"])
def test_errors(tmp_path: Path, call: Any, kind: str, text: str) -> None:
    with pytest.raises(CairnError) as error:
        call(tmp_path)
    found_kind, found_text = problem_of(error)
    assert found_kind == kind
    assert text.format(d=tmp_path) in found_text
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_unknown_read_options_are_named(tmp_path: Path) -> None:
    url = write_file(ROWS_TABLE, str(tmp_path / "t.csv"))
    with pytest.raises(CairnError) as error:
        read_file(url, delimeter=";")
    assert problem_of(error)[1].startswith("unknown csv read options: delimeter\n")


def test_unreadable_file_names_the_url_and_format(tmp_path: Path) -> None:
    (tmp_path / "t.parquet").write_text("a,b\n1,2\n")
    with pytest.raises(CairnError) as error:
        read_file(str(tmp_path / "t.parquet"))
    kind, text = problem_of(error)
    assert kind == "unreadable-file" and f"cannot read {tmp_path}/t.parquet as parquet" in text


def test_missing_s3_object_names_the_url(s3: S3) -> None:
    url = s3.folder() + "/missing.parquet"
    with pytest.raises(CairnError) as error:
        read_file(url, storage_options=s3.options)
    assert problem_of(error) == ("missing-file", f"no file at {url}")


def test_s3_without_s3fs_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # fsspec keeps the classes it has imported; forget S3's so it imports s3fs again.
    monkeypatch.delitem(importlib.import_module("fsspec.registry")._registry, "s3",
                        raising=False)
    monkeypatch.setitem(sys.modules, "s3fs", None)
    with pytest.raises(CairnError) as error:
        read_file("s3://bucket/t.parquet")
    assert problem_of(error) == (
        "missing-backend", "s3://bucket/t.parquet needs the s3:// filesystem, which is not "
        "installed\n  hint: install cairn[s3]")


def test_errors_mask_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_ordered", ("t0ken",))  # as if read through secret()
    with pytest.raises(CairnError) as error:
        read_file(f"{tmp_path}/t0ken.csv")
    assert problem_of(error) == ("missing-file", f"no file at {tmp_path}/***.csv")
