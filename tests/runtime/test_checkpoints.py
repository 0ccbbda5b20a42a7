"""Checkpoints move only with a block's success: runs over growing data process only the new
rows; a failure, a retry or a SIGKILL leaves the previous value; a reset reprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import CLI, ProjectFolder, RecordingObserver

from cairn import service
from cairn.store.metadata import MetadataStore

# Reads the rows of `source` after the checkpoint, logs them to `processed`, and fails or
# hangs after setting its new checkpoint when the marker files say so.
INCREMENTAL = """
import json, time
from pathlib import Path

_last = context.checkpoint("last_id", 0)
_rows = [json.loads(line) for line in Path({source!r}).read_text().splitlines()]
batch = [row["id"] for row in _rows if row["id"] > _last]
with open({processed!r}, "a") as _log:
    _log.write(json.dumps(batch) + "\\n")
if batch:
    context.set_checkpoint("last_id", max(batch))
if Path({fail!r}).exists():
    raise RuntimeError("failing after reading")
Path({started!r}).touch()
while Path({hang!r}).exists():
    time.sleep(0.05)
"""


def add_rows(source: Path, ids: range) -> None:
    with source.open("a") as out:
        out.writelines(json.dumps({"id": i}) + "\n" for i in ids)


def batches(processed: Path) -> list[list[int]]:
    return [json.loads(line) for line in processed.read_text().splitlines()]


def current(project: ProjectFolder) -> dict[str, object]:
    store = MetadataStore(project.load().metadata_url)
    try:
        return store.checkpoint_values("p", "incremental")
    finally:
        store.close()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {name: tmp_path / name for name in ("source", "processed", "fail", "started", "hang")}


@pytest.fixture
def incremental(project: ProjectFolder, files: dict[str, Path]) -> ProjectFolder:
    project.pipeline("p", {"incremental.py": INCREMENTAL.format(
        **{name: str(path) for name, path in files.items()})})
    return project


def test_runs_over_growing_data_process_only_new_rows(
        incremental: ProjectFolder, files: dict[str, Path], observer: RecordingObserver,
) -> None:
    add_rows(files["source"], range(1, 6))
    assert service.run_pipeline(incremental.load(), "p", observer).status == "success"
    add_rows(files["source"], range(6, 9))
    assert service.run_pipeline(incremental.load(), "p", observer).status == "success"
    assert service.run_pipeline(incremental.load(), "p", observer).status == "success"
    assert batches(files["processed"]) == [[1, 2, 3, 4, 5], [6, 7, 8], []]
    assert current(incremental) == {"last_id": 8}


def test_a_failed_run_leaves_the_checkpoint_and_the_next_one_reprocesses(
        incremental: ProjectFolder, files: dict[str, Path], observer: RecordingObserver,
) -> None:
    add_rows(files["source"], range(1, 4))
    service.run_pipeline(incremental.load(), "p", observer)
    add_rows(files["source"], range(4, 6))
    files["fail"].touch()
    assert service.run_pipeline(incremental.load(), "p", observer).status == "failed"
    assert current(incremental) == {"last_id": 3}  # set, then failed: not committed
    files["fail"].unlink()
    assert service.run_pipeline(incremental.load(), "p", observer).status == "success"
    assert batches(files["processed"]) == [[1, 2, 3], [4, 5], [4, 5]]
    assert current(incremental) == {"last_id": 5}


def test_a_retried_block_commits_only_its_successful_attempt(
        project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", {"incremental.py": """
        seen = context.checkpoint("seen", 0)
        context.set_checkpoint("seen", seen + 10 * context.attempt)
        if context.attempt == 1:
            raise RuntimeError("first attempt fails")
    """}, "blocks:\n  - {name: incremental, retries: 1, retry_delay: 0}\n")
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    store = MetadataStore(project.load().metadata_url)
    try:
        versions = store.checkpoint_versions("p", "incremental", "seen")
    finally:
        store.close()
    assert [(v.version, v.value, v.source) for v in versions] == [(1, "20", "run")]


def test_sigkill_mid_block_leaves_the_checkpoint(
        incremental: ProjectFolder, files: dict[str, Path], cli: type[CLI]) -> None:
    add_rows(files["source"], range(1, 3))
    cli.run("run", "p", cwd=incremental.root, check=True)
    files["started"].unlink()
    add_rows(files["source"], range(3, 5))
    files["hang"].touch()
    process = subprocess.Popen([sys.executable, "-m", "cairn", "run", "p"],
                               cwd=incremental.root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not files["started"].exists():
            assert time.monotonic() < deadline, "the block did not start"
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert current(incremental) == {"last_id": 2}
    files["hang"].unlink()
    cli.run("run", "p", cwd=incremental.root, check=True)
    assert batches(files["processed"]) == [[1, 2], [3, 4], [3, 4]]
    assert current(incremental) == {"last_id": 4}


def test_reset_reprocesses_and_is_recorded(
        incremental: ProjectFolder, files: dict[str, Path], cli: type[CLI]) -> None:
    add_rows(files["source"], range(1, 4))
    cli.run("run", "p", cwd=incremental.root, check=True)
    add_rows(files["source"], range(4, 6))
    cli.run("run", "p", cwd=incremental.root, check=True)

    listed = cli.run("checkpoints", "p", cwd=incremental.root, check=True).stdout
    assert "incremental" in listed and "last_id" in listed and " 5 " in listed

    reset = cli.run("checkpoints", "reset", "p", cwd=incremental.root, check=True).stdout
    assert "incremental: last_id reset (version 3)" in reset
    cli.run("run", "p", cwd=incremental.root, check=True)
    assert batches(files["processed"])[-1] == [1, 2, 3, 4, 5]  # everything again

    cli.run("checkpoints", "reset", "p", "incremental", "--to", "v1", cwd=incremental.root,
            check=True)
    assert current(incremental) == {"last_id": 3}
    cli.run("checkpoints", "reset", "p", "--to", "4", "--note", "replay 5",
            cwd=incremental.root, check=True)
    cli.run("run", "p", cwd=incremental.root, check=True)
    assert batches(files["processed"])[-1] == [5]

    history = cli.run("checkpoints", "p", "--history", cwd=incremental.root, check=True).stdout
    assert "replay 5" in history and history.count("reset") >= 3


def test_checkpoint_errors_are_clear(incremental: ProjectFolder, project: ProjectFolder,
                                     cli: type[CLI], observer: RecordingObserver) -> None:
    wrong = cli.run("checkpoints", "reset", "p", "incremntal", cwd=project.root)
    assert wrong.returncode == 2 and "incremental" in wrong.stdout + wrong.stderr
    project.pipeline("q", {"bad.py": "import datetime\n"
                           "context.set_checkpoint('at', datetime.datetime.now())\n"})
    assert service.run_pipeline(project.load(), "q", observer).status == "failed"
    failure = observer.outcomes["bad"].failure
    assert failure is not None and "must be a JSON value" in failure.describe()
    assert "isoformat" in failure.describe()
