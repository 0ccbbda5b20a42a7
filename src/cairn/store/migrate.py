"""Bring the metadata database's schema up to date, once, whoever opens it first.

Several processes may open a new project's history at the same moment (a backfill's runs,
the scheduler's, the notebook's); only one of them may create the tables. So the upgrade
runs under a lock every process of the database sees: an `flock` beside a SQLite file, an
advisory lock on PostgreSQL and MySQL. The version is read again under the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from cairn.errors import CairnError, Problem
from cairn.store.schema import HEAD_REVISION

_LOCK_KEY = 7_163_221_901  # any number, the same in every Cairn


def migrate(engine: Engine) -> None:
    if _version(engine) == HEAD_REVISION:
        return  # the common case: no lock, no Alembic
    with _migration_lock(engine):
        version = _version(engine)
        if version == HEAD_REVISION:
            return  # another process upgraded it while this one waited
        if version is not None and version > HEAD_REVISION:  # revisions are numbered
            raise CairnError(Problem(
                "metadata-db", f"the metadata database {engine.url!r} was upgraded by a "
                f"newer Cairn (schema {version}; this Cairn knows up to {HEAD_REVISION})",
                hint="upgrade Cairn, or point `metadata_db` in cairn.yaml elsewhere"))
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def _version(engine: Engine) -> str | None:
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            return None  # a new database: no table yet


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    backend = engine.url.get_backend_name()
    if backend == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        fd = os.open(database + ".migrate.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
        return
    lock, unlock = {
        "postgresql": (f"SELECT pg_advisory_lock({_LOCK_KEY})",
                       f"SELECT pg_advisory_unlock({_LOCK_KEY})"),
        "mysql": (f"SELECT GET_LOCK('cairn-{_LOCK_KEY}', 300)",
                  f"SELECT RELEASE_LOCK('cairn-{_LOCK_KEY}')"),
    }.get(backend, ("", ""))
    if not lock:
        yield
        return
    with engine.connect() as connection:  # the lock belongs to this session
        connection.execute(text(lock))
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text(unlock))
            connection.commit()
