"""The files source: rows of new files under a local folder or an fsspec URL as messages,
read in batches that may end inside a file, and resumed from Cairn's checkpoint."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from harness import StreamProcess, event, ids, kill_after_first_rows, stream_project
from support import ProjectFolder

sys.path.append(str(Path(__file__).parents[1] / "io"))  # the io tests' local S3 server
import s3_server
from s3_server import S3

from cairn.errors import CairnError
from cairn.io.connection import Connection
from cairn.project.streaming import SourceSettings
from cairn.stream import files as files_module
from cairn.stream.files import FilesSource
from cairn.stream.message import Message
from cairn.stream.ports import StreamScope, make_source

FAST = {"settle_seconds": 0, "poll_seconds": 0.01}
s3 = s3_server.s3  # the session's local S3 server, a fixture requested by name


def _source(root: Path, url: str, connection: Connection | None = None, pattern: str = "*",
            **options: Any) -> FilesSource:
    settings = SourceSettings(kind="files", url=url, pattern=pattern,
                              connection=connection.name if connection else None,
                              options={**FAST, **options})
    source = make_source(settings, connection, StreamScope("p", root, root / "state"))
    assert isinstance(source, FilesSource)
    source.restore({})
    source.open()
    return source


def _values(messages: list[Message]) -> list[Any]:
    return [json.loads(message.value) for message in messages]


def _drain(source: FilesSource, batch: int = 1000) -> list[Any]:
    """Every message waiting, fetched and committed batch by batch."""
    values = []
    while messages := source.fetch(batch, 0.05):
        source.commit(messages)
        values += _values(messages)
    return values


def _jsonl(numbers: range) -> bytes:
    return b"".join(event(n) + b"\n" for n in numbers)


def _parquet(path: Path) -> None:
    pq.write_table(pa.table({"id": [1, 2, 3, 4, 5], "name": list("abcde")}), path,
                   row_group_size=2)


# name -> how to write it -> the messages it holds
FORMATS: list[tuple[str, Callable[[Path], object], list[Any]]] = [
    ("a.jsonl", lambda p: p.write_text('{"id": 1}\n\n{"id": 2}\n'), [{"id": 1}, {"id": 2}]),
    ("a.json", lambda p: p.write_text('[{"id": 1}, 2, "x"]'), [{"id": 1}, 2, "x"]),
    ("a.json", lambda p: p.write_text('{"id": 1, "tags": [1]}'), [{"id": 1, "tags": [1]}]),
    ("a.csv", lambda p: p.write_text('id,name\n1,x\n2,\n3,""\n'),
     [{"id": 1, "name": "x"}, {"id": 2, "name": None}, {"id": 3, "name": ""}]),
    ("a.parquet", _parquet, [{"id": n, "name": c} for n, c in zip(range(1, 6), "abcde",
                                                                    strict=True)]),
    ("a.jsonl.gz", lambda p: p.write_bytes(gzip.compress(b'{"id": 1}\n')), [{"id": 1}]),
    ("empty.jsonl", lambda p: p.write_text(""), []),
]


@pytest.mark.parametrize(("name", "write", "expected"), FORMATS,
                         ids=[f"{name}-{number}" for number, (name, _, _) in enumerate(FORMATS)])
def test_each_format_gives_one_message_per_row(tmp_path: Path, name: str,
                                               write: Callable[[Path], object],
                                               expected: list[Any]) -> None:
    (tmp_path / "in").mkdir()
    write(tmp_path / "in" / name)
    source = _source(tmp_path, "in")
    assert _drain(source, batch=2) == expected
    assert source.position()["files"] == {name: pytest.approx(source.position()["modified"])}


def test_a_batch_ends_inside_a_file_and_a_restored_source_goes_on_from_there(
        tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(_jsonl(range(1, 4)))
    (folder / "b.jsonl").write_bytes(_jsonl(range(4, 8)))
    first = _source(tmp_path, "in")
    batch = first.fetch(5, 0.05)
    assert [v["id"] for v in _values(batch)] == [1, 2, 3, 4, 5]
    assert [m.topic for m in batch] == ["a.jsonl"] * 3 + ["b.jsonl"] * 2
    first.commit(batch)
    position = json.loads(json.dumps(first.position()))  # as the checkpoints keep it
    assert (position["current"], position["index"]) == ("b.jsonl", 2)
    assert list(position["files"]) == ["a.jsonl"]
    uncommitted = first.fetch(5, 0.05)  # the process dies before committing these
    assert [v["id"] for v in _values(uncommitted)] == [6, 7]
    first.close()

    second = _source(tmp_path, "in")
    second.restore(position)
    assert [v["id"] for v in _drain(second, batch=1)] == [6, 7]  # replayed, nothing before


def test_a_committed_file_is_not_read_again_and_a_new_one_is(tmp_path: Path) -> None:
    base = f"memory://cairn-test-{uuid.uuid4().hex[:8]}"
    store = fsspec.filesystem("memory")
    try:
        store.pipe(f"{base}/one.jsonl", _jsonl(range(1, 3)))
        first = _source(tmp_path, base + "/")
        assert [v["id"] for v in _drain(first)] == [1, 2]
        position = first.position()
        first.close()

        second = _source(tmp_path, base)
        second.restore(position)
        assert _drain(second) == []
        store.pipe(f"{base}/two.jsonl", _jsonl(range(3, 5)))  # appears while it runs
        assert [v["id"] for v in _drain(second)] == [3, 4]
        assert set(second.position()["files"]) <= {"one.jsonl", "two.jsonl"}
    finally:
        store.rm(base, recursive=True)


def test_files_on_s3_are_read_and_a_new_one_is_seen_despite_listing_caches(
        tmp_path: Path, s3: S3) -> None:
    folder = s3.folder()
    store = fsspec.filesystem("s3", endpoint_url=s3.endpoint_url)
    store.pipe(f"{folder}/one.jsonl", _jsonl(range(1, 3)))
    source = _source(tmp_path, folder, storage_options=s3.options)
    assert [v["id"] for v in _drain(source)] == [1, 2]
    store.pipe(f"{folder}/two.jsonl", _jsonl(range(3, 5)))
    assert [v["id"] for v in _drain(source)] == [3, 4]
    position = source.position()
    source.close()

    again = _source(tmp_path, folder, storage_options=s3.options)
    again.restore(position)
    assert _drain(again) == []


@pytest.mark.parametrize(("info", "expected"), [
    ({"mtime": 10.0, "created": 12.5}, 12.5),  # local: moved in later than written
    ({"created": 7.0}, 7.0),  # memory://
    ({"LastModified": dt.datetime(2024, 1, 2, tzinfo=dt.UTC)}, 1704153600.0),  # S3
    ({"updated": "2024-01-02T00:00:00+00:00"}, 1704153600.0),  # GCS
])
def test_when_a_file_changed_comes_from_what_its_store_lists(info: dict[str, Any],
                                                             expected: float) -> None:
    assert files_module._modified(info) == expected


def test_a_relative_url_is_under_the_files_connection_and_the_pattern_filters(
        tmp_path: Path) -> None:
    (tmp_path / "landing" / "orders").mkdir(parents=True)
    (tmp_path / "landing" / "orders" / "a.jsonl").write_bytes(_jsonl(range(1, 3)))
    (tmp_path / "landing" / "orders" / "notes.txt").write_text("not data")
    (tmp_path / "landing" / "orders" / ".b.jsonl.tmp").write_bytes(_jsonl(range(9, 10)))
    connection = Connection("landing", "files", {"url": "landing"}, root=tmp_path)
    source = _source(tmp_path, "orders", connection, pattern="*.jsonl")
    assert [v["id"] for v in _drain(source)] == [1, 2]


class _Clock:
    """Time that passes only when the source sleeps, so settling needs no real waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_growing_file_waits_until_its_size_has_settled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files_module, "time", _Clock())
    folder = tmp_path / "in"
    folder.mkdir()
    growing = folder / "a.jsonl"
    growing.write_bytes(_jsonl(range(1, 3)))
    source = _source(tmp_path, "in", settle_seconds=1.0, poll_seconds=0.1)
    assert source.fetch(10, 0.5) == []
    assert source.lag() == 1
    with growing.open("ab") as handle:  # still being written: the wait starts again
        handle.write(_jsonl(range(3, 5)))
    assert source.fetch(10, 0.8) == []
    assert [v["id"] for v in _values(source.fetch(10, 2.0))] == [1, 2, 3, 4]


