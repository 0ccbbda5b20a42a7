"""io_config.yaml: profiles, env_var and secret, validation errors, redaction."""

from __future__ import annotations

import textwrap
import threading
from typing import TYPE_CHECKING

import pytest

from cairn.errors import CairnError
from cairn.io.config import get_connection, load_connections
from cairn.io.connection import Connection
from cairn.io.secrets import redact, register_secret
from cairn.project.config import find_project

if TYPE_CHECKING:
    # tests/conftest.py's; at run time `conftest` here is tests/io/conftest.py.
    from support import ProjectFolder

CONFIG = """
default:
  pg:
    kind: postgres
    host: db.internal
    port: "{{ env_var('TEST_PGPORT', 5432) }}"
    user: "{{ env_var('TEST_PGUSER', 'postgres') }}"
    password: "{{ secret('TEST_PG_PASSWORD') }}"
    database: analytics
    schema: marts
  local:
    kind: sqlite
    path: data/local.db
  lake:
    kind: files
    url: s3://bucket/prefix
    options: {anon: true, client_kwargs: {region_name: "{{ env_var('TEST_REGION', 'eu') }}"}}
prod:
  warehouse:
    kind: duckdb
    path: /srv/warehouse.duckdb
    schema: analytics
  pg:
    kind: postgres
    url: "postgresql+psycopg://app:{{ secret('TEST_PG_PASSWORD') }}@prod-db/analytics"
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CAIRN_PROFILE", "TEST_PGPORT", "TEST_PGUSER", "TEST_PG_PASSWORD",
                 "TEST_REGION"):
        monkeypatch.delenv(name, raising=False)


def write(project: ProjectFolder, config: str, secrets: str | None = None) -> None:
    (project.root / "io_config.yaml").write_text(textwrap.dedent(config).lstrip("\n"))
    if secrets is not None:
        (project.root / "secrets.yaml").write_text(textwrap.dedent(secrets).lstrip("\n"))


def load(project: ProjectFolder, profile: str | None = None) -> dict[str, Connection]:
    return load_connections(find_project(project.root, profile=profile))


def problems(project: ProjectFolder, profile: str | None = None) -> str:
    with pytest.raises(CairnError) as caught:
        load(project, profile)
    return "\n".join(p.describe() for p in caught.value.problems)


def test_no_io_config_means_only_the_warehouse(project: ProjectFolder) -> None:
    connections = load(project, "anything")
    assert list(connections) == ["warehouse"]
    warehouse = connections["warehouse"]
    assert warehouse.kind == "duckdb"
    assert warehouse.path() == project.load().warehouse_path


def test_default_profile(project: ProjectFolder, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, CONFIG)
    monkeypatch.setenv("TEST_PG_PASSWORD", "pw-from-env-1")
    connections = load(project)
    assert list(connections) == ["warehouse", "pg", "local", "lake"]
    pg = connections["pg"]
    assert pg.settings == {"host": "db.internal", "port": 5432, "user": "postgres",
                           "password": "pw-from-env-1", "database": "analytics"}
    assert pg.schema == "marts"
    assert pg.sqlalchemy_url().render_as_string(hide_password=False) == (
        "postgresql+psycopg://postgres:pw-from-env-1@db.internal:5432/analytics")
    assert connections["local"].path() == project.root / "data" / "local.db"
    assert connections["local"].schema is None
    assert connections["lake"].settings == {
        "url": "s3://bucket/prefix", "options": {"anon": True, "client_kwargs": {
            "region_name": "eu"}}}


def test_env_var_overrides_default(project: ProjectFolder,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, CONFIG)
    monkeypatch.setenv("TEST_PG_PASSWORD", "pw-from-env-2")
    monkeypatch.setenv("TEST_PGPORT", "6543")
    monkeypatch.setenv("TEST_PGUSER", "analyst")
    pg = load(project)["pg"]
    assert (pg.settings["port"], pg.settings["user"]) == (6543, "analyst")


def test_profile_may_replace_the_warehouse(project: ProjectFolder,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, CONFIG)
    monkeypatch.setenv("TEST_PG_PASSWORD", "pw-from-env-3")
    connections = load(project, "prod")
    assert list(connections) == ["warehouse", "pg"]
    assert connections["warehouse"].settings == {"path": "/srv/warehouse.duckdb"}
    assert connections["warehouse"].schema == "analytics"
    assert connections["pg"].settings == {
        "url": "postgresql+psycopg://app:pw-from-env-3@prod-db/analytics"}


def test_cairn_profile_selects_and_explicit_profile_wins(
        project: ProjectFolder, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, CONFIG)
    monkeypatch.setenv("TEST_PG_PASSWORD", "pw-from-env-4")
    monkeypatch.setenv("CAIRN_PROFILE", "prod")
    assert "local" not in load(project)
    assert "local" in load(project, "default")


def test_secret_from_secrets_yaml(project: ProjectFolder) -> None:
    write(project, CONFIG, "TEST_PG_PASSWORD: from-file-secret-5\nOTHER: 12\n")
    assert load(project)["pg"].settings["password"] == "from-file-secret-5"


def test_environment_wins_over_secrets_yaml(project: ProjectFolder,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, CONFIG, "TEST_PG_PASSWORD: from-file-secret-6\n")
    monkeypatch.setenv("TEST_PG_PASSWORD", "from-env-secret-6")
    assert load(project)["pg"].settings["password"] == "from-env-secret-6"


def test_secrets_are_registered_for_redaction(project: ProjectFolder) -> None:
    write(project, CONFIG, "TEST_PG_PASSWORD: registered-secret-7\n")
    load(project)
    assert redact("login with registered-secret-7 now") == "login with *** now"


def test_literal_passwords_are_redacted_too(project: ProjectFolder) -> None:
    write(project, """
        default:
          a: {kind: postgres, password: literal-password-8}
          b: {kind: sqlalchemy, url: "mssql+pyodbc://u:url%40password-8@host/db"}
          c: {kind: files, url: "ftp://u:files-password-8@host/dir"}
        """)
    load(project)
    assert redact("literal-password-8 url@password-8 files-password-8") == "*** *** ***"


def test_unknown_profile_lists_the_profiles(project: ProjectFolder) -> None:
    write(project, CONFIG)
    text = problems(project, "staging")
    assert "no profile 'staging'" in text
    assert "profiles: default, prod" in text and "--profile" in text


ERRORS = [
    pytest.param("default:\n  pg:\n    kind: postgres\n    user: \"{{ env_var('TEST_NOPE') }}\"\n",
                 ["io_config.yaml:4", "profile 'default', connection 'pg', user",
                  "environment variable 'TEST_NOPE' is not set", "export TEST_NOPE=",
                  "env_var('TEST_NOPE', 'value')"], id="unset-env-var"),
    pytest.param("default:\n  pg:\n    kind: postgres\n"
                 "    password: \"{{ secret('TEST_NOPE') }}\"\n",
                 ["io_config.yaml:4", "connection 'pg', password",
                  "secret 'TEST_NOPE' is not set", "environment variable TEST_NOPE",
                  "secrets.yaml"], id="unknown-secret"),
    pytest.param("default:\n  x:\n    kind: postgress\n",
                 ["io_config.yaml:3", "unknown kind 'postgress'", "did you mean 'postgres'"],
                 id="unknown-kind"),
    pytest.param("default:\n  x:\n    path: a.db\n",
                 ["io_config.yaml:2", "connection 'x'", "`kind` is missing", "duckdb"],
                 id="missing-kind"),
    pytest.param("default:\n  x:\n    kind: duckdb\n    path: a.db\n    colour: red\n",
                 ["io_config.yaml:5", "connection 'x', colour: Extra inputs are not permitted"],
                 id="extra-key"),
    pytest.param("default:\n  x:\n    kind: sqlite\n    path: a.db\n    schema: s\n",
                 ["io_config.yaml:5", "schema: Extra inputs"], id="sqlite-has-no-schema"),
    pytest.param("default:\n  x:\n    kind: files\n",
                 ["io_config.yaml:2", "connection 'x', url: Field required"], id="missing-url"),
    pytest.param("default:\n  x:\n    kind: mysql\n"
                 "    port: \"{{ env_var('TEST_NOPE', 'abc') }}\"\n",
                 ["io_config.yaml:4", "port: Input should be a valid integer"], id="bad-port"),
    pytest.param("default:\n  x:\n    kind: mysql\n    url: mysql://h/d\n    host: h\n",
                 ["io_config.yaml:2", "give either url or host"], id="url-and-parts"),
    pytest.param("default:\n  x:\n    kind: sqlalchemy\n    url: not a url\n",
                 ["io_config.yaml:4", "url: Value error, not a SQLAlchemy URL"], id="bad-url"),
    pytest.param("default:\n  x:\n    kind: files\n    url: \"{{ oops\"\n",
                 ["io_config.yaml:4", "Jinja error"], id="template-syntax"),
    pytest.param("default:\n  x:\n    kind: files\n    url: \"{{ ''.__class__.__mro__ }}\"\n",
                 ["io_config.yaml:4", "Jinja error"], id="sandboxed"),
    pytest.param("default:\n  x: just text\n",
                 ["io_config.yaml:2", "connection 'x': must be a mapping"], id="not-a-mapping"),
    pytest.param("default:\n  - x\n",
                 ["io_config.yaml:1", "profile 'default': must map connection names"],
                 id="profile-not-a-mapping"),
]


@pytest.mark.parametrize(("config", "expected"), ERRORS)
def test_errors_point_at_the_file_and_line(project: ProjectFolder, config: str,
                                           expected: list[str]) -> None:
    write(project, config)
    text = problems(project)
    for part in expected:
        assert part in text


def test_every_bad_connection_is_reported(project: ProjectFolder) -> None:
    write(project, "default:\n  a: {kind: nope}\n  b: {kind: files}\n")
    with pytest.raises(CairnError) as caught:
        load(project)
    assert [p.line for p in caught.value.problems] == [2, 3]


def test_a_secret_never_appears_in_an_error(project: ProjectFolder) -> None:
    write(project, "default:\n  x:\n    kind: \"{{ secret('KIND_SECRET') }}\"\n",
          "KIND_SECRET: leaked-kind-secret-9\n")
    text = problems(project)
    assert "unknown kind '***'" in text and "leaked-kind-secret-9" not in text


def test_malformed_secrets_yaml(project: ProjectFolder) -> None:
    write(project, CONFIG, "OTHER: fine\nTEST_PG_PASSWORD:\n  nested: value\n")
    text = problems(project)
    assert "secrets.yaml:2" in text and "a secret must be a single value" in text


def test_get_connection_suggests_close_names(project: ProjectFolder,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, CONFIG)
    monkeypatch.setenv("TEST_PG_PASSWORD", "pw-from-env-10")
    found = find_project(project.root)
    assert get_connection(found, "lake").kind == "files"
    with pytest.raises(CairnError) as caught:
        get_connection(found, "lak")
    problem = caught.value.problems[0]
    assert problem.kind == "unknown-connection"
    assert "'lak'" in problem.message and "did you mean 'lake'" in str(problem.hint)


def test_redact_masks_longest_first_and_url_encoded() -> None:
    register_secret("abc-redact-11")
    register_secret("abc-redact-11-and-more")
    register_secret("p@ss/redact 11")
    register_secret("")
    assert redact("abc-redact-11-and-more abc-redact-11") == "*** ***"
    assert redact("mysql://u:p%40ss%2Fredact%2011@h") == "mysql://u:***@h"
    assert redact("nothing here") == "nothing here"


def test_register_is_thread_safe() -> None:
    values = [f"thread-secret-{i:03d}" for i in range(200)]
    threads = [threading.Thread(target=register_secret, args=(value,)) for value in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redact(" ".join(values)) == " ".join(["***"] * len(values))
