"""Hash-based change detection: runs report exactly the rows inserted, updated and deleted
since the last successful run; a failure or a reset moves nothing forward."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import CLI, ProjectFolder, RecordingObserver

from cairn import service
from cairn.store.metadata import MetadataStore

# Detects the changes of the `source` Parquet file by `id`, logs their ids, then fails when
# the marker file says so.
DETECTING = """
import json
from pathlib import Path

import pyarrow.parquet as pq
from cairn.incremental.hashdiff import detect_changes

_changes = detect_changes(context, {rows}, key="id", name="customers")
_ids = lambda table: sorted(table.column("id").to_pylist())
with open({log!r}, "a") as _log:
    _log.write(json.dumps({{"new": _ids(_changes.new), "changed": _ids(_changes.changed),
                            "deleted": _ids(_changes.deleted), "first": _changes.first_run,
                            "changed_rows": _changes.changed.sort_by("id").to_pylist()}}) + "\\n")
if Path({fail!r}).exists():
    raise RuntimeError("failing after detecting")
"""

FIRST = [(1, "ann", 10), (2, "bob", 20), (3, "cy", None), (4, "dee", 40), (5, "", 50)]
# 2 renamed, 3's NULL became a value, 5's empty name became NULL, 4 deleted, 6 and 7 new.
SECOND = [(1, "ann", 10), (2, "bo", 20), (3, "cy", 30), (5, None, 50), (6, "eve", 60),
          (7, "fay", None)]
SECOND_CHANGES = {"new": [6, 7], "changed": [2, 3, 5], "deleted": [4], "first": False,
                  "changed_rows": [{"id": 2, "name": "bo", "score": 20},
                                   {"id": 3, "name": "cy", "score": 30},
                                   {"id": 5, "name": None, "score": 50}]}


def write_source(path: Path, rows: list[tuple[int, str | None, int | None]]) -> None:
    ids, names, scores = zip(*rows, strict=True)
    pq.write_table(pa.table({"id": pa.array(ids, pa.int64()), "name": pa.array(names),
                             "score": pa.array(scores, pa.int64())}), path)


def logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def checkpoint(project: ProjectFolder, block: str = "detect") -> Any:
    store = MetadataStore(project.load().metadata_url)
    try:
        return store.checkpoint_values("p", block).get("customers")
    finally:
        store.close()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / name for name in ("source", "log", "fail")}


@pytest.fixture(params=["table", "path"])
def detecting(project: ProjectFolder, files: dict[str, Path],
              request: pytest.FixtureRequest) -> ProjectFolder:
    """The block, given the rows as a table in memory or as the Parquet file's path."""
    source = repr(str(files["source"]))
    rows = f"pq.read_table({source})" if request.param == "table" else source
    project.pipeline("p", {"detect.py": DETECTING.format(
        rows=rows, **{name: str(path) for name, path in files.items()})})
    return project


def run(project: ProjectFolder, observer: RecordingObserver) -> str:
    status = service.run_pipeline(project.load(), "p", observer).status
    failures = [o.failure.describe() for o in observer.outcomes.values() if o.failure]
    assert status == "failed" or not failures, failures
    return status if status == "success" else f"failed: {failures}"


def test_first_run_is_all_new_then_runs_report_exactly_the_changes(
        detecting: ProjectFolder, files: dict[str, Path], observer: RecordingObserver,
) -> None:
    write_source(files["source"], FIRST)
    assert run(detecting, observer) == "success"
    write_source(files["source"], SECOND)
    assert run(detecting, observer) == "success"
    assert run(detecting, observer) == "success"

    first, second, third = logged(files["log"])
    assert first == {"new": [1, 2, 3, 4, 5], "changed": [], "deleted": [], "first": True,
                     "changed_rows": []}
    assert second == SECOND_CHANGES
    assert third == {"new": [], "changed": [], "deleted": [], "first": False,
                     "changed_rows": []}
    current = checkpoint(detecting)
    assert current["key"] == ["id"] and current["rows"] == 6
    assert (detecting.root / ".cairn" / current["hashes"]).is_file()


def test_a_failed_run_leaves_the_hashes_and_the_next_run_reports_the_changes_again(
        detecting: ProjectFolder, files: dict[str, Path], observer: RecordingObserver,
) -> None:
    write_source(files["source"], FIRST)
    run(detecting, observer)
    committed = checkpoint(detecting)
    write_source(files["source"], SECOND)
    files["fail"].touch()
    assert run(detecting, observer).startswith("failed")
    assert checkpoint(detecting) == committed  # detected, then failed: not committed
    files["fail"].unlink()
    assert run(detecting, observer) == "success"

    _, failed, again = logged(files["log"])
    assert failed == again == SECOND_CHANGES
    assert checkpoint(detecting) != committed


