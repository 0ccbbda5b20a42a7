"""Run history in the metadata database (SQLite by default, PostgreSQL for teams)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cairn.errors import CairnError, Problem
from cairn.ids import BlockName, RunId
from cairn.store.migrate import migrate
from cairn.store.schema import (
    alert_deliveries,
    alert_incidents,
    block_runs,
    checkpoints,
    runs,
    trigger_state,
)

FINISHED = ("success", "failed", "interrupted", "cancelled")
_CANDIDATES = 5  # runs an ambiguous run id lists


# Statements of every block attempt, built once: a run of 10,000 fan-out items would
# otherwise spend most of its bookkeeping time building them again.
_START_BLOCK = insert(block_runs)
_BLOCK_STARTED = select(block_runs.c.started_at, block_runs.c.run_id, block_runs.c.pipeline,
                        block_runs.c.block).where(block_runs.c.id == bindparam("block_run_id"))
_FINISH_BLOCK = update(block_runs).where(block_runs.c.id == bindparam("block_run_id"))


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _add_versions(connection: Connection, pipeline: str, block: str,
                  values: Mapping[str, str | None], source: str, run_id: str | None = None,
                  note: str | None = None) -> list[tuple[str, int]]:
    """Append a version of each named checkpoint (JSON text, or None for no value)."""
    added = []
    for name, value in values.items():
        newest = connection.execute(select(func.max(checkpoints.c.version)).where(
            checkpoints.c.pipeline == pipeline, checkpoints.c.block == block,
            checkpoints.c.name == name)).scalar()
        version = (newest or 0) + 1
        connection.execute(insert(checkpoints).values(
            pipeline=pipeline, block=block, name=name, version=version, value=value,
            run_id=run_id, source=source, created_at=utcnow(), note=note))
        added.append((name, version))
    return added


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
            migrate(self.engine)
        except SQLAlchemyError as error:
            raise CairnError(
                Problem(
                    "metadata-db",
                    f"cannot open the metadata database {self.engine.url!r}: "
                    f"{error.__class__.__name__}: {str(error).splitlines()[0]}",
                    hint="check `metadata_db` in cairn.yaml and that the server is running",
                )
            ) from None

    # -- writing -------------------------------------------------------------------------
    def create_run(
        self,
        run_id: RunId,
        pipeline: str,
        blocks: Sequence[str],
        variables: dict[str, Any],
        execution_date: datetime,
        trigger: str | None = None,
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
                    trigger=trigger,
                )
            )

    def start_block(self, run_id: RunId, pipeline: str, block: BlockName, attempt: int,
                    queued_at: datetime | None = None) -> int:
        """Record an attempt starting; `queued_at` is when its block became ready to run."""
        started = utcnow()
        with self.engine.begin() as connection:
            result = connection.execute(_START_BLOCK, {
                "run_id": run_id, "pipeline": pipeline, "block": block, "attempt": attempt,
                "status": "running", "queued_at": queued_at or started, "started_at": started})
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_block(self, block_run_id: int, status: str,
                     checkpoints: Mapping[str, Any] | None = None, **fields: Any) -> None:
        """Record an attempt's end; a successful one's new checkpoint values are committed
        in the same transaction, so they move if and only if the block is recorded done."""
        ended = utcnow()
        with self.engine.begin() as connection:
            started = connection.execute(
                _BLOCK_STARTED, {"block_run_id": block_run_id}).one()
            for key in ("outputs", "profile"):
                if fields.get(key) is not None:
                    fields[key] = json.dumps(fields[key])
            connection.execute(_FINISH_BLOCK, {
                "block_run_id": block_run_id, "status": status, "ended_at": ended,
                "duration_s": (ended - started.started_at).total_seconds(), **fields})
            if status == "success" and checkpoints:
                _add_versions(connection, started.pipeline, started.block,
                              {name: json.dumps(value) for name, value in checkpoints.items()},
                              "run", started.run_id)

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

    def interrupt_run(self, run_id: RunId, message: str, status: str = "interrupted",
                      block_message: str | None = None) -> None:
        """Record that a run stopped: it and its unfinished block attempts get `status`.
        With `block_message` (the process died), the attempts get it and the run's message
        names them: blocks run in one process, so whichever was running may have killed it."""
        with self.engine.begin() as connection:
            running = connection.execute(
                select(block_runs.c.block)
                .where(block_runs.c.run_id == run_id, block_runs.c.status == "running")
                .order_by(block_runs.c.id)
            ).scalars().all()
            if running and block_message is not None:
                message += f" (running: {', '.join(running)})"
            connection.execute(
                update(block_runs)
                .where(block_runs.c.run_id == run_id, block_runs.c.status == "running")
                .values(status=status, ended_at=utcnow(), error=block_message or message)
            )
            connection.execute(
                update(runs).where(runs.c.id == run_id)
                .values(status=status, ended_at=utcnow(), error=message)
            )

    def mark_dead_runs(self) -> list[RunId]:
        """Fail the runs left `running` by a process on this host that no longer exists,
        with the block attempts that were running when it died; returns the ids of the
        batch runs among them (their failure alerts are the caller's to raise)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(runs.c.id, runs.c.pid, runs.c.trigger).where(
                    runs.c.status == "running", runs.c.host == socket.gethostname())
            ).all()
        dead: list[RunId] = []
        for run_id, pid, trigger in rows:
            if pid is None or _process_alive(pid):
                continue
            if trigger == "stream":  # nothing to resume: a new process replays its batch
                self.interrupt_run(run_id, "the stream's process ended without stopping "
                                   "(killed?); its unacknowledged batch comes again",
                                   status="failed")
            else:
                self.interrupt_run(run_id, "the run's process died (killed, or a block ended "
                                   "the interpreter); resume it with --resume",
                                   status="failed", block_message="the process died while "
                                   "this block was running")
                dead.append(RunId(run_id))
        return dead

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
                            fired_until=values.get("fired_until"),
                            definition=values.get("definition")))
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
        """A run by id, by a unique prefix or suffix of its id (the random part people
        copy), or `latest` (of the pipeline, if given)."""
        query = select(runs)
        if pipeline:
            query = query.where(runs.c.pipeline == pipeline)
        with self.engine.connect() as connection:
            if run_id == "latest":
                found = connection.execute(query.order_by(
                    runs.c.started_at.desc(), runs.c.id.desc()).limit(1)).all()
            else:
                found = connection.execute(query.where(runs.c.id == run_id)).all() or (
                    connection.execute(query.where(
                        runs.c.id.startswith(run_id, autoescape=True)
                        | runs.c.id.endswith(run_id, autoescape=True)
                    ).order_by(runs.c.id.desc()).limit(_CANDIDATES + 1)).all())
        if len(found) == 1:
            return found[0]
        if not found:
            raise CairnError(Problem("unknown-run", f"no run matches {run_id!r}",
                                     hint="list runs with `cairn runs`"))
        shown = ", ".join(r.id for r in found[:_CANDIDATES]) + (
            ", ..." if len(found) > _CANDIDATES else "")
        raise CairnError(Problem("unknown-run", f"more than one run matches {run_id!r}: {shown}",
                                 hint="give more of the run id"))

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

    def latest_block_runs(self, pipeline: str) -> list[Row[Any]]:
        """The newest attempt recorded for each block of a pipeline, whatever its status,
        with its run's trigger and start (items of mapped blocks left out)."""
        newest = (select(func.max(block_runs.c.id))
                  .where(block_runs.c.pipeline == pipeline,
                         ~block_runs.c.block.contains("[", autoescape=True))
                  .group_by(block_runs.c.block))
        query = (select(block_runs, runs.c.trigger,
                        runs.c.started_at.label("run_started_at"))
                 .join(runs, runs.c.id == block_runs.c.run_id)
                 .where(block_runs.c.id.in_(newest)))
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def successful_items(self, run_id: RunId, block: BlockName) -> dict[str, str]:
        """The items of a mapped block that succeeded in a run: `{block[i]: outputs}`."""
        query = select(block_runs.c.block, block_runs.c.outputs).where(
            block_runs.c.run_id == run_id, block_runs.c.status == "success",
            block_runs.c.block.startswith(f"{block}[", autoescape=True))
        with self.engine.connect() as connection:
            return {unit: outputs for unit, outputs in connection.execute(query)}

    # -- retention and metrics (cairn.monitor) -----------------------------------------
    def run_summaries(self) -> list[Row[*tuple[Any, ...]]]:
        """Every run's id, pipeline, status and start; each pipeline's newest first."""
        query = select(runs.c.id, runs.c.pipeline, runs.c.status, runs.c.started_at).order_by(
            runs.c.pipeline, runs.c.started_at.desc(), runs.c.id.desc())
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def latest_successes(self, pipeline: str | None = None,
                         ended_before: datetime | None = None,
                         ) -> list[Row[*tuple[Any, ...]]]:
        """The block run `latest_success` finds for every block (id, run_id, pipeline,
        block), optionally as it was for a run that started at `ended_before`."""
        newest = select(func.max(block_runs.c.id)).where(block_runs.c.status == "success")
        if pipeline is not None:
            newest = newest.where(block_runs.c.pipeline == pipeline)
        if ended_before is not None:
            newest = newest.where(block_runs.c.ended_at < ended_before)
        newest = newest.group_by(block_runs.c.pipeline, block_runs.c.block)
        query = select(block_runs.c.id, block_runs.c.run_id, block_runs.c.pipeline,
                       block_runs.c.block).where(block_runs.c.id.in_(newest))
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def successes_since(self, pipeline: str, since: datetime) -> list[Row[*tuple[Any, ...]]]:
        """Successful block runs (run_id, block) of a pipeline that ended at `since` or later."""
        query = select(block_runs.c.run_id, block_runs.c.block).where(
            block_runs.c.pipeline == pipeline, block_runs.c.status == "success",
            block_runs.c.ended_at >= since)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def forget_outputs(self, run_id: str, keep: Collection[str], note: str) -> None:
        """Record that the files of a run's block runs (but those of units in `keep`) are
        gone: each stored output keeps its name, kind and size, and loses its file."""
        with self.engine.begin() as connection:
            rows = connection.execute(select(block_runs.c.id, block_runs.c.block,
                                             block_runs.c.outputs)
                                      .where(block_runs.c.run_id == run_id)).all()
            for row in rows:
                outputs = json.loads(row.outputs) if row.outputs else []
                if row.block in keep or not any(o.get("file") for o in outputs):
                    continue
                for output in outputs:
                    if output.get("file"):
                        output.update(file=None, note=note)
                connection.execute(update(block_runs).where(block_runs.c.id == row.id)
                                   .values(outputs=json.dumps(outputs)))

    def delete_runs(self, run_ids: Collection[str]) -> None:
        """Delete runs and their block runs from the history."""
        chosen = list(run_ids)
        with self.engine.begin() as connection:
            for start in range(0, len(chosen), 500):  # within every database's bound variables
                part = chosen[start : start + 500]
                connection.execute(delete(block_runs).where(block_runs.c.run_id.in_(part)))
                connection.execute(delete(runs).where(runs.c.id.in_(part)))

    def count_runs(self) -> list[Row[*tuple[Any, ...]]]:
        """(pipeline, status, n) over all runs."""
        query = select(runs.c.pipeline, runs.c.status, func.count()).group_by(
            runs.c.pipeline, runs.c.status)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def count_block_runs(self) -> list[Row[*tuple[Any, ...]]]:
        """(pipeline, block, status, n) over all block runs, every attempt counted."""
        query = select(block_runs.c.pipeline, block_runs.c.block, block_runs.c.status,
                       func.count()).group_by(block_runs.c.pipeline, block_runs.c.block,
                                              block_runs.c.status)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def run_durations(self, bounds: Sequence[float]) -> list[Row[*tuple[Any, ...]]]:
        """Per pipeline, over its finished runs: (pipeline, n, total seconds, then how many
        took at most each of `bounds`)."""
        at_most = [func.sum(case((runs.c.duration_s <= bound, 1), else_=0)) for bound in bounds]
        query = (select(runs.c.pipeline, func.count(), func.sum(runs.c.duration_s), *at_most)
                 .where(runs.c.status.in_(FINISHED), runs.c.duration_s.is_not(None))
                 .group_by(runs.c.pipeline))
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def last_successes(self) -> list[Row[*tuple[Any, ...]]]:
        """(pipeline, ended_at) of each pipeline's newest successful run."""
        query = select(runs.c.pipeline, func.max(runs.c.ended_at)).where(
            runs.c.status == "success").group_by(runs.c.pipeline)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def close(self) -> None:
        self.engine.dispose()

    # -- alerts (an outbox: incidents first, then every delivery attempt) ----------------
    def create_incident(self, pipeline: str, event: str, key: str, run_id: str | None,
                        message: str, channels: Sequence[str]) -> int | None:
        """Record an alert unless (pipeline, event, key) already has one; None if it had."""
        try:
            with self.engine.begin() as connection:
                result = connection.execute(insert(alert_incidents).values(
                    pipeline=pipeline, event=event, key=key, run_id=run_id,
                    created_at=utcnow(), message=message, channels=json.dumps(list(channels)),
                    done=not channels))
        except IntegrityError:
            return None
        inserted = result.inserted_primary_key
        assert inserted is not None
        return int(inserted[0])

    def open_incidents(self, run_id: str | None = None) -> list[Row[Any]]:
        query = select(alert_incidents).where(alert_incidents.c.done.is_(False))
        if run_id is not None:
            query = query.where(alert_incidents.c.run_id == run_id)
        with self.engine.connect() as connection:
            return list(connection.execute(query.order_by(alert_incidents.c.id)).all())

    def list_incidents(self, pipeline: str | None = None, limit: int = 20) -> list[Row[Any]]:
        query = select(alert_incidents).order_by(alert_incidents.c.id.desc()).limit(limit)
        if pipeline is not None:
            query = query.where(alert_incidents.c.pipeline == pipeline)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def deliveries(self, incident_ids: Sequence[int]) -> list[Row[Any]]:
        query = (select(alert_deliveries)
                 .where(alert_deliveries.c.incident_id.in_(list(incident_ids)))
                 .order_by(alert_deliveries.c.id))
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def claim_delivery(self, incident_id: int, channel: str, attempt: int) -> int | None:
        """Record `attempt` as `sending`. It is ours only if no one else claimed the same
        attempt: of two senders that race, at most one sends (maybe neither, until later)."""
        with self.engine.begin() as connection:
            inserted = connection.execute(insert(alert_deliveries).values(
                incident_id=incident_id, channel=channel, attempt=attempt, status="sending",
                at=utcnow())).inserted_primary_key
        assert inserted is not None
        delivery_id = int(inserted[0])
        with self.engine.begin() as connection:
            claims = connection.execute(select(func.count()).where(
                alert_deliveries.c.incident_id == incident_id,
                alert_deliveries.c.channel == channel,
                alert_deliveries.c.attempt == attempt)).scalar_one()
            if claims > 1:
                connection.execute(delete(alert_deliveries)
                                   .where(alert_deliveries.c.id == delivery_id))
                return None
        return delivery_id

    def finish_delivery(self, delivery_id: int, status: str, error: str | None) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(alert_deliveries)
                               .where(alert_deliveries.c.id == delivery_id)
                               .values(status=status, at=utcnow(), error=error))

    def close_incident(self, incident_id: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(alert_incidents)
                               .where(alert_incidents.c.id == incident_id).values(done=True))

    def previous_finished_run(self, pipeline: str, run_id: str) -> Row[Any] | None:
        """The run of `pipeline` that succeeded or failed last before `run_id` ended."""
        with self.engine.connect() as connection:
            ended = connection.execute(select(runs.c.ended_at).where(runs.c.id == run_id)
                                       ).scalar_one_or_none() or utcnow()
            return connection.execute(
                select(runs).where(runs.c.pipeline == pipeline, runs.c.id != run_id,
                                   runs.c.status.in_(("success", "failed")),
                                   runs.c.ended_at <= ended)
                .order_by(runs.c.ended_at.desc()).limit(1)).first()

    def failed_runs_since(self, since: datetime) -> list[Row[Any]]:
        query = select(runs).where(runs.c.status == "failed", runs.c.ended_at >= since)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    # -- checkpoints -----------------------------------------------------------------------
    def current_checkpoints(self, pipeline: str | None = None,
                            block: str | None = None) -> list[Row[Any]]:
        """The newest version of every checkpoint (of a pipeline, of a block)."""
        newest = select(func.max(checkpoints.c.version).label("version"),
                        checkpoints.c.pipeline, checkpoints.c.block, checkpoints.c.name
                        ).group_by(checkpoints.c.pipeline, checkpoints.c.block,
                                   checkpoints.c.name)
        if pipeline is not None:
            newest = newest.where(checkpoints.c.pipeline == pipeline)
        if block is not None:
            newest = newest.where(checkpoints.c.block == block)
        latest = newest.subquery()
        query = select(checkpoints).join(latest, (checkpoints.c.pipeline == latest.c.pipeline)
                                         & (checkpoints.c.block == latest.c.block)
                                         & (checkpoints.c.name == latest.c.name)
                                         & (checkpoints.c.version == latest.c.version)
                                         ).order_by(checkpoints.c.pipeline, checkpoints.c.block,
                                                    checkpoints.c.name)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def checkpoint_values(self, pipeline: str, block: str) -> dict[str, Any]:
        """A block's checkpoints as it reads them: name -> value, those with a value."""
        return {row.name: json.loads(row.value)
                for row in self.current_checkpoints(pipeline, block) if row.value is not None}

    def save_checkpoints(self, pipeline: str, block: str, values: Mapping[str, Any],
                         run_id: str, keep: int) -> None:
        """Record new values of checkpoints (a stream's source position), one transaction;
        only the newest `keep` versions of each stay, since a stream adds them for ever."""
        with self.engine.begin() as connection:
            added = _add_versions(connection, pipeline, block,
                                  {name: json.dumps(value) for name, value in values.items()},
                                  "run", run_id)
            for name, version in added:
                if version > keep:
                    connection.execute(delete(checkpoints).where(
                        checkpoints.c.pipeline == pipeline, checkpoints.c.block == block,
                        checkpoints.c.name == name, checkpoints.c.version <= version - keep))

    def checkpoint_versions(self, pipeline: str, block: str, name: str) -> list[Row[Any]]:
        query = select(checkpoints).where(
            checkpoints.c.pipeline == pipeline, checkpoints.c.block == block,
            checkpoints.c.name == name).order_by(checkpoints.c.version)
        with self.engine.connect() as connection:
            return list(connection.execute(query).all())

    def reset_checkpoints(self, pipeline: str, block: str | None, to_version: int | None,
                          to_value: str | None, note: str) -> list[tuple[str, str, int]]:
        """Record a reset of a pipeline's (or one block's) checkpoints: to no value, to the
        value an earlier version had, or to a given JSON value. (block, name, new version)
        of each; one transaction."""
        done: list[tuple[str, str, int]] = []
        with self.engine.begin() as connection:
            for row in self.current_checkpoints(pipeline, block):
                value = to_value
                if to_version is not None:
                    value = connection.execute(select(checkpoints.c.value).where(
                        checkpoints.c.pipeline == pipeline, checkpoints.c.block == row.block,
                        checkpoints.c.name == row.name, checkpoints.c.version == to_version,
                    )).scalar_one_or_none()
                    if value is None:
                        raise CairnError(Problem(
                            "no-such-version", f"checkpoint {row.name!r} of {row.block} has no "
                            f"version {to_version} with a value (it is at {row.version})",
                            hint=f"see them with `cairn checkpoints {pipeline} --history`"))
                for name, version in _add_versions(connection, pipeline, row.block,
                                                   {row.name: value}, "reset", note=note):
                    done.append((row.block, name, version))
        return done
