"""Run history in the metadata database (SQLite by default, PostgreSQL for teams)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, insert, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cairn.errors import CairnError, Problem
from cairn.ids import BlockName, RunId
from cairn.store.schema import HEAD_REVISION, block_runs, runs, trigger_state

FINISHED = ("success", "failed", "interrupted")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _connect_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            # WAL lets readers (cairn runs, the UI) see history while a run writes it.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MetadataStore:
    """Runs and block runs; every write is its own committed transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = _connect_engine(url)
            self._migrate()
        except SQLAlchemyError as error:
            raise CairnError(
                Problem(
                    "metadata-db",
                    f"cannot open the metadata database {self.engine.url!r}: "
                    f"{error.__class__.__name__}: {str(error).splitlines()[0]}",
                    hint="check `metadata_db` in cairn.yaml and that the server is running",
                )
            ) from None

    def _migrate(self) -> None:
        with self.engine.connect() as connection:
            try:
                current = connection.execute(text("SELECT version_num FROM alembic_version"))
                if current.scalar() == HEAD_REVISION:
                    return  # the common case: no need to load Alembic at all
            except SQLAlchemyError:
                connection.rollback()
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    # -- writing -------------------------------------------------------------------------
    def create_run(
        self,
        run_id: RunId,
        pipeline: str,
        blocks: Sequence[str],
        variables: dict[str, Any],
        execution_date: datetime,
    ) -> None:
        now = utcnow()
        with self.engine.begin() as connection:
            connection.execute(
                insert(runs).values(
                    id=run_id,
                    pipeline=pipeline,
                    status="running",
                    started_at=now,
                    queued_at=now,
                    execution_date=execution_date,
                    variables=json.dumps(variables, default=str),
                    blocks=json.dumps(list(blocks)),
                    pid=os.getpid(),
                    host=socket.gethostname(),
                    resumes=0,
                )
            )

    def start_block(self, run_id: RunId, pipeline: str, block: BlockName, attempt: int,
                    queued_at: datetime | None = None) -> int:
        """Record an attempt starting; `queued_at` is when its block became ready to run."""
        started = utcnow()
        with self.engine.begin() as connection:
            result = connection.execute(
                insert(block_runs).values(
                    run_id=run_id,
                    pipeline=pipeline,
                    block=block,
                    attempt=attempt,
                    status="running",
                    queued_at=queued_at or started,
                    started_at=started,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_block(self, block_run_id: int, status: str, **fields: Any) -> None:
        ended = utcnow()
        with self.engine.begin() as connection:
            started = connection.execute(
                select(block_runs.c.started_at).where(block_runs.c.id == block_run_id)
            ).scalar_one()
            for key in ("outputs", "profile"):
                if fields.get(key) is not None:
                    fields[key] = json.dumps(fields[key])
            connection.execute(
                update(block_runs)
                .where(block_runs.c.id == block_run_id)
                .values(
                    status=status,
                    ended_at=ended,
                    duration_s=(ended - started).total_seconds(),
                    **fields,
                )
            )

    def record_block(
        self, run_id: RunId, pipeline: str, block: BlockName, status: str, error: str | None
    ) -> None:
        """A block that did not run (for example `upstream_failed`)."""
        with self.engine.begin() as connection:
            connection.execute(
                insert(block_runs).values(
                    run_id=run_id, pipeline=pipeline, block=block, attempt=0,
                    status=status, error=error,
                )
            )

    def finish_run(self, run_id: RunId, status: str, error: str | None = None) -> None:
        """Record the end of a run with the sums of its block runs' metrics."""
        ended = utcnow()
        with self.engine.begin() as connection:
            started = connection.execute(
                select(runs.c.started_at).where(runs.c.id == run_id)
            ).scalar_one()
            # Items of mapped blocks (`block[i]`) count; their collecting record adds nothing
            # but the collected file's bytes.
            totals = connection.execute(
                select(func.sum(block_runs.c.rows_out), func.sum(block_runs.c.output_bytes),
                       func.max(block_runs.c.peak_memory_bytes),
                       func.sum(block_runs.c.cpu_seconds))
                .where(block_runs.c.run_id == run_id)
            ).one()
            connection.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=status,
                    ended_at=ended,
                    duration_s=(ended - started).total_seconds(),
                    error=error,
                    rows_out=totals[0],
                    output_bytes=totals[1],
                    peak_memory_bytes=totals[2],
                    cpu_seconds=totals[3],
                )
            )

    def reopen_run(self, run_id: RunId) -> None:
        """Take over an interrupted or failed run to finish it in this process."""
        self.interrupt_run(run_id, "the run's process ended before this block finished")
        with self.engine.begin() as connection:
            connection.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status="running", ended_at=None, error=None, pid=os.getpid(),
                        host=socket.gethostname(), resumes=runs.c.resumes + 1)
            )

    def interrupt_run(self, run_id: RunId, message: str, status: str = "interrupted") -> None:
        """Record that a run stopped: it and its unfinished block attempts get `status`."""
        with self.engine.begin() as connection:
            connection.execute(
                update(block_runs)
                .where(block_runs.c.run_id == run_id, block_runs.c.status == "running")
                .values(status=status, ended_at=utcnow(), error=message)
            )
            connection.execute(
                update(runs).where(runs.c.id == run_id)
                .values(status=status, ended_at=utcnow(), error=message)
            )

    def mark_dead_runs(self) -> None:
        """Runs left `running` by a process on this host that no longer exists."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(runs.c.id, runs.c.pid).where(runs.c.status == "running",
                                                    runs.c.host == socket.gethostname())
            ).all()
        for run_id, pid in rows:
            if pid is not None and not _process_alive(pid):
                self.interrupt_run(run_id, "the run's process ended unexpectedly; "
                                   "resume it with --resume")

    # -- scheduling ----------------------------------------------------------------------
    def create_scheduled_run(self, run_id: RunId, pipeline: str, trigger: str, key: str,
                             scheduled_for: datetime, variables: dict[str, Any],
                             status: str) -> bool:
        """Create the run of (trigger, key) unless it exists; False when it did. The key
        says what the run is for: a scheduled time, a file, another pipeline's run."""
        now = utcnow()
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(runs).values(
                    id=run_id, pipeline=pipeline, status=status, started_at=now,
                    queued_at=now,
                    execution_date=scheduled_for, variables=json.dumps(variables, default=str),
                    blocks="[]", resumes=0, trigger=trigger, trigger_key=key,
                    scheduled_for=scheduled_for,
                    error="skipped: the previous run was still going" if status == "skipped"
                    else None))
        except IntegrityError:
            return False
        return True

    def claim_run(self, run_id: RunId) -> bool:
        """Take a queued run to start it; only one scheduler can win it."""
        with self.engine.begin() as connection:
            claimed = connection.execute(
                update(runs).where(runs.c.id == run_id, runs.c.status == "queued")
                .values(status="starting", host=socket.gethostname(), heartbeat_at=utcnow()))
            return claimed.rowcount == 1

    def queued_runs(self) -> list[Row[Any]]:
        query = select(runs).where(runs.c.status == "queued").order_by(
            runs.c.scheduled_for, runs.c.id)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def active_runs(self, pipeline: str | None = None) -> list[Row[Any]]:
        query = select(runs).where(runs.c.status.in_(("starting", "running")))
        if pipeline is not None:
            query = query.where(runs.c.pipeline == pipeline)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def adopt_run(self, run_id: RunId, blocks: Sequence[str], variables: dict[str, Any]) -> bool:
        """A run the scheduler created becomes this process's run."""
        with self.engine.begin() as connection:
            adopted = connection.execute(
                update(runs).where(runs.c.id == run_id,
                                   runs.c.status.in_(("queued", "starting")))
                .values(status="running", started_at=utcnow(), blocks=json.dumps(list(blocks)),
                        variables=json.dumps(variables, default=str), pid=os.getpid(),
                        host=socket.gethostname(), heartbeat_at=utcnow()))
            return adopted.rowcount == 1

    def succeeded_since(self, pipeline: str, since: datetime) -> list[Row[Any]]:
        """Successful runs of a pipeline that ended after `since`, oldest first."""
        query = select(runs).where(runs.c.pipeline == pipeline, runs.c.status == "success",
                                   runs.c.ended_at > since).order_by(runs.c.ended_at)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def heartbeat(self, run_id: RunId) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(runs).where(runs.c.id == run_id)
                               .values(heartbeat_at=utcnow()))

    def silent_runs(self, since: datetime) -> list[Row[Any]]:
        """Runs said to be going whose process has not been heard from since `since`."""
        query = select(runs).where(runs.c.status.in_(("starting", "running")),
                                   runs.c.heartbeat_at < since)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def trigger_states(self, pipeline: str) -> dict[str, Row[Any]]:
        query = select(trigger_state).where(trigger_state.c.pipeline == pipeline)
        with self.engine.connect() as connection:
            return {row.trigger: row for row in connection.execute(query)}

    def save_trigger_state(self, pipeline: str, trigger: str, **values: Any) -> None:
        """Insert or update a trigger's state; `fired_until` only ever moves forward."""
        with self.engine.begin() as connection:
            existing = connection.execute(select(trigger_state).where(
                trigger_state.c.pipeline == pipeline, trigger_state.c.trigger == trigger)
            ).first()
            if existing is None:
                try:
                    with connection.begin_nested():
                        connection.execute(insert(trigger_state).values(
                            pipeline=pipeline, trigger=trigger,
                            paused=values.get("paused", False),
                            fired_until=values.get("fired_until")))
                    return
                except IntegrityError:
                    pass  # another scheduler created it just now: update it below
            query = update(trigger_state).where(trigger_state.c.pipeline == pipeline,
                                                trigger_state.c.trigger == trigger)
            if "fired_until" in values:
                query = query.where((trigger_state.c.fired_until.is_(None))
                                    | (trigger_state.c.fired_until < values["fired_until"]))
            connection.execute(query.values(**values))

    # -- reading -------------------------------------------------------------------------
    def find_run(self, run_id: str, pipeline: str | None = None) -> Row[Any]:
        """A run by id or unique id prefix."""
        query = select(runs).where(runs.c.id.startswith(run_id, autoescape=True))
        if pipeline:
            query = query.where(runs.c.pipeline == pipeline)
        with self.engine.connect() as connection:
            found = connection.execute(query.limit(2)).all()
        if len(found) != 1:
            reason = "no run" if not found else "more than one run"
            raise CairnError(
                Problem("unknown-run", f"{reason} matches {run_id!r}",
                        hint="list runs with `cairn runs`")
            )
        return found[0]

    def latest_run(self, pipeline: str) -> Row[Any] | None:
        query = (select(runs).where(runs.c.pipeline == pipeline)
                 .order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1))
        with self.engine.connect() as connection:
            return connection.execute(query).first()

    def list_runs(self, pipeline: str | None = None, limit: int = 20) -> list[Row[Any]]:
        query = select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit)
        if pipeline:
            query = query.where(runs.c.pipeline == pipeline)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def block_runs(self, run_id: RunId) -> list[Row[Any]]:
        query = (select(block_runs).where(block_runs.c.run_id == run_id)
                 .order_by(block_runs.c.id))
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def latest_success(
        self, pipeline: str, block: str, run_id: str | None = None
    ) -> Row[Any] | None:
        """The newest successful run of a block, optionally within one run."""
        query = select(block_runs).where(
            block_runs.c.pipeline == pipeline,
            block_runs.c.block == block,
            block_runs.c.status == "success",
        )
        if run_id:
            query = query.where(block_runs.c.run_id == run_id)
        with self.engine.connect() as connection:
            return connection.execute(query.order_by(block_runs.c.id.desc()).limit(1)).first()

    def close(self) -> None:
        self.engine.dispose()
