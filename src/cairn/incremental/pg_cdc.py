"""Change data capture from PostgreSQL: every insert, update, delete and truncate committed
since the block's last successful run, read through a logical replication slot with the
wal2json output plugin.

The checkpoint is the slot's position (LSN) up to which a successful run took the changes.
Changes are only ever *peeked*; at the start of the next run the slot is advanced to the
committed position, so a failed or killed run leaves them in the slot and the next run
reads them again (at least once to the block, the position moving exactly with success).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from cairn.errors import BlockError
from cairn.runtime.context import RunContext

PLUGIN = "wal2json"
COLUMNS = ["lsn", "action", "schema", "table", "values", "key"]
_ACTIONS = {"I": "insert", "U": "update", "D": "delete", "T": "truncate"}
_INSUFFICIENT_PRIVILEGE = "42501"


def slot_name(context: RunContext, name: str) -> str:
    """The default slot of a block's capture: `cairn_<pipeline>_<block>_<name>`, in the
    characters and length PostgreSQL allows."""
    raw = f"cairn_{context.pipeline}_{context.block}_{name}".lower()
    return re.sub(r"[^a-z0-9_]", "_", raw)[:63]


def pg_changes(context: RunContext, connection: str | None = None, *, name: str = "changes",
               tables: list[str] | None = None, slot: str | None = None,
               as_: Literal["pandas", "records"] = "pandas") -> Any:
    """The changes committed since the last successful run, in commit order: a pandas
    DataFrame (or with `as_="records"` a list of dicts) with columns `lsn`, `action`
    (insert, update, delete, truncate), `schema`, `table`, `values` (the new row, a dict;
    None for deletes and truncates) and `key` (the old key of updates and deletes: the
    replica identity's columns).

    The first run creates the slot: capture starts then. `tables` (`schema.table` names)
    limits what is read. The checkpoint `name` is staged with the new position; it is
    committed only if the block succeeds."""
    import sqlalchemy as sa

    from cairn.io.api import sql_engine

    slot = slot or slot_name(context, name)
    engine = sql_engine(connection)
    if engine.dialect.name != "postgresql":
        raise BlockError(f"change data capture needs a PostgreSQL connection, not "
                         f"{engine.dialect.name}")
    committed = _committed(context, name, slot)
    with engine.connect() as db, _explained(slot):
        _check_wal_level(db)
        _warn_without_identity(context, db, tables)
        exists = db.execute(sa.text("SELECT 1 FROM pg_replication_slots WHERE slot_name = "
                                    ":slot"), {"slot": slot}).first()
        if exists is None:
            db.execute(sa.text("SELECT pg_create_logical_replication_slot(:slot, :plugin)"),
                       {"slot": slot, "plugin": PLUGIN})
        elif committed is not None:
            # What the last successful run took can go: the server may recycle its WAL.
            db.execute(sa.text(
                "SELECT pg_replication_slot_advance(slot_name, CAST(:lsn AS pg_lsn)) "
                "FROM pg_replication_slots "
                "WHERE slot_name = :slot AND confirmed_flush_lsn < CAST(:lsn AS pg_lsn)"),
                {"slot": slot, "lsn": committed})
        # A fixed upper bound, so the position staged is exactly where this read stopped.
        upto = db.execute(sa.text("SELECT CAST(pg_current_wal_lsn() AS text)")).scalar_one()
        options = ["format-version", "2", "include-transaction", "false"]
        if tables:
            options += ["add-tables", ",".join(tables)]
        rows = db.execute(sa.text(
            "SELECT CAST(lsn AS text) AS lsn, data FROM pg_logical_slot_peek_changes("
            "CAST(:slot AS name), CAST(:upto AS pg_lsn), NULL, "
            + ", ".join(f":o{i}" for i in range(len(options))) + ")"),
            {"slot": slot, "upto": upto, **{f"o{i}": o for i, o in enumerate(options)}}).all()
        db.commit()
    context.set_checkpoint(name, {"slot": slot, "lsn": upto})
    changes = [c for lsn, data in rows if (c := _change(lsn, json.loads(data))) is not None]
    if as_ == "records":
        return changes
    import pandas as pd

    return pd.DataFrame(changes, columns=COLUMNS)


def _committed(context: RunContext, name: str, slot: str) -> str | None:
    """The position the last successful run of this slot committed; None after a reset."""
    value = context.checkpoint(name)
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("lsn"), str):
        raise BlockError(f"checkpoint {name!r} holds {json.dumps(value)}, not a position "
                         '{"slot": ..., "lsn": ...}',
                         detail=f"hint: cairn checkpoints reset PIPELINE {context.block} "
                         "(the next run then reads from the slot's position)")
    return value["lsn"] if value.get("slot") == slot else None


def _check_wal_level(db: Any) -> None:
    import sqlalchemy as sa

    level = db.execute(sa.text("SHOW wal_level")).scalar_one()
    if level != "logical":
        raise BlockError(f"the PostgreSQL server's wal_level is {level!r}, and change data "
                         "capture needs 'logical'",
                         detail="hint: set `wal_level = logical` in postgresql.conf (or ALTER "
                         "SYSTEM SET wal_level = logical) and restart the server")


def _warn_without_identity(context: RunContext, db: Any, tables: list[str] | None) -> None:
    """wal2json skips, with only a server-side warning, the updates and deletes of tables
    that have no replica identity: say so in the block's log."""
    import sqlalchemy as sa

    found = db.execute(sa.text(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema' "
        "AND n.nspname NOT LIKE 'pg\\_%' "
        "AND (CAST(:tables AS text[]) IS NULL "
        "     OR n.nspname || '.' || c.relname = ANY(CAST(:tables AS text[]))) "
        "AND (c.relreplident = 'n' OR c.relreplident = 'd' AND NOT EXISTS ("
        "     SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)) "
        "ORDER BY 1"), {"tables": tables}).scalars().all()
    if found:
        context.logger.warning(
            "updates and deletes of %s are not captured: no primary key or replica identity "
            "(ALTER TABLE ... REPLICA IDENTITY FULL, or add a primary key)", ", ".join(found))


@contextmanager
def _explained(slot: str) -> Iterator[None]:
    """Turn the server's refusals to use the slot into errors saying what to change."""
    import sqlalchemy as sa

    try:
        yield
    except sa.exc.DBAPIError as error:
        message = str(error.orig).strip().splitlines()[0]
        # The server's own hint first: a refused plugin is an insufficient privilege too.
        server_hint = getattr(getattr(error.orig, "diag", None), "message_hint", None)
        if server_hint:
            hint = f"hint: {server_hint}"
        elif getattr(error.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE:
            hint = ("hint: the connection's user needs the REPLICATION attribute "
                    "(ALTER ROLE name REPLICATION)")
        elif PLUGIN in message:
            hint = (f"hint: the {PLUGIN} output plugin must be installed on the server "
                    "(Debian: postgresql-<version>-wal2json)")
        else:
            hint = ""
        raise BlockError(f"change data capture through the slot {slot!r} failed: {message}",
                         detail=hint) from None


def _change(lsn: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """One wal2json (format 2) record as a row of the result; None for other records
    (messages emitted with pg_logical_emit_message)."""
    action = _ACTIONS.get(data.get("action", ""))
    if action is None:
        return None
    values = {c["name"]: c.get("value") for c in data.get("columns", [])} or None
    key = {c["name"]: c.get("value") for c in data.get("identity", [])} or None
    return {"lsn": lsn, "action": action, "schema": data.get("schema"),
            "table": data.get("table"), "values": values if action != "delete" else None,
            "key": key}
