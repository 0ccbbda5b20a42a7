"""`cairn connections list|test` and `--profile`, run as a user would, against real servers."""

from __future__ import annotations

import os
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy

if TYPE_CHECKING:
    import subprocess

    # tests/conftest.py's; at run time `conftest` here is tests/io/conftest.py.
    from support import CLI, ProjectFolder

POSTGRES_SERVER = os.environ.get("CAIRN_TEST_POSTGRES",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432")
MYSQL_SERVER = os.environ.get("CAIRN_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306")
SECRET = "s3cret-never-printed"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CAIRN_PROFILE", "DB_PASSWORD", "PGPORT"):
        monkeypatch.delenv(name, raising=False)


def _server(url: str) -> Iterator[sqlalchemy.URL]:
    parsed = sqlalchemy.make_url(url)
    engine = sqlalchemy.create_engine(parsed, connect_args={"connect_timeout": 5})
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.OperationalError as error:
        pytest.skip(f"{parsed.get_backend_name()} is not reachable at {url}: {error.orig}")
    finally:
        engine.dispose()
    yield parsed


@pytest.fixture(scope="module")
def postgres() -> Iterator[sqlalchemy.URL]:
    yield from _server(POSTGRES_SERVER)


@pytest.fixture(scope="module")
def mysql() -> Iterator[sqlalchemy.URL]:
    yield from _server(MYSQL_SERVER)


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def write_config(project: ProjectFolder, text: str) -> None:
    (project.root / "io_config.yaml").write_text(textwrap.dedent(text).lstrip("\n"))


def server_entry(url: sqlalchemy.URL, kind: str, password: str | None = None,
                 port: int | None = None) -> str:
    """An io_config.yaml connection reaching `url`'s server by its parts."""
    lines = [f"kind: {kind}", f"host: {url.host}", f"port: {port or url.port}",
             f"user: {url.username}"]
    if password is not None:
        lines.append(f"password: {password!r}")
    return "{" + ", ".join(lines) + "}"


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def rows(result: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    """The table's cells by connection name."""
    table: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) > 2:
            table[cells[0]] = cells[1:]
    return table


def test_servers_answer(project: ProjectFolder, cli: type[CLI], postgres: sqlalchemy.URL,
                        mysql: sqlalchemy.URL, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPORT", str(postgres.port))
    write_config(project, f"""
        default:
          pg:
            kind: postgres
            host: {postgres.host}
            port: "{{{{ env_var('PGPORT') }}}}"
            user: {postgres.username}
            database: postgres
          maria: {server_entry(mysql, "mysql")}
          lite: {{kind: sqlite, path: lite.db}}
          by_url: {{kind: sqlalchemy, url: "sqlite:///{project.root / 'other.db'}"}}
        """)
    result = cli.run("connections", "test", cwd=project.root)
    assert result.returncode == 0, output(result)
    table = rows(result)
    assert [table[name][:2] for name in ("warehouse", "pg", "maria", "lite", "by_url")] == [
        ["duckdb", "ok"], ["postgres", "ok"], ["mysql", "ok"], ["sqlite", "ok"],
        ["sqlalchemy", "ok"]]


def test_closed_port_fails_with_reason_and_no_password(
        project: ProjectFolder, cli: type[CLI], closed_port: int) -> None:
    write_config(project, f"""
        default:
          pg: {{kind: postgres, url: "postgresql+psycopg://app:{SECRET}@127.0.0.1:{closed_port}/db"}}
          my: {{kind: mysql, host: 127.0.0.1, port: {closed_port}, user: app, password: {SECRET}}}
        """)
    result = cli.run("connections", "test", cwd=project.root)
    assert result.returncode == 1, output(result)
    table = rows(result)
    assert table["warehouse"][1] == "ok"
    assert table["pg"][1] == "failed" and "refused" in table["pg"][2].lower()
    assert table["my"][1] == "failed" and "Can't connect" in table["my"][2]
    assert SECRET not in output(result)


def test_wrong_password_is_never_shown(project: ProjectFolder, cli: type[CLI],
                                       mysql: sqlalchemy.URL,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    write_config(project, f"""
        default:
          maria: {server_entry(mysql, "mysql", "{{ secret('DB_PASSWORD') }}")}
        """)
    result = cli.run("connections", "test", "maria", cwd=project.root)
    assert result.returncode == 1, output(result)
    assert rows(result)["maria"][1] == "failed"
    assert "Access denied" in result.stdout
    assert "warehouse" not in rows(result)  # only the named connection
    assert SECRET not in output(result)


def test_list_masks_passwords_and_secrets(project: ProjectFolder, cli: type[CLI]) -> None:
    (project.root / "secrets.yaml").write_text(f"DB_PASSWORD: {SECRET}\n")
    write_config(project, f"""
        default:
          pg:
            kind: postgres
            host: db.example
            user: app
            password: "{{{{ secret('DB_PASSWORD') }}}}"
            database: analytics
            schema: marts
          inline: {{kind: mysql, url: "mysql+pymysql://app:{SECRET}@db.example/shop"}}
          lake: {{kind: files, url: "ftp://app:{SECRET}@files.example/drop"}}
          notes: {{kind: sqlite, path: data/notes.db}}
        """)
    result = cli.run("connections", "list", cwd=project.root)
    assert result.returncode == 0, output(result)
    assert SECRET not in output(result)
    assert rows(result) == {
        "warehouse": ["duckdb", ".cairn/warehouse.duckdb"],
        "pg": ["postgres", "postgresql+psycopg://app:***@db.example/analytics (schema marts)"],
        "inline": ["mysql", "mysql+pymysql://app:***@db.example/shop"],
        "lake": ["files", "ftp://app:***@files.example/drop"],
        "notes": ["sqlite", "data/notes.db"],
    }


def test_a_secret_is_not_shown_in_config_errors(project: ProjectFolder, cli: type[CLI],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    write_config(project, """
        default:
          pg: {kind: "{{ secret('DB_PASSWORD') }}"}
        """)
    result = cli.run("connections", "list", cwd=project.root)
    assert result.returncode == 2
    assert "io_config.yaml:2" in result.stderr and "unknown kind '***'" in result.stderr
    assert SECRET not in output(result)


def test_duckdb_files(project: ProjectFolder, cli: type[CLI]) -> None:
    import duckdb

    with duckdb.connect(str(project.root / "existing.duckdb")) as database:
        database.execute("CREATE TABLE t AS SELECT 1 AS x")
    write_config(project, """
        default:
          existing: {kind: duckdb, path: existing.duckdb}
          broken: {kind: duckdb, path: not_duckdb.txt}
        """)
    (project.root / "not_duckdb.txt").write_text("plain text\n")
    before = (project.root / "existing.duckdb").stat().st_mtime_ns
    result = cli.run("connections", "test", cwd=project.root)
    assert result.returncode == 1, output(result)
    table = rows(result)
    assert table["existing"][1] == "ok" and table["warehouse"][1] == "ok"
    assert table["broken"][1] == "failed" and table["broken"][2]
    # An existing file is opened read-only; the warehouse, missing, is created as a run would.
    assert (project.root / "existing.duckdb").stat().st_mtime_ns == before
    assert (project.root / ".cairn" / "warehouse.duckdb").is_file()


def test_local_files(project: ProjectFolder, cli: type[CLI]) -> None:
    (project.root / "landing").mkdir()
    (project.root / "landing" / "a.csv").write_text("x\n1\n")
    write_config(project, f"""
        default:
          relative: {{kind: files, url: landing}}
          absolute: {{kind: files, url: "file://{project.root / 'landing'}"}}
          missing: {{kind: files, url: nowhere}}
        """)
    result = cli.run("connections", "test", cwd=project.root / "landing")
    assert result.returncode == 1, output(result)
    table = rows(result)
    assert table["relative"][1] == "ok" and table["absolute"][1] == "ok"
    assert table["missing"][1] == "failed" and "does not exist" in table["missing"][2]


PROFILES = """
    default:
      only_default: {kind: sqlite, path: d.db}
    prod:
      only_prod: {kind: sqlite, path: p.db}
    """


@pytest.mark.parametrize(("options", "environment", "expected"), [
    pytest.param([], None, "only_default", id="default"),
    pytest.param([], "prod", "only_prod", id="CAIRN_PROFILE"),
    pytest.param(["--profile", "prod"], None, "only_prod", id="--profile"),
    pytest.param(["--profile", "default"], "prod", "only_default", id="--profile-wins"),
])
def test_profile_selection(project: ProjectFolder, cli: type[CLI],
                           monkeypatch: pytest.MonkeyPatch, options: list[str],
                           environment: str | None, expected: str) -> None:
    if environment:
        monkeypatch.setenv("CAIRN_PROFILE", environment)
    write_config(project, PROFILES)
    result = cli.run(*options, "connections", "list", cwd=project.root)
    assert result.returncode == 0, output(result)
    assert list(rows(result)) == ["warehouse", expected]


def test_unknown_profile_and_connection(project: ProjectFolder, cli: type[CLI]) -> None:
    write_config(project, PROFILES)
    result = cli.run("--profile", "staging", "connections", "list", cwd=project.root)
    assert result.returncode == 2
    assert "no profile 'staging'" in result.stderr and "default, prod" in result.stderr
    result = cli.run("connections", "test", "only_defualt", cwd=project.root)
    assert result.returncode == 2
    assert "did you mean 'only_default'" in result.stderr
    assert "Traceback" not in output(result)


def test_init_keeps_secrets_out_of_git(tmp_path: Path, cli: type[CLI]) -> None:
    cli.run("init", "shop", cwd=tmp_path, check=True)
    assert "secrets.yaml" in (tmp_path / "shop" / ".gitignore").read_text().split()


def test_brokers_answer_or_say_why(project: ProjectFolder, cli: type[CLI],
                                   closed_port: int) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 6379)) != 0:
            pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    write_config(project, f"""
        default:
          events: {{kind: redis, url: "redis://:{SECRET}@127.0.0.1:6379/0"}}
          gone: {{kind: nats, url: "nats://127.0.0.1:{closed_port}"}}
        """)
    listed = cli.run("connections", "list", cwd=project.root)
    assert "redis://:***@127.0.0.1:6379/0" in output(listed), output(listed)
    result = cli.run("connections", "test", cwd=project.root)
    assert result.returncode == 1, output(result)
    table = rows(result)
    assert table["events"][1] == "ok"
    assert table["gone"][1] == "failed" and "refused" in table["gone"][2].lower()
    assert SECRET not in output(listed) + output(result)
