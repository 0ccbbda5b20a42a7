"""The run history on SQLite (default) and on PostgreSQL, through the same migrations."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy
from support import ProjectFolder, RecordingObserver

from cairn import service
from cairn.ids import BlockName, RunId
from cairn.store.metadata import MetadataStore
from cairn.store.schema import HEAD_REVISION

POSTGRES_SERVER = os.environ.get("CAIRN_TEST_POSTGRES",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of its own on the local PostgreSQL server, dropped afterwards."""
    admin = sqlalchemy.create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    name = f"cairn_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError as error:
        admin.dispose()
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_SERVER}: {error.orig}")
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def exercise(store: MetadataStore) -> None:
    run_id = RunId("20260101-000000-abcdef")
    store.create_run(run_id, "p", ["a", "b"], {"day": "monday"}, datetime(2026, 1, 1))
    first = store.start_block(run_id, "p", BlockName("a"), 1)
    store.finish_block(first, "success", rows_out=3, output_bytes=10, peak_memory_bytes=1,
                       outputs=[{"name": "a", "kind": "json", "file": "a.json", "rows": None,
                                 "bytes": 1, "note": None}])
    store.record_block(run_id, "p", BlockName("b"), "upstream_failed", "not run")
    store.finish_run(run_id, "failed", "blocks not successful: b")

    run = store.find_run("20260101")
    assert (run.status, run.pipeline, run.error) == ("failed", "p", "blocks not successful: b")
    assert [(b.block, b.status, b.rows_out) for b in store.block_runs(run_id)] == [
        ("a", "success", 3), ("b", "upstream_failed", None)]
    latest = store.latest_success("p", "a")
    assert latest is not None and latest.run_id == run_id
    assert store.latest_success("p", "b") is None
    assert [r.id for r in store.list_runs("p")] == [run_id]
    assert store.list_runs("other") == []


def test_sqlite_history(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/history/cairn.db"
    store = MetadataStore(url)
    try:
        exercise(store)
        with store.engine.connect() as connection:
            mode = connection.execute(sqlalchemy.text("PRAGMA journal_mode")).scalar()
            version = connection.execute(
                sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
        assert (mode, version) == ("wal", HEAD_REVISION)
    finally:
        store.close()
    MetadataStore(url).close()  # opening a migrated database again changes nothing


def test_postgres_history(postgres_url: str) -> None:
    store = MetadataStore(postgres_url)
    try:
        exercise(store)
    finally:
        store.close()


def test_pipeline_run_recorded_in_postgres(project: ProjectFolder, observer: RecordingObserver,
                                           postgres_url: str) -> None:
    (project.root / "cairn.yaml").write_text(f"name: pg\nmetadata_db: {postgres_url}\n")
    project.pipeline("p", {"a.py": "a = 41\n", "b.py": "b = a + 1\n"})
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success"
    assert service.read_output(project.load(), "p", "b") == {"b": 42}
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.text(
                "SELECT block, status FROM block_runs ORDER BY id")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("a", "success"), ("b", "success")]


def test_unreachable_database_is_a_clear_error(project: ProjectFolder,
                                               observer: RecordingObserver) -> None:
    (project.root / "cairn.yaml").write_text(
        "metadata_db: postgresql+psycopg://nobody@127.0.0.1:1/none\n")
    project.pipeline("p", {"a.py": "a = 1\n"})
    with pytest.raises(service.CairnError, match="cannot open the metadata database"):
        service.run_pipeline(project.load(), "p", observer)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_processes_opening_a_new_history_at_once_create_it_once(
        database: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = (f"sqlite:///{tmp_path / 'cairn.db'}" if database == "sqlite"
           else request.getfixturevalue("postgres_url"))
    opener = ("import sys\nfrom cairn.store.metadata import MetadataStore\n"
              "MetadataStore(sys.argv[1]).close()\n")
    processes = [subprocess.Popen([sys.executable, "-c", opener, url], text=True,
                                  stderr=subprocess.PIPE) for _ in range(6)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    store = MetadataStore(url)
    try:
        exercise(store)
    finally:
        store.close()
