"""Shared fixtures: throwaway projects, a run observer and the real `cairn` command."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import CLI, ProjectFolder, RecordingObserver


@pytest.fixture
def project(tmp_path: Path) -> ProjectFolder:
    root = tmp_path / "project"
    root.mkdir()
    (root / "cairn.yaml").write_text("name: test\n")
    return ProjectFolder(root)


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
def cli() -> type[CLI]:
    return CLI
