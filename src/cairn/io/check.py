"""What `cairn connections` shows: where a connection points, and whether it answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cairn.errors import relative
from cairn.io.connection import Connection
from cairn.io.secrets import MASK, redact

CONNECT_TIMEOUT_S = 5
# The connect-timeout argument of the DBAPI drivers that take one.
_TIMEOUT_ARGUMENT = {"psycopg": "connect_timeout", "psycopg2": "connect_timeout",
                     "pymysql": "connect_timeout", "mysqldb": "connect_timeout"}


def describe(connection: Connection) -> str:
    """Where the connection points (path, URL), with passwords and secrets masked."""
    if connection.kind in ("duckdb", "sqlite"):
        text = relative(connection.path(), connection.root)
    elif connection.kind == "files" or connection.is_broker:
        text = _hide_url_password(str(connection.settings["url"]))
    else:
        text = connection.sqlalchemy_url().render_as_string(hide_password=True)
    if connection.schema:
        text += f" (schema {connection.schema})"
    return redact(text)


def check_connection(connection: Connection) -> str | None:
    """Why the connection cannot be reached, or None when it answers."""
    try:
        if connection.kind == "duckdb":
            _check_duckdb(connection)
        elif connection.kind == "files":
            _check_files(connection)
        elif connection.is_broker:
            _check_broker(str(connection.settings["url"]))
        else:
            _check_sql(connection)
    except Exception as error:  # any failure is the answer to report, whatever raised it
        return _reason(error, connection)
    return None


def _check_duckdb(connection: Connection) -> None:
    from cairn.io.duckdb_share import shared_duckdb

    # Through the project's lock on the file, so a test waits its turn instead of failing
    # on a running block's lock; not for long, though: a busy file is an answer too.
    with shared_duckdb(connection.path()).connection(connection.name, timeout=10) as database:
        database.execute("SELECT 1").fetchall()


def _check_sql(connection: Connection) -> None:
    from sqlalchemy import create_engine, text

    url = connection.sqlalchemy_url()
    options: dict[str, Any] = dict(connection.settings.get("options") or {})
    timeout = _TIMEOUT_ARGUMENT.get(url.get_driver_name())
    connect_args = {timeout: CONNECT_TIMEOUT_S} if timeout else {}
    connect_args.update(options.pop("connect_args", {}))
    engine = create_engine(url, connect_args=connect_args, **options)
    try:
        with engine.connect() as database:
            database.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def _check_files(connection: Connection) -> None:
    import fsspec

    url = _local_url(str(connection.settings["url"]), connection.root)
    filesystem, path = fsspec.core.url_to_fs(url, **(connection.settings.get("options") or {}))
    if not filesystem.exists(path):
        raise FileNotFoundError(f"{path} does not exist")
    if filesystem.isdir(path):
        filesystem.ls(path, detail=False)


def _check_broker(url: str) -> None:
    """A broker answers when every host of its URL accepts a TCP connection; the stream's
    client, when it starts, reports what the broker itself refuses (credentials, topics)."""
    import socket

    ports = {"nats": 4222, "redis": 6379, "amqp": 5672, "mqtt": 1883, "kafka": 9092}
    parts = urlsplit(url)
    for host in parts.netloc.rpartition("@")[2].split(","):
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
        with socket.create_connection(
                (name or "127.0.0.1", int(port or ports.get(parts.scheme, 0))),
                timeout=CONNECT_TIMEOUT_S):
            pass


def _local_url(url: str, root: Path) -> str:
    """Relative local paths mean the same as in blocks, which run in the project folder."""
    if "://" in url or "::" in url or Path(url).is_absolute():
        return url
    return str(root / url)


def _reason(error: Exception, connection: Connection) -> str:
    # SQLAlchemy wraps the driver's error with the SQL and a link; the driver's says why.
    cause = getattr(error, "orig", None) or error
    text = " ".join(str(cause).split()) or type(cause).__name__
    if connection.is_sql and connection.kind != "duckdb":
        url = connection.sqlalchemy_url()
        text = text.replace(url.render_as_string(hide_password=False),
                            url.render_as_string(hide_password=True))
    return redact(text)


def _hide_url_password(url: str) -> str:
    password = urlsplit(url).password
    return url.replace(f":{password}@", f":{MASK}@") if password else url
