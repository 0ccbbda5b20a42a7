"""Change data capture from PostgreSQL: every insert, update and delete committed since the
block's last successful run, read through a logical replication slot with the wal2json
output plugin.

The checkpoint is the slot's position (LSN) up to which a successful run took the changes.
Changes are only ever *peeked*; at the start of the next run the slot is advanced to the
committed position, so a failed or killed run leaves them in the slot and the next run
reads them again (at least once to the block, the position moving exactly with success).
"""

from __future__ import annotations

import json
import re
from typing import Any

from cairn.errors import BlockError
from cairn.runtime.context import RunContext

PLUGIN = "wal2json"
_ACTIONS = {"I": "insert", "U": "update", "D": "delete"}


def slot_name(context: RunContext, name: str) -> str:
    """The default slot of a block's capture: `cairn_<pipeline>_<block>_<name>`, in the
    characters and length PostgreSQL allows."""
    raw = f"cairn_{context.pipeline}_{context.block}_{name}".lower()
    return re.sub(r"[^a-z0-9_]", "_", raw)[:63]


def pg_changes(context: RunContext, connection: str | None = None, *, name: str = "changes",
               tables: list[str] | None = None, slot: str | None = None) -> Any:
    """The changes committed since the last successful run, in commit order, as a pandas
    DataFrame with columns `lsn`, `action` (insert, update, delete), `schema`, `table`,
    `values` (the new row, a dict; None for deletes) and `key` (the old key of updates and
    deletes: the replica identity's columns).

    The first run creates the slot and returns no changes: capture starts then. `tables`
    (`schema.table` names) limits what is read. The checkpoint `name` is staged with the
    new position; it is committed only if the block succeeds."""
    import pandas as pd
    import sqlalchemy as sa

    from cairn.io.api import sql_engine

    slot = slot or slot_name(context, name)
    engine = sql_engine(connection)
    if engine.dialect.name != "postgresql":
        raise BlockError(f"change data capture needs a PostgreSQL connection, not "
                         f"{engine.dialect.name}")
    committed = (context.checkpoint(name) or {}).get("lsn")
    rows: list[Any] = []
    with engine.connect() as db:
        _check_wal_level(db)
        position = db.execute(sa.text(
            "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = :slot"),
            {"slot": slot}).first()
        if position is None:
            _create_slot(db, slot)
        elif committed is not None:
            # What the last successful run took can go: the server may recycle its WAL.
            db.execute(sa.text(
                "SELECT pg_replication_slot_advance(slot_name, CAST(:lsn AS pg_lsn)) "
                "FROM pg_replication_slots "
                "WHERE slot_name = :slot AND confirmed_flush_lsn < CAST(:lsn AS pg_lsn)"),
                {"slot": slot, "lsn": committed})
        upto = db.execute(sa.text("SELECT CAST(pg_current_wal_lsn() AS text)")).scalar_one()
        if position is not None:
            options = ["format-version", "2", "include-transaction", "false"]
            if tables:
                options += ["add-tables", ",".join(tables)]
            rows = list(db.execute(sa.text(
                "SELECT CAST(lsn AS text) AS lsn, data FROM pg_logical_slot_peek_changes("
                "CAST(:slot AS name), CAST(:upto AS pg_lsn), NULL, "
                + ", ".join(f":o{i}" for i in range(len(options))) + ")"),
                {"slot": slot, "upto": upto, **{f"o{i}": o for i, o in enumerate(options)}}))
        db.commit()
    context.set_checkpoint(name, {"slot": slot, "lsn": upto})
    changes = [_change(lsn, json.loads(data)) for lsn, data in rows]
    return pd.DataFrame([c for c in changes if c is not None],
                        columns=["lsn", "action", "schema", "table", "values", "key"])


def _check_wal_level(db: Any) -> None:
    import sqlalchemy as sa

    level = db.execute(sa.text("SHOW wal_level")).scalar_one()
    if level != "logical":
        raise BlockError(f"the PostgreSQL server's wal_level is {level!r}, and change data "
                         "capture needs 'logical'",
                         detail="hint: set `wal_level = logical` in postgresql.conf (or ALTER "
                         "SYSTEM SET wal_level = logical) and restart the server")


def _create_slot(db: Any, slot: str) -> None:
    import sqlalchemy as sa

    try:
        db.execute(sa.text("SELECT pg_create_logical_replication_slot(:slot, :plugin)"),
                   {"slot": slot, "plugin": PLUGIN})
    except sa.exc.DBAPIError as error:
        message = str(error.orig).strip().splitlines()[0]
        server_hint = getattr(getattr(error.orig, "diag", None), "message_hint", None)
        hint = ("hint: the connection's user needs the REPLICATION attribute "
                "(ALTER ROLE name REPLICATION)" if "permission" in message.lower()
                else f"hint: {server_hint}" if server_hint
                else f"hint: the {PLUGIN} output plugin must be installed on the server "
                "(Debian: postgresql-<version>-wal2json)" if PLUGIN in message
                else "")
        raise BlockError(f"cannot create the replication slot {slot!r}: {message}",
                         detail=hint) from None


def _change(lsn: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """One wal2json (format 2) record as a row of the result; None for other records."""
    action = _ACTIONS.get(data.get("action", ""))
    if action is None:
        return None
    values = {c["name"]: c.get("value") for c in data.get("columns", [])} or None
    key = {c["name"]: c.get("value") for c in data.get("identity", [])} or None
    return {"lsn": lsn, "action": action, "schema": data.get("schema"),
            "table": data.get("table"), "values": values if action != "delete" else None,
            "key": key}