def test_an_unreadable_file_stops_the_fetch_and_is_read_once_fixed(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(_jsonl(range(1, 3)))
    (folder / "b.parquet").write_bytes(b"not parquet")
    source = _source(tmp_path, "in")
    with pytest.raises(CairnError, match=r"cannot read b\.parquet as parquet"):
        source.fetch(10, 0.05)
    _parquet(folder / "b.parquet")
    values = _drain(source)
    assert [v["id"] for v in values] == [1, 2, 1, 2, 3, 4, 5]  # a.jsonl too: not committed


def test_lag_counts_files_waiting_and_sample_peeks_at_the_newest(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for number, name in enumerate(["a.jsonl", "b.jsonl", "c.jsonl"]):
        (folder / name).write_bytes(_jsonl(range(10 * number, 10 * number + 5)))
    source = _source(tmp_path, "in")
    assert source.lag() == 3
    assert [v["id"] for v in _values(source.sample(2))] == [23, 24]
    assert [v["id"] for v in _values(source.fetch(7, 0.05))][:6] == [0, 1, 2, 3, 4, 10]
    assert source.lag() == 3  # nothing committed yet


@pytest.fixture
def incoming(project: ProjectFolder) -> Iterator[Path]:
    folder = project.root / "incoming"
    folder.mkdir()
    yield folder


def test_sigkill_mid_file_and_a_restart_lose_nothing_with_no_duplicates(
        project: ProjectFolder, pg_schema: str, incoming: Path) -> None:
    stream_project(project, pg_schema, "kind: files\nurl: incoming",
                   "kind: files\nconnection: broker\nurl: .\npattern: '*.jsonl'\n"
                   "options: {settle_seconds: 0, poll_seconds: 0.1}", "upsert")
    for first in range(1, 3001, 500):
        (incoming / f"events-{first:05d}.jsonl").write_bytes(_jsonl(range(first, first + 500)))
    kill_after_first_rows(project.root, pg_schema, 3000)

    again = StreamProcess(project.root, "events", "--stop-when-idle", "2")
    assert again.wait() == 0, again.output()
    assert ids(pg_schema) == list(range(1, 3001))
