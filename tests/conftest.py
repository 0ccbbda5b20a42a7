"""Shared fixtures: throwaway projects, a run observer and the real `cairn` command."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture
def redis_stream() -> Iterator[tuple[Any, str]]:
    """A Redis client and a fresh stream key, deleted at the end."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    key = f"cairn-test-{secrets.token_hex(4)}"
    yield client, key
    client.delete(key)
    client.close()
