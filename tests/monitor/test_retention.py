"""Retention: `cairn clean` removes the files of old runs but never what a later run reads
(each block's latest successful outputs, with the items of a mapped block), nor anything of
a run still going; a stopped clean is finished by the next one."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import update
from support import CLI, ProjectFolder, RecordingObserver

from cairn import service
from cairn.ids import RunId
from cairn.monitor.retention import clean
from cairn.store.metadata import MetadataStore, utcnow
from cairn.store.schema import block_runs, runs

BLOCKS = {
    "a.py": "print('a ran')\na = 1\n",
    "b.py": "print('b ran')\nif fail:\n    raise ValueError('boom')\nb = a * 2\n",
}


def _settings(project: ProjectFolder, retention: str) -> None:
    (project.root / "cairn.yaml").write_text(f"name: test\nretention: {retention}\n")


def _run(project: ProjectFolder, *blocks: str, **variables: object) -> str:
    result = service.run_pipeline(project.load(), "p", RecordingObserver(), variables, blocks)
    return result.run_id


def _backdate(project: ProjectFolder, run_ids: list[str], days: float) -> None:
    store = MetadataStore(project.load().metadata_url)
    try:
        with store.engine.begin() as connection:
            for run_id in run_ids:
                started = store.find_run(run_id).started_at
                connection.execute(update(runs).where(runs.c.id == run_id).values(
                    started_at=started - timedelta(days=days)))
    finally:
        store.close()


def _files(project: ProjectFolder) -> set[str]:
    root = project.root / ".cairn" / "runs"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _outputs(project: ProjectFolder, run_id: str, block: str) -> list[dict[str, object]]:
    store = MetadataStore(project.load().metadata_url)
    try:
        record = [r for r in store.block_runs(RunId(run_id)) if r.block == block][-1]
    finally:
        store.close()
    return list(json.loads(record.outputs))


def test_clean_keeps_the_latest_success_of_each_block(project: ProjectFolder,
                                                      cli: type[CLI]) -> None:
    _settings(project, "{outputs_days: 7, keep_last: 0}")
    project.pipeline("p", BLOCKS, "variables: {fail: false}\n")
    first = _run(project)                    # a, b
    second = _run(project, "a")              # a
    third = _run(project, fail=True)         # a; b fails
    _backdate(project, [first, second, third], days=30)
    before = _files(project)
    assert {f"{first}/b/b.json", f"{second}/a/a.json", f"{third}/b.log"} <= before

    dry = cli.run("clean", "--dry-run", cwd=project.root, check=True)
    assert "would remove" in dry.stdout and second in dry.stdout
    assert _files(project) == before

    done = cli.run("clean", cwd=project.root, check=True)
    assert "removed files of 3 runs" in done.stdout, done.stdout
    # What later runs read stays: b's latest success is in the first run, a's in the third.
    assert _files(project) == {f"{first}/b/b.json", f"{first}/b.log",
                               f"{third}/a/a.json", f"{third}/a.log"}
    assert not (project.root / ".cairn" / "runs" / second).exists()
    # The history keeps every run, and says where an output's file went.
    [a_output] = _outputs(project, first, "a")
    assert a_output["file"] is None and "removed by retention" in str(a_output["note"])
    assert _outputs(project, first, "b")[0]["file"] == "b.json"

    again = cli.run("run", "p", "--block", "b", cwd=project.root, check=True)
    assert "success" in again.stdout
    assert service.read_output(project.load(), "p", "b") == {"b": 2}
    # Now the first run's `b` is superseded, and goes at the next clean.
    cli.run("clean", cwd=project.root, check=True)
    assert {f.split("/")[0] for f in _files(project)} == {third, _latest_run(project)}
    assert cli.run("clean", cwd=project.root, check=True).stdout.strip() == "nothing to clean"


def _latest_run(project: ProjectFolder) -> str:
    store = MetadataStore(project.load().metadata_url)
    try:
        latest = store.latest_run("p")
        assert latest is not None
        return str(latest.id)
    finally:
        store.close()


def test_clean_spares_newest_and_unfinished_runs_and_deletes_old_records(
        project: ProjectFolder, cli: type[CLI]) -> None:
    _settings(project, "{outputs_days: 1, keep_last: 1, history_days: 2}")
    project.pipeline("p", BLOCKS, "variables: {fail: false}\n")
    old, newest = _run(project), _run(project)
    store = MetadataStore(project.load().metadata_url)
    try:
        store.create_scheduled_run(RunId("queued-1"), "p", "daily", "k", utcnow(), {}, "queued")
    finally:
        store.close()
    _backdate(project, [old, newest, "queued-1"], days=10)
    orphan = project.root / ".cairn" / "runs" / "no-such-run" / "x"
    orphan.mkdir(parents=True)
    (orphan / "x.json").write_text("1")

    out = cli.run("clean", cwd=project.root, check=True).stdout
    assert "(no record)" in out and "deleted" in out
    assert not orphan.parent.exists()
    assert {f.split("/")[0] for f in _files(project)} == {newest}
    store = MetadataStore(project.load().metadata_url)
    try:
        remaining = {r.id for r in store.run_summaries()}
    finally:
        store.close()
    assert remaining == {newest, "queued-1"}


def test_items_of_a_mapped_block_stay_with_it(project: ProjectFolder, cli: type[CLI]) -> None:
    _settings(project, "{outputs_days: 1, keep_last: 0}")
    project.pipeline("p", {
        "numbers.py": "numbers = list(range(n))\n",
        "square.py": "from cairn import block\n\n@block\ndef square(numbers):\n"
                     "    return numbers ** 2\n",
        "total.py": "total = sum(square)\n",
    }, "variables: {n: 3}\nblocks:\n  - {name: numbers, fan_out: true}\n"
       "  - {name: square, map: zip}\n")
    first, second = _run(project, n=3), _run(project, n=2)
    _backdate(project, [first, second], days=5)
    cli.run("clean", cwd=project.root, check=True)
    assert {f.split("/")[1] for f in _files(project) if f.startswith(second)} >= {
        "square", "square[0]", "square[1]", "numbers", "total"}
    assert not any(f.startswith(first) for f in _files(project))
    cli.run("run", "p", "--block", "total", cwd=project.root, check=True)
    assert service.read_output(project.load(), "p", "total") == {"total": 1}


def test_outputs_a_going_run_may_read_are_kept(project: ProjectFolder) -> None:
    _settings(project, "{outputs_days: 1, keep_last: 0}")
    project.pipeline("p", BLOCKS, "variables: {fail: false}\n")
    first = _run(project, "a")
    store = MetadataStore(project.load().metadata_url)
    try:
        # A run that started right after the first one: it may have read the first's `a`,
        # although a newer success of `a` exists by now.
        [a_run] = store.block_runs(RunId(first))
        store.create_run(RunId("going"), "p", ["b"], {}, utcnow())
        with store.engine.begin() as connection:
            connection.execute(update(runs).where(runs.c.id == "going").values(
                started_at=a_run.ended_at + timedelta(milliseconds=1)))
        second = _run(project, "a")
        with store.engine.begin() as connection:  # as if the first had ended before `going`
            connection.execute(update(block_runs).where(block_runs.c.run_id == first).values(
                ended_at=a_run.ended_at))
        _backdate(project, [first, second], days=5)
        clean(project.load(), store)
        assert f"{first}/a/a.json" in _files(project)
        store.interrupt_run(RunId("going"), "stopped")
        clean(project.load(), store)
        assert f"{first}/a/a.json" not in _files(project)
        assert f"{second}/a/a.json" in _files(project)
    finally:
        store.close()


def test_a_stopped_clean_is_finished_by_the_next(project: ProjectFolder) -> None:
    _settings(project, "{outputs_days: 1, keep_last: 0}")
    project.pipeline("p", BLOCKS, "variables: {fail: false}\n")
    first, second = _run(project), _run(project)
    _backdate(project, [first, second], days=5)
    store = MetadataStore(project.load().metadata_url)
    try:
        # Stopped after the history forgot the first run's files, before deleting them.
        store.forget_outputs(first, set(), "removed by retention")
        assert (project.root / ".cairn" / "runs" / first / "a" / "a.json").exists()
        report = clean(project.load(), store, dry_run=True)
        assert [r.run_id for r in report.removals] == [first] and report.freed_bytes > 0
        clean(project.load(), store)
    finally:
        store.close()
    assert not (project.root / ".cairn" / "runs" / first).exists()
    assert all(f.startswith(second) for f in _files(project))


def test_bad_retention_setting_names_the_field(project: ProjectFolder, cli: type[CLI]) -> None:
    _settings(project, "{outputs_days: 30, history_days: 7}")
    result = cli.run("clean", cwd=project.root)
    assert result.returncode == 2
    assert "cairn.yaml" in result.stderr and "retention" in result.stderr
    assert "history_days must not be shorter" in result.stderr


def test_the_scheduler_applies_retention(project: ProjectFolder) -> None:
    _settings(project, "{outputs_days: 1, keep_last: 0}")
    project.pipeline("p", BLOCKS, "variables: {fail: false}\n")
    first, second = _run(project), _run(project)
    _backdate(project, [first, second], days=5)
    process = subprocess.Popen([sys.executable, "-m", "cairn", "scheduler", "--project",
                                str(project.root)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while (project.root / ".cairn" / "runs" / first).exists():
            assert time.monotonic() < deadline, "the scheduler did not clean"
            time.sleep(0.1)
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert b"retention cleaned 1 runs" in errors
    assert (project.root / ".cairn" / "runs" / second / "a" / "a.json").exists()
