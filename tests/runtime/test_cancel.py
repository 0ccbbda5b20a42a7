"""Ctrl-C on `cairn run` cancels the run: recorded and shown as `cancelled` (resumable), never
as a failure with a KeyboardInterrupt traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from support import CLI, ProjectFolder, wait_until, waiting_block

from cairn.project.conditions import gate
from cairn.store.metadata import MetadataStore


def test_sigint_cancels_the_run_and_its_running_block(project: ProjectFolder, cli: type[CLI],
                                                      tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    project.pipeline("p", {
        "first.py": "first = 1\n",
        "slow.py": waiting_block(started, release, "slow = first + 1"),
        "last.py": "last = slow + 1\n",
    })
    process = subprocess.Popen([sys.executable, "-m", "cairn", "run", "p"], cwd=project.root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(started.exists, "the slow block to start")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, out + err
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert "cancelled" in out and "--resume" in out

    store = MetadataStore(project.load().metadata_url)
    try:
        run, = store.list_runs("p")
        attempts = [(b.block, b.status, b.error) for b in store.block_runs(run.id)]
    finally:
        store.close()
    assert (run.status, run.error) == ("cancelled", "cancelled by the user (Ctrl-C)")
    assert attempts == [("first", "success", None),
                        ("slow", "cancelled", "cancelled by the user (Ctrl-C)")]
    listed = cli.run("runs", "p", cwd=project.root, check=True).stdout
    assert "cancelled" in listed

    release.touch()  # a cancelled run resumes where it stopped
    resumed = cli.run("run", "p", "--resume", cwd=project.root)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr


def test_a_cancelled_parent_stops_its_children() -> None:
    assert gate("all_success", {"a": "cancelled"}) == (
        "upstream_failed", "not run: upstream block a was cancelled")
    assert gate("all_success", {"a": "cancelled", "b": "failed"}) == (
        "upstream_failed", "not run: upstream block a, b failed")
