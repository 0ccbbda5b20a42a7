"""The `streams` table: whether each stream should run, and what its process reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from cairn.store.metadata import MetadataStore, utcnow
from cairn.store.schema import streams


class StreamStates:
    """Reads and writes `streams` rows through a metadata store's engine."""

    def __init__(self, store: MetadataStore) -> None:
        self.engine = store.engine

    def get(self, pipeline: str) -> Row[Any] | None:
        with self.engine.connect() as connection:
            return connection.execute(
                select(streams).where(streams.c.pipeline == pipeline)).first()

    def all(self) -> list[Row[Any]]:
        with self.engine.connect() as connection:
            return list(connection.execute(select(streams).order_by(streams.c.pipeline)))

    def desire(self, pipeline: str, desired: str) -> None:
        """Ask for the stream to be running or stopped; the supervisor acts on it. Asking
        to run again clears the backoff of earlier crashes."""
        values: dict[str, Any] = {"desired": desired, "updated_at": utcnow()}
        if desired == "running":
            values.update(restarts=0, next_start_at=None)
        self._upsert(pipeline, values, status="stopped")

    def report(self, pipeline: str, **values: Any) -> None:
        """What a stream process (or its supervisor) says of it now."""
        self._upsert(pipeline, {**values, "updated_at": utcnow()}, desired="running")

    def claim(self, pipeline: str, seen: datetime | None, **values: Any) -> bool:
        """Write `values` only if the row is as it was read (`seen`: its `updated_at`, None
        for no row), so that of two supervisors deciding at once, one starts the stream."""
        values = {**values, "updated_at": utcnow()}
        if seen is None:
            try:
                with self.engine.begin() as connection:
                    connection.execute(insert(streams).values(
                        pipeline=pipeline, **{"desired": "running", **values}))
            except IntegrityError:
                return False
            return True
        with self.engine.begin() as connection:
            changed = connection.execute(update(streams).where(
                streams.c.pipeline == pipeline, streams.c.updated_at == seen).values(**values))
            return changed.rowcount == 1

    def _upsert(self, pipeline: str, values: dict[str, Any], **defaults: Any) -> None:
        with self.engine.begin() as connection:
            changed = connection.execute(
                update(streams).where(streams.c.pipeline == pipeline).values(**values))
            if changed.rowcount == 0:
                connection.execute(insert(streams).values(
                    pipeline=pipeline, **{"desired": "running", "status": "stopped",
                                          **defaults, **values}))
