"""The connections of one profile of `io_config.yaml`: rendered, validated, secrets registered."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from cairn.errors import CairnError, Problem, closest
from cairn.io.connection import Connection, ConnectionKind
from cairn.io.secrets import redact, register_secret
from cairn.project.yaml_file import Location, read_yaml

if TYPE_CHECKING:
    from cairn.project.config import Project

IO_CONFIG_FILE = "io_config.yaml"
SECRETS_FILE = "secrets.yaml"
WAREHOUSE = "warehouse"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ConnectionKind


class _SQLSettings(_Settings):
    # `schema` would shadow a BaseModel attribute.
    db_schema: str | None = Field(default=None, alias="schema")


class DuckDBSettings(_SQLSettings):
    kind: Literal["duckdb"]
    path: str
    # Seconds a block waits for the project's other processes to be done with the file
    # (`duckdb_share.LOCK_TIMEOUT_S` when not set).
    lock_timeout: float | None = Field(default=None, gt=0)


class SQLiteSettings(_Settings):
    kind: Literal["sqlite"]
    path: str


def _parse_sqlalchemy_url(url: str) -> str:
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except ArgumentError:
        raise ValueError("not a SQLAlchemy URL (dialect+driver://user:password@host/db)"
                         ) from None
    return url


SQLAlchemyURL = Annotated[str, AfterValidator(_parse_sqlalchemy_url)]


class ServerSettings(_SQLSettings):
    kind: Literal["postgres", "mysql"]
    url: SQLAlchemyURL | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str | None = None
    password: str | None = None
    database: str | None = None
    query: dict[str, str] | None = None

    @model_validator(mode="after")
    def _url_or_parts(self) -> ServerSettings:
        parts = (self.host, self.port, self.user, self.password, self.database, self.query)
        if self.url is not None and any(part is not None for part in parts):
            raise ValueError("give either url or host/port/user/password/database/query")
        return self


class SQLAlchemySettings(_SQLSettings):
    kind: Literal["sqlalchemy"]
    url: SQLAlchemyURL
    options: dict[str, Any] | None = None  # keyword arguments of create_engine


class FilesSettings(_Settings):
    kind: Literal["files"]
    url: str
    options: dict[str, Any] | None = None  # fsspec storage options


class BrokerSettings(_Settings):
    """A message broker that streaming pipelines read from and write to."""

    kind: Literal["nats", "redis", "rabbitmq", "mqtt", "kafka"]
    # nats://host:4222, redis://host:6379/0, amqp://user:pass@host:5672/vhost,
    # mqtt://host:1883, kafka://host:9092 (several Kafka brokers: comma-separated hosts)
    url: str
    options: dict[str, Any] | None = None  # keyword arguments of the client


_MODELS: dict[str, type[_Settings]] = {
    "duckdb": DuckDBSettings,
    "sqlite": SQLiteSettings,
    "postgres": ServerSettings,
    "mysql": ServerSettings,
    "sqlalchemy": SQLAlchemySettings,
    "files": FilesSettings,
    **dict.fromkeys(("nats", "redis", "rabbitmq", "mqtt", "kafka"), BrokerSettings),
}


def load_connections(project: Project) -> dict[str, Connection]:
    """The active profile's connections, the embedded warehouse first.

    `warehouse` is the project's DuckDB file unless the profile defines it itself.
    """
    builtin = Connection(WAREHOUSE, "duckdb", {"path": str(project.warehouse_path)},
                         root=project.root)
    path = project.root / IO_CONFIG_FILE
    configured = _read_profile(project, path) if path.is_file() else {}
    return {WAREHOUSE: builtin, **configured}


def get_connection(project: Project, name: str) -> Connection:
    connections = load_connections(project)
    if name not in connections:
        raise CairnError(
            Problem(
                "unknown-connection",
                f"no connection named {name!r} in profile {project.profile!r}",
                hint=closest(name, connections),
            )
        )
    return connections[name]


def _read_profile(project: Project, path: Path) -> dict[str, Connection]:
    data, lines = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CairnError(Problem("invalid-config", "io_config.yaml must map profile names to "
                                 "connections", file=str(path), line=1))
    profile = project.profile
    if profile not in data:
        raise CairnError(
            Problem(
                "unknown-profile",
                f"no profile {profile!r} in io_config.yaml",
                file=str(path),
                hint="profiles: " + ", ".join(map(str, data))
                + "; choose one with `cairn --profile NAME` or CAIRN_PROFILE=NAME",
            )
        )
    entries = data[profile] or {}
    reader = ProfileReader(project.root, path, lines, profile)
    if not isinstance(entries, dict):
        raise reader.error((), "must map connection names to their settings")
    connections: dict[str, Connection] = {}
    problems: list[Problem] = []
    for name, entry in entries.items():
        try:
            connections[str(name)] = reader.connection(str(name), entry)
        except CairnError as error:
            problems.extend(error.problems)
    if problems:
        raise CairnError(problems)
    return connections


class _Unset(Exception):
    """An `env_var` or `secret` a value asks for has no value."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class ProfileReader:
    """Turns one profile's entries into connections; problems point at io_config.yaml."""

    def __init__(self, root: Path, path: Path, lines: dict[Location, int], profile: str
                 ) -> None:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import SandboxedEnvironment

        self.root = root
        self.file = str(path)
        self.lines = lines
        self.profile = profile
        self._secrets: dict[str, str] | None = None
        self._environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        self._environment.globals.update(env_var=_env_var, secret=self._secret)

    def connection(self, name: str, entry: Any) -> Connection:
        if not isinstance(entry, dict):
            raise self.error((name,), "must be a mapping of settings with a `kind`")
        values = self._render(entry, (name,))
        kind = values.get("kind")
        if kind is None:
            raise self.error((name,), "`kind` is missing", hint="kinds: " + ", ".join(_MODELS))
        if not isinstance(kind, str) or kind not in _MODELS:
            raise self.error((name, "kind"), f"unknown kind {kind!r}",
                             hint=closest(str(kind), _MODELS))
        try:
            settings = _MODELS[kind].model_validate(values)
        except ValidationError as error:
            raise CairnError([self.problem((name, *item["loc"]), item["msg"])
                              for item in error.errors()]) from None
        _register_passwords(settings)
        return Connection(
            name,
            settings.kind,
            settings.model_dump(exclude={"kind", "db_schema"}, exclude_none=True),
            getattr(settings, "db_schema", None),
            self.root,
        )

    def _render(self, value: Any, location: Location) -> Any:
        if isinstance(value, dict):
            return {key: self._render(item, (*location, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self._render(item, (*location, i)) for i, item in enumerate(value)]
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            return self._render_text(value, location)
        return value

    def _render_text(self, text: str, location: Location) -> str:
        import jinja2

        try:
            return self._environment.from_string(text).render()
        except _Unset as unset:
            raise self.error(location, str(unset), hint=unset.hint) from None
        except jinja2.TemplateError as error:
            raise self.error(location, f"Jinja error: {error.message}",
                             hint="values can use {{ env_var('NAME', 'default') }} and "
                             "{{ secret('NAME') }}") from None

    def _secret(self, name: str) -> str:
        if name in os.environ:
            value = os.environ[name]
        else:
            if self._secrets is None:
                self._secrets = _read_secrets(self.root / SECRETS_FILE)
            if name not in self._secrets:
                raise _Unset(f"secret {name!r} is not set",
                             f"set the environment variable {name}, or add `{name}: ...` to "
                             f"{SECRETS_FILE} in the project folder (keep that file out of git)")
            value = self._secrets[name]
        register_secret(value)
        return value

    def problem(self, location: Location, message: str, hint: str | None = None) -> Problem:
        """A problem at `location` (connection name, then keys) in this profile."""
        where = f"profile {self.profile!r}"
        if location:
            where += f", connection {location[0]!r}"
        if location[1:]:
            where += ", " + ".".join(str(key) for key in location[1:])
        return Problem("invalid-config", redact(f"{where}: {message}"), file=self.file,
                       line=_line(self.lines, (self.profile, *location)), hint=hint)

    def error(self, location: Location, message: str, hint: str | None = None) -> CairnError:
        return CairnError(self.problem(location, message, hint))


def _env_var(name: str, default: Any = None) -> str:
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is not None:
        return str(default)
    raise _Unset(f"environment variable {name!r} is not set",
                 f"set it (export {name}=...) or give a default: env_var('{name}', 'value')")


def _read_secrets(path: Path) -> dict[str, str]:
    """`secrets.yaml`: a flat mapping of secret names to values."""
    if not path.is_file():
        return {}
    data, lines = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CairnError(Problem("invalid-secrets", "secrets.yaml must map names to values",
                                 file=str(path), line=1))
    problems = [
        Problem("invalid-secrets", f"{key}: a secret must be a single value", file=str(path),
                line=lines.get((key,)))
        for key, value in data.items() if value is None or isinstance(value, dict | list)
    ]
    if problems:
        raise CairnError(problems)
    return {str(key): str(value) for key, value in data.items()}


def _register_passwords(settings: _Settings) -> None:
    """Passwords written in io_config.yaml itself are as secret as those from `secret()`."""
    password = getattr(settings, "password", None)
    if password:
        register_secret(password)
    url = getattr(settings, "url", None)
    if url and isinstance(settings, FilesSettings | BrokerSettings):
        raw = urlsplit(url).password or ""
        register_secret(raw)
        register_secret(unquote(raw))
    elif url:
        from sqlalchemy import make_url

        register_secret(str(make_url(url).password or ""))


def _line(lines: dict[Location, int], location: Location) -> int | None:
    """The line of `location`, else of the nearest enclosing key the file has."""
    for end in range(len(location), 0, -1):
        if location[:end] in lines:
            return lines[location[:end]]
    return None
