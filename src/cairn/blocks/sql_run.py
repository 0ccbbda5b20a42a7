"""Execute a SQL block on its connection; its result stays there as a table or view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlglot import exp

from cairn.blocks.spec import BlockSpec
from cairn.blocks.sql_analysis import Statement, analyze_sql
from cairn.blocks.sql_checkpoints import checkpoint_expressions, json_value
from cairn.errors import BlockError, CairnError
from cairn.io.database import POLICIES, Database, Materialize, Policy, SQLResult, SQLWork
from cairn.io.pool import Databases
from cairn.runtime.context import RunContext
from cairn.runtime.values import TableRef, table_kind

# What `{{ var('x') }}` becomes while a block is split, parsed and perhaps translated: a
# plain identifier every dialect reads alike, swapped for the engine's placeholder after.
_SENTINEL = "cairn_param__"


def _frames(inputs: Mapping[str, Any], database: Database, databases: Databases,
            ) -> dict[str, Any]:
    """Inputs that are tables somewhere else, to expose to the block under their names.
    Tables of the same connection are read in place, so they are not among them."""
    frames: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, TableRef):
            if value.connection != database.connection.name:
                frames[name] = databases.get(value.connection).read(value.name)
        elif table_kind(value) is not None:
            frames[name] = value
    return frames


def _executable(statements: list[Statement], written_in: str, target: str, prefix: str,
                ) -> list[Statement]:
    """Statements as the engine takes them: translated if need be, placeholders in place."""
    import sqlglot

    ready = []
    for statement in statements:
        text = statement.text
        if written_in != target:
            text = sqlglot.transpile(text, read=written_in, write=target)[0]
        ready.append(Statement(text.replace(_SENTINEL, prefix), statement.line))
    return ready


def write_key(spec: BlockSpec, policy: str, key: Sequence[str] | None) -> list[str]:
    """The key columns of the block's write (pipeline.yaml's `key`, else the header's
    `key=id` or `key=[id, day]`), checked against its write policy."""
    if policy not in POLICIES:
        raise BlockError(f"unknown write policy {policy!r}", file=str(spec.file),
                         detail=f"hint: write is one of {', '.join(POLICIES)}")
    if not key and spec.header.get("key"):
        key = [k.strip() for k in spec.header["key"].strip("[]() ").split(",") if k.strip()]
    if policy == "upsert" and not key:
        raise BlockError("`write: upsert` needs the `key` columns that identify a row",
                         file=str(spec.file), detail="hint: add `key: [id]` to the block in "
                         "pipeline.yaml, or `-- cairn: write=upsert, key=id` to its header")
    if key and policy != "upsert":
        raise BlockError(f"a `key` is for `write: upsert`, and this block's write is {policy}",
                         file=str(spec.file), detail="hint: set `write: upsert`, or remove "
                         "the key")
    return list(key or [])


def run_sql(spec: BlockSpec, inputs: Mapping[str, Any], variables: Mapping[str, Any],
            databases: Databases, materialize: Materialize, policy: Policy,
            context: RunContext | None = None, checkpoints: Mapping[str, str] | None = None,
            key: Sequence[str] | None = None) -> tuple[dict[str, Any], SQLResult]:
    """Run the block's statements in one transaction on its connection. `context` gives
    `{{ checkpoint() }}` its values and receives the new ones `checkpoints` (pipeline.yaml's
    name -> expression, over the header's) compute from the block's table; a NULL leaves
    a checkpoint as it was, so a run that finds nothing new keeps its place. `key` is an
    upsert's key columns (pipeline.yaml's, over the header's)."""
    assert spec.connection is not None and spec.dialect is not None
    upsert_key = write_key(spec, policy, key)
    database = databases.get(spec.connection)
    target_dialect = database.connection.dialect
    expressions = checkpoint_expressions(checkpoints or {}, spec.header, spec.dialect,
                                         target_dialect, str(spec.file))
    if expressions and context is None:
        raise BlockError("this SQL block sets checkpoints, which only a pipeline run keeps",
                         file=str(spec.file))
    # A view keeps its SQL, so it cannot keep parameters: its variables become literals.
    rendered = analyze_sql(spec.source, str(spec.file), variables, spec.dialect,
                           database.schema, "" if materialize == "view" else _SENTINEL,
                           context.checkpoint if context is not None else None)
    statements = _executable(rendered.statements, spec.dialect, target_dialect,
                             database.param_prefix)
    last = rendered.statements[-1].parsed
    if not isinstance(last, exp.Query | exp.Values):
        raise BlockError(
            "the last statement of a SQL block must be a query (SELECT, WITH, VALUES)",
            file=str(spec.file), line=rendered.statements[-1].line,
            detail="hint: its result becomes the block's table; end the file with a query",
        )
    frames = _frames(inputs, database, databases)
    if materialize == "view" and frames:
        raise BlockError(
            f"a view cannot read tables from outside its database ({', '.join(frames)}): "
            "they exist only while the block runs",
            file=str(spec.file),
            detail="hint: set `materialize: table` for this block in pipeline.yaml",
        )
    work = SQLWork(spec.name, statements, rendered.parameters, frames, materialize, policy,
                   upsert_key, expressions)
    try:
        result = database.run(work)
    except BlockError as error:
        error.file = str(spec.file)
        raise
    except CairnError as error:
        raise BlockError(str(error), file=str(spec.file)) from None
    except Exception as error:  # the driver could not reach or use the database
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise BlockError(f"connection {spec.connection} failed: {type(error).__name__}: "
                         f"{first_line}", file=str(spec.file)) from None
    if context is not None:
        for name, value in result.checkpoints.items():
            if value is not None:
                context.set_checkpoint(name, json_value(value))
    return {spec.name: TableRef(spec.name, database.connection.name)}, result

