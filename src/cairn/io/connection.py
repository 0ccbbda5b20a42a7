"""A named connection: what kind of store it is and how to reach it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sqlalchemy import URL

ConnectionKind = Literal["duckdb", "sqlite", "postgres", "mysql", "sqlalchemy", "files",
                         "nats", "redis", "rabbitmq", "mqtt", "kafka"]
SQL_KINDS = ("duckdb", "sqlite", "postgres", "mysql", "sqlalchemy")
BROKER_KINDS = ("nats", "redis", "rabbitmq", "mqtt", "kafka")
# SQLAlchemy drivers Cairn installs for the named kinds.
_DRIVERS = {"postgres": "postgresql+psycopg", "mysql": "mysql+pymysql"}
# sqlglot's names for SQLAlchemy's backend names, where they differ.
_DIALECTS = {"postgresql": "postgres", "mssql": "tsql", "mariadb": "mysql"}


@dataclass(frozen=True)
class Connection:
    """One connection of the active profile, with its values already interpolated.

    `settings` holds the kind's own keys: `path` (duckdb, sqlite); `url` (sqlalchemy, files,
    or instead of the parts for postgres and mysql); `host`, `port`, `user`, `password`,
    `database`, `query` (postgres, mysql); `options` (files: fsspec storage options;
    sqlalchemy: engine keyword arguments; brokers: keyword arguments of the client).
    """

    name: str
    kind: ConnectionKind
    settings: dict[str, Any] = field(default_factory=dict)
    schema: str | None = None
    root: Path = Path(".")  # relative paths in settings are relative to the project

    @property
    def is_sql(self) -> bool:
        return self.kind in SQL_KINDS

    @property
    def is_broker(self) -> bool:
        return self.kind in BROKER_KINDS

    def path(self) -> Path:
        path = Path(str(self.settings["path"]))
        return path if path.is_absolute() else self.root / path

    def sqlalchemy_url(self) -> URL:
        """The SQLAlchemy URL of a SQL connection other than DuckDB."""
        from sqlalchemy import URL, make_url

        if self.kind == "sqlite":
            return URL.create("sqlite", database=str(self.path()))
        if "url" in self.settings:
            return make_url(str(self.settings["url"]))
        return URL.create(
            _DRIVERS[self.kind],
            username=self.settings.get("user"),
            password=self.settings.get("password"),
            host=self.settings.get("host"),
            port=self.settings.get("port"),
            database=self.settings.get("database"),
            query=self.settings.get("query") or {},
        )

    @property
    def dialect(self) -> str:
        """The sqlglot dialect that SQL blocks on this connection are written in."""
        if self.kind in ("duckdb", "sqlite", "postgres", "mysql"):
            return self.kind
        backend = self.sqlalchemy_url().get_backend_name()
        return _DIALECTS.get(backend, backend)
