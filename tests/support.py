"""Helpers for tests: throwaway projects, a run observer, and the real `cairn` command."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cairn.ids import BlockName
from cairn.project.config import Project, find_project
from cairn.runtime.runner import Outcome


@dataclass
class ProjectFolder:
    root: Path

    def pipeline(self, name: str, blocks: Mapping[str, str], settings: str | None = None,
                 ) -> Path:
        """Write a pipeline's block files (name -> source, dedented) and pipeline.yaml."""
        folder = self.root / "pipelines" / name
        folder.mkdir(parents=True, exist_ok=True)
        for filename, source in blocks.items():
            (folder / filename).write_text(textwrap.dedent(source).lstrip("\n"))
        if settings is not None:
            (folder / "pipeline.yaml").write_text(textwrap.dedent(settings).lstrip("\n"))
        return folder

    def load(self) -> Project:
        return find_project(self.root)


class RecordingObserver:
    """Remembers what a run reported, for assertions."""

    def __init__(self) -> None:
        self.started: list[tuple[BlockName, int]] = []
        self.lines: list[tuple[BlockName, str, str]] = []
        self.outcomes: dict[BlockName, Outcome] = {}

    def block_started(self, block: BlockName, attempt: int) -> None:
        self.started.append((block, attempt))

    def block_output(self, block: BlockName, stream: str, line: str) -> None:
        self.lines.append((block, stream, line))

    def block_finished(self, block: BlockName, outcome: Outcome) -> None:
        self.outcomes[block] = outcome


def cairn(*args: str, cwd: Path, check: bool | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    result = subprocess.run([sys.executable, "-m", "cairn", *args], cwd=cwd, text=True,
                            capture_output=True, timeout=timeout)
    if check is True:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


class CLI:
    """`cli.run(...)` in tests: the `cairn` helper as a fixture."""

    run = staticmethod(cairn)
