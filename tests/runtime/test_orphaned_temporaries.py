"""A process killed while writing an output leaves its temporary file; `cairn clean` and the
next run remove it, and never the temporary of a writer that is still alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from support import CLI, ProjectFolder, RecordingObserver

from cairn import service
from cairn.atomic import ORPHAN_AGE_S, atomic_file

# A writer that SIGKILLs itself halfway through an atomic write: no `finally` runs.
_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from cairn.atomic import atomic_file

    with atomic_file(Path(sys.argv[1])) as handle:
        handle.write(b"half of a table")
        handle.flush()
        os.kill(os.getpid(), signal.SIGKILL)
""")


def _killed_write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    before = path.read_bytes() if path.exists() else None
    result = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path)], timeout=60)
    assert result.returncode == -signal.SIGKILL
    (left,) = path.parent.glob(f".{path.name}.*.tmp")
    assert (path.read_bytes() if path.exists() else None) == before  # never half-written
    return left


def _leftovers(folder: Path) -> tuple[Path, Path, Path]:
    """In a block's folder: a dead writer's temporary, an old one whose pid lives (reused),
    and a live one."""
    dead = _killed_write(folder / "orders.arrow")
    old = folder / f".old.arrow.{os.getpid()}.0123abcd.tmp"
    old.write_bytes(b"x")
    long_ago = time.time() - ORPHAN_AGE_S - 60
    os.utime(old, (long_ago, long_ago))
    live = folder / f".live.arrow.{os.getpid()}.4567cdef.tmp"
    live.write_bytes(b"being written")
    return dead, old, live


def test_clean_removes_temporaries_of_dead_writers(project: ProjectFolder,
                                                   cli: type[CLI]) -> None:
    project.pipeline("p", {"load.py": "orders = 1\n"})
    run_id = service.run_pipeline(project.load(), "p", RecordingObserver()).run_id
    dead, old, live = _leftovers(project.root / ".cairn" / "runs" / run_id / "load")
    # An editor's save of a block, killed before its rename.
    save = _killed_write(project.root / "pipelines" / "p" / "load.py")

    dry = cli.run("clean", "--dry-run", cwd=project.root, check=True)
    assert "would remove 3 temporary files" in dry.stdout
    assert dead.exists() and old.exists() and save.exists()

    done = cli.run("clean", cwd=project.root, check=True)
    assert "removed 3 temporary files" in done.stdout
    assert not dead.exists() and not old.exists() and not save.exists()
    # The test process wrote it and is alive: a write in progress.
    assert live.exists()


def test_the_next_run_removes_them(project: ProjectFolder) -> None:
    project.pipeline("p", {"load.py": "orders = 1\n"})
    dead, old, live = _leftovers(project.root / ".cairn" / "runs" / "20260101-000000-aaaaaa"
                                 / "load")
    result = service.run_pipeline(project.load(), "p", RecordingObserver())
    assert result.status == "success"
    assert not dead.exists() and not old.exists() and live.exists()


def test_a_completed_write_leaves_no_temporary(tmp_path: Path) -> None:
    with atomic_file(tmp_path / "x.json") as handle:
        handle.write(b"1")
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
