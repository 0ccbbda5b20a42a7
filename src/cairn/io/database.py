"""Run a SQL block where its data lives. One interface, two engines: DuckDB natively
(`duckdb_database.py`) and every other database through SQLAlchemy (`alchemy_database.py`).

A block runs in one transaction: its statements in order, then its last query becomes a
table or view named after the block, under the block's write policy. `replace` builds the
new table before the old one goes, so readers see the old table or the new one, never none.
`upsert` replaces the rows whose key the result has and adds the others (`upsert.py`).
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cairn.errors import BlockError
from cairn.io.connection import Connection

if TYPE_CHECKING:  # sqlglot loads only when a SQL block runs
    from cairn.blocks.sql_analysis import Statement

Materialize = Literal["table", "view"]
Policy = Literal["replace", "append", "fail", "upsert"]
POLICIES = ("replace", "append", "fail", "upsert")


@dataclass
class StatementProfile:
    """How one statement of a block went: for the block's run record."""

    statement: int
    line: int
    seconds: float
    rows: int | None


@dataclass
class SQLWork:
    """What a SQL block asks of its database."""

    target: str
    statements: list[Statement]
    parameters: dict[str, Any] = field(default_factory=dict)
    # Tables from elsewhere (Python outputs, other connections), exposed under these names.
    frames: Mapping[str, Any] = field(default_factory=dict)
    materialize: Materialize = "table"
    policy: Policy = "replace"
    key: list[str] = field(default_factory=list)  # the columns an upsert matches rows by
    # Checkpoint name -> an expression over the block's table (its new value), evaluated
    # in the block's transaction, after its statements.
    checkpoints: Mapping[str, str] = field(default_factory=dict)


@dataclass
class SQLResult:
    rows: int
    profile: list[StatementProfile]
    checkpoints: dict[str, Any] = field(default_factory=dict)
    written: int | None = None  # an upsert's rows, one per key (`rows` counts the table)


def used_parameters(statement: str, parameters: Mapping[str, Any], prefix: str,
                    ) -> dict[str, Any]:
    """The parameters a statement's text refers to; drivers reject unused ones."""
    return {
        name: value for name, value in parameters.items()
        if re.search(re.escape(prefix + name) + r"\b", statement)
    }


class Database(ABC):
    """A SQL connection that can run blocks, read tables and write frames."""

    # How `{{ var('x') }}` is written for this engine's bound parameters.
    param_prefix = ":"

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @property
    def schema(self) -> str | None:
        return self.connection.schema

    # -- what engines provide ------------------------------------------------------------
    @abstractmethod
    def run(self, work: SQLWork) -> SQLResult: ...

    @abstractmethod
    def read(self, table: str, limit: int | None = None) -> Any:
        """A table of this database as a pyarrow Table (at most `limit` rows)."""

    @abstractmethod
    def count(self, table: str) -> int:
        """The number of rows of a table of this database."""

    @abstractmethod
    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        """The rows of a query as a pyarrow Table."""

    @abstractmethod
    def write(self, table: str, frame: Any, policy: Policy = "replace",
              key: Sequence[str] = ()) -> int:
        """Store a DataFrame-like value as a table; return the rows written (an upsert:
        the rows it wrote, one per key)."""

    @abstractmethod
    def check(self) -> None:
        """Raise if the database does not answer."""

    def close(self) -> None:  # noqa: B027 - engines without resources keep this
        pass

    # -- shared by the engines -----------------------------------------------------------
    def _run_statements(self, work: SQLWork, execute: Callable[[str, dict[str, Any]], int | None],
                        ) -> tuple[list[StatementProfile], Statement]:
        """Run all statements but the last; return their profile and the last one."""
        profile = []
        for index, statement in enumerate(work.statements[:-1], start=1):
            started = time.perf_counter()
            try:
                rows = execute(statement.text, used_parameters(
                    statement.text, work.parameters, self.param_prefix))
            except BlockError:
                raise
            except Exception as error:
                raise statement_error(index, statement, error) from None
            profile.append(StatementProfile(index, statement.line,
                                            time.perf_counter() - started, rows))
        return profile, work.statements[-1]


def checkpoint_values(work: SQLWork, target: str, scalar: Callable[[str], Any],
                      ) -> dict[str, Any]:
    """Each checkpoint expression of a block, `SELECT <expression> FROM <target>`."""
    values = {}
    for name, expression in work.checkpoints.items():
        try:
            values[name] = scalar(f"SELECT {expression} FROM {target}")
        except Exception as error:
            message = str(getattr(error, "orig", None) or error).strip()
            raise BlockError(
                f"checkpoint {name!r}: cannot compute `{expression}` over the block's "
                f"table: {message.splitlines()[0] if message else type(error).__name__}",
                detail="hint: a checkpoint's expression is one SQL value over the block's "
                "result, such as max(updated_at)",
            ) from None
    return values


def statement_error(index: int, statement: Statement, error: Exception) -> BlockError:
    """The database's message, with the statement's number, line and text."""
    message = str(getattr(error, "orig", None) or error).strip()
    match = re.search(r"LINE (\d+):", message)  # DuckDB and PostgreSQL count from the statement
    line = statement.line + int(match.group(1)) - 1 if match else statement.line
    return BlockError(
        f"SQL error in statement {index}: {message.splitlines()[0] if message else error}",
        line=line,
        detail="\n".join([*message.splitlines()[1:],
                          "statement: " + " ".join(statement.text.split())[:300]]).strip(),
    )


def policy_refusal(target: str) -> BlockError:
    return BlockError(
        f"{target} already exists and the block's write policy is `fail`",
        detail="hint: drop it, or set `write: replace`, `append` or `upsert` for this block",
    )


def upsert_refusal(target: str) -> BlockError:
    return BlockError(f"{target}: an upsert writes rows into a table, not a view",
                      detail="hint: set `materialize: table`, or drop the view")


def open_database(connection: Connection) -> Database:
    """The engine for a SQL connection."""
    if connection.kind == "duckdb":
        from cairn.io.duckdb_database import DuckDBDatabase

        return DuckDBDatabase(connection)
    from cairn.io.alchemy_database import AlchemyDatabase

    return AlchemyDatabase(connection)
