"""A `cairn run` killed with SIGKILL mid-run is finished by `--resume`, losing nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import CLI, ProjectFolder

from cairn.store.metadata import MetadataStore


def wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_resume_after_sigkill(project: ProjectFolder, cli: type[CLI], tmp_path: Path) -> None:
    counter, started, release = (tmp_path / n for n in ("counter", "started", "release"))
    project.pipeline("p", {
        "first.py": f"""
            from pathlib import Path
            with open({str(counter)!r}, "a") as _f:
                _f.write("x")
            first = 1
        """,
        "slow.py": f"""
            import time
            from pathlib import Path
            Path({str(started)!r}).touch()
            while not Path({str(release)!r}).exists():
                time.sleep(0.05)
            slow = first + 1
        """,
        "last.py": "last = slow + 1\n",
    })
    process = subprocess.Popen([sys.executable, "-m", "cairn", "run", "p"], cwd=project.root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(started)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL

    listed = cli.run("runs", "p", cwd=project.root, check=True).stdout
    assert "failed" in listed

    release.touch()
    resumed = cli.run("run", "p", "--resume", cwd=project.root)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed run" in resumed.stdout
    assert counter.read_text() == "x"  # the finished block was not run again

    store = MetadataStore(project.load().metadata_url)
    try:
        run, = store.list_runs("p")
        assert (run.status, run.resumes) == ("success", 1)
        assert [(b.block, b.attempt, b.status) for b in store.block_runs(run.id)] == [
            ("first", 1, "success"),
            ("slow", 1, "failed"),
            ("slow", 2, "success"),
            ("last", 1, "success"),
        ]
    finally:
        store.close()
    shown = cli.run("show", "p", "last", cwd=project.root, check=True)
    assert shown.stdout.strip() == "3"

    again = cli.run("run", "p", "--resume", run.id, cwd=project.root)
    assert again.returncode == 2 and "already succeeded" in again.stderr


def test_resume_keeps_a_false_condition(project: ProjectFolder, cli: type[CLI],
                                        tmp_path: Path) -> None:
    ran, started, release = (tmp_path / n for n in ("ran", "started", "release"))
    project.pipeline("p", {
        "gate.py": "gate = False\n",
        "child.py": f"""
            from pathlib import Path
            Path({str(ran)!r}).touch()
            child = gate
        """,
        "slow.py": f"""
            import time
            from pathlib import Path
            Path({str(started)!r}).touch()
            while not Path({str(release)!r}).exists():
                time.sleep(0.05)
            slow = 1
        """,
    }, """
        blocks:
          - {name: gate, condition: true}
          - {name: child, upstream: [gate]}
          - slow
    """)
    process = subprocess.Popen([sys.executable, "-m", "cairn", "run", "p"], cwd=project.root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(started)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    release.touch()
    resumed = cli.run("run", "p", "--resume", cwd=project.root)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert not ran.exists()  # the gate said no before the kill, and still does
    store = MetadataStore(project.load().metadata_url)
    try:
        run, = store.list_runs("p")
        child = [(b.status, b.error) for b in store.block_runs(run.id) if b.block == "child"]
        assert child == [("skipped", "not run: the condition gate was false")] * len(child)
    finally:
        store.close()