def test_reset_makes_everything_new_and_a_reset_to_a_version_compares_with_it(
        detecting: ProjectFolder, files: dict[str, Path], cli: type[CLI]) -> None:
    write_source(files["source"], FIRST)
    cli.run("run", "p", cwd=detecting.root, check=True)
    write_source(files["source"], SECOND)
    cli.run("run", "p", cwd=detecting.root, check=True)

    cli.run("checkpoints", "reset", "p", "detect", cwd=detecting.root, check=True)
    cli.run("run", "p", cwd=detecting.root, check=True)
    assert logged(files["log"])[-1]["new"] == [1, 2, 3, 5, 6, 7]
    assert logged(files["log"])[-1]["first"] is True

    cli.run("checkpoints", "reset", "p", "detect", "--to", "v1", cwd=detecting.root,
            check=True)  # the first run's hashes: the same changes as the second run saw
    cli.run("run", "p", cwd=detecting.root, check=True)
    assert logged(files["log"])[-1] == SECOND_CHANGES


def test_old_hashes_files_are_deleted_beyond_the_kept_ones(
        detecting: ProjectFolder, files: dict[str, Path], observer: RecordingObserver,
) -> None:
    write_source(files["source"], FIRST)
    files["fail"].touch()
    run(detecting, observer)  # leaves a file nothing references
    files["fail"].unlink()
    for _ in range(5):
        assert run(detecting, observer) == "success"
    current = detecting.root / ".cairn" / checkpoint(detecting)["hashes"]
    kept = sorted(current.parent.iterdir())
    # The newest, the one committed before it, and the two before that (keep=2).
    assert len(kept) == 4 and kept[-1] == current


# Keys that cannot identify rows, and what the block's failure says.
BAD_KEYS = [
    ("'nope'", "no column 'nope' in the rows"),
    ("'score'", "key score is not unique: (1,) is on 2 rows"),
    ("'name'", "1 rows have no value in key name"),
    ("['id', 'name']", "holds hashes keyed by ['id'], not ['id', 'name']"),
]


@pytest.mark.parametrize(("key", "message"), BAD_KEYS)
def test_unusable_keys_fail_the_block_clearly(
        project: ProjectFolder, observer: RecordingObserver, key: str, message: str) -> None:
    block = """
        import pyarrow as pa
        from cairn.incremental.hashdiff import detect_changes

        _rows = pa.table({{"id": [1, 2, 3], "name": ["a", None, "c"], "score": [1, 1, 2]}})
        detect_changes(context, _rows, key={key}, name="customers")
    """
    if "holds hashes" in message:
        project.pipeline("p", {"detect.py": block.format(key="'id'")})
        assert run(project, observer) == "success"  # hashes keyed by id
    project.pipeline("p", {"detect.py": block.format(key=key)})
    assert run(project, observer).startswith("failed")
    failure = observer.outcomes["detect"].failure
    assert failure is not None and message in failure.describe()


LARGE = """
import numpy as np
import pyarrow as pa
from pathlib import Path
from cairn.incremental.hashdiff import detect_changes

# Round 2: ids shift by 10,000 (10,000 deleted, 10,000 new); 1% of the rest change.
_shift = 10_000 if Path({round2!r}).exists() else 0
_ids = np.arange(_shift, 1_000_000 + _shift)
_values = np.where((_ids % 100 == 1) & (_shift > 0), _ids * 3, _ids * 2)
_labels = pa.compute.cast(pa.array(_ids % 1000), pa.string())
_changes = detect_changes(context, pa.table({{"id": _ids, "value": _values, "label": _labels}}),
                          key="id", name="customers")
with open({log!r}, "a") as _log:
    _log.write(f"{{_changes.new.num_rows}} {{_changes.changed.num_rows}} "
               f"{{_changes.deleted.num_rows}}\\n")
"""


def test_a_million_rows_are_diffed_in_duckdb(
        project: ProjectFolder, tmp_path: Path, observer: RecordingObserver) -> None:
    log, round2 = tmp_path / "log", tmp_path / "round2"
    project.pipeline("p", {"large.py": LARGE.format(log=str(log), round2=str(round2))})
    assert run(project, observer) == "success"
    round2.touch()
    assert run(project, observer) == "success"
    # 1% of the ids 10,000..999,999 end in 01: 9,900 changed.
    assert log.read_text().splitlines() == ["1000000 0 0", "10000 9900 10000"]
    assert checkpoint(project, "large")["rows"] == 1_000_000
