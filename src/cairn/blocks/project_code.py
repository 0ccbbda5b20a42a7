"""The project's own Python code (`utils/`, `lib.py`, any module or package at the project
root), importable from blocks without PYTHONPATH, and fresh in a long-lived notebook."""

from __future__ import annotations

import importlib
import os
import sys
import threading
from pathlib import Path

_lock = threading.Lock()
# Module name -> modification time of its file when the notebook last looked.
_seen: dict[str, float] = {}


def project_root_of(block_file: Path) -> Path | None:
    """The project of a block file, `ROOT/pipelines/NAME/BLOCK.py`; None for any other."""
    folder = block_file.parent.parent
    return folder.parent if folder.name == "pipelines" else None


def use_project_code(root: Path) -> None:
    """Make the project's modules importable. Every Python block goes through here (runs,
    the scheduler's runs, the notebook, streams), so no entry point can forget it. The root
    goes last on sys.path: a project file named like an installed package (`yaml.py`)
    must not replace that package for Cairn or the blocks."""
    entry = str(root.resolve())
    with _lock:
        if entry not in sys.path:
            sys.path.append(entry)


def forget_changed_modules(root: Path) -> list[str]:
    """Unload the project's modules whose file changed since the last call (with the rest
    of their top-level package, whose attributes name them), so that the next `import` in
    a block reads them again; return their names. The notebook calls it around each run:
    its worker process lives on, and Python imports a module once."""
    base = str(root.resolve()) + os.sep
    with _lock:
        mine: dict[str, float] = {}
        for name, module in list(sys.modules.items()):
            filename = getattr(module, "__file__", None)
            # A prefix test: resolving every loaded module's path costs ~25 ms a run. The
            # project's modules are found through its resolved root (`use_project_code`).
            if filename and filename.startswith(base):
                try:
                    mine[name] = Path(filename).stat().st_mtime
                except FileNotFoundError:
                    mine[name] = -1.0
        changed = {name.partition(".")[0] for name, mtime in mine.items()
                   if _seen.setdefault(name, mtime) != mtime}
        forgotten = sorted(name for name in mine if name.partition(".")[0] in changed)
        for name in forgotten:
            del sys.modules[name]
            del _seen[name]
    # Python caches folder listings: a module added since would not be found.
    importlib.invalidate_caches()
    return forgotten
