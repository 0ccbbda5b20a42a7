"""Change data capture through logical decoding, against a throwaway PostgreSQL cluster
started here with `wal_level=logical` from the installed server binaries."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support import CLI, ProjectFolder, free_port

MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def _as_postgres(*command: str) -> None:
    """The server refuses to run as root: run it as the `postgres` user when we are root."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True)


def _allow_plugin(bin_dir: Path) -> str:
    """Servers with `output_plugin_libraries` (a setting some builds add) load only the
    output plugins it names."""
    found = subprocess.run([str(bin_dir / "postgres"), "--describe-config"],
                           capture_output=True, text=True).stdout
    return " -c output_plugin_libraries=wal2json" if "output_plugin_libraries" in found else ""


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A fresh cluster on a free port; its connection URL. Its wal2json comes from
    scripts/test.sh: without it the tests fail saying so."""
    if not BINARIES:
        pytest.skip("PostgreSQL's server binaries are not installed (/usr/lib/postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="cairn-cdc-"))
    folder.chmod(0o755)  # the server's user must reach it
    data, port = folder / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    bin_dir = BINARIES[-1]
    _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
                 "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 "
                 "-c wal_level=logical -c max_replication_slots=4"
                 + _allow_plugin(bin_dir), "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


CAPTURE = """
import json
import time
from pathlib import Path
from cairn.incremental.pg_cdc import pg_changes
from cairn.io.api import read_sql

# No position yet (the first run, or after a reset): take the tables as they are now, after
# the slot exists, so that no change falls between the snapshot and the captured changes.
_fresh = context.checkpoint("changes") is None
_changes = pg_changes(context, "source", tables=["public.customers"],
                      as_=context.var("as", "pandas"))
_snapshot = (read_sql("SELECT * FROM customers ORDER BY id", "source").to_dict("records")
             if _fresh else None)
_records = _changes if isinstance(_changes, list) else _changes.to_dict("records")
with open({log!r}, "a") as _out:
    _out.write(json.dumps({{"kind": type(_changes).__name__, "snapshot": _snapshot,
                           "changes": [{{k: v for k, v in c.items() if k != "lsn"}}
                                       for c in _records]}}) + "\\n")
if Path({fail!r}).exists():
    raise RuntimeError("failing after reading the changes")
while Path({hang!r}).exists():  # until the test kills the run
    time.sleep(0.05)
"""


def connect(project: ProjectFolder, url: str) -> None:
    """Give the project a connection `source` to the server at `url` (a libpq URL)."""
    (project.root / "io_config.yaml").write_text(textwrap.dedent(f"""
        default:
          source:
            kind: postgres
            url: "{url.replace('postgresql://', 'postgresql+psycopg://')}"
    """))


def sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        for statement in statements:
            db.execute(statement)


def test_changes_between_runs_are_captured_once(cluster: str, project: ProjectFolder,
                                               cli: type[CLI], tmp_path: Path) -> None:
    sql(cluster, "DROP TABLE IF EXISTS customers",
        "CREATE TABLE customers (id int PRIMARY KEY, name text, score int)",
        "INSERT INTO customers VALUES (1, 'ann', 10), (2, 'bob', 20)")
    log, fail, hang = tmp_path / "log", tmp_path / "fail", tmp_path / "hang"
    connect(project, cluster)
    project.pipeline("p", {"capture.py": CAPTURE.format(log=str(log), fail=str(fail),
                                                        hang=str(hang))})

    def run(*options: str) -> dict[str, Any]:
        result = cli.run("run", "p", *options, cwd=project.root)
        assert (result.returncode == 0) != fail.exists(), result.stdout + result.stderr
        logged: dict[str, Any] = json.loads(log.read_text().splitlines()[-1])
        return logged

    first = run()  # creates the slot: capture starts now, the snapshot holds what was there
    assert first == {"kind": "DataFrame", "changes": [],
                     "snapshot": [{"id": 1, "name": "ann", "score": 10},
                                  {"id": 2, "name": "bob", "score": 20}]}
    sql(cluster, "INSERT INTO customers VALUES (3, 'cy', 30)",
        "UPDATE customers SET score = 11 WHERE id = 1",
        "DELETE FROM customers WHERE id = 2")
    expected = [
        {"action": "insert", "schema": "public", "table": "customers",
         "values": {"id": 3, "name": "cy", "score": 30}, "key": None},
        {"action": "update", "schema": "public", "table": "customers",
         "values": {"id": 1, "name": "ann", "score": 11}, "key": {"id": 1}},
        {"action": "delete", "schema": "public", "table": "customers",
         "values": None, "key": {"id": 2}},
    ]
    fail.touch()
    assert run()["changes"] == expected  # read, then the block failed: the position stays
    fail.unlink()
    hang.touch()
    logged = len(log.read_text().splitlines())
    killed = subprocess.Popen([sys.executable, "-m", "cairn", "run", "p"], cwd=project.root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(log.read_text().splitlines()) == logged:
            assert time.monotonic() < deadline, "the block did not read its changes"
            time.sleep(0.05)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    hang.unlink()
    assert json.loads(log.read_text().splitlines()[-1])["changes"] == expected
    assert run()["changes"] == expected  # the same changes again (failed, killed), committed
    assert run()["changes"] == []  # exactly once

    sql(cluster, "INSERT INTO customers VALUES (4, 'dee', 40)")
    as_records = run("--var", "as=records")
    assert as_records["kind"] == "list"
    assert [c["values"] for c in as_records["changes"]] == [{"id": 4, "name": "dee", "score": 40}]
    listed = cli.run("checkpoints", "p", cwd=project.root, check=True).stdout
    assert "cairn_p_capture_changes" in listed and "lsn" in listed

    # A reset cannot reach back past the slot: the block sees no position and takes a
    # snapshot, and the slot replays what the last successful run took.
    cli.run("checkpoints", "reset", "p", "capture", cwd=project.root, check=True)
    after_reset = run()
    assert after_reset["snapshot"] == [{"id": 1, "name": "ann", "score": 11},
                                       {"id": 3, "name": "cy", "score": 30},
                                       {"id": 4, "name": "dee", "score": 40}]
    assert after_reset["changes"] == as_records["changes"]
    assert run() == {"kind": "DataFrame", "snapshot": None, "changes": []}

    sql(cluster, "TRUNCATE customers")
    assert run()["changes"] == [{"action": "truncate", "schema": "public", "table": "customers",
                                 "values": None, "key": None}]

    cli.run("checkpoints", "reset", "p", "capture", "--to", "5", cwd=project.root, check=True)
    wrong = cli.run("run", "p", cwd=project.root)
    assert wrong.returncode == 1
    assert "checkpoint 'changes' holds 5, not a position" in wrong.stdout


def test_tables_without_replica_identity_are_named(cluster: str, project: ProjectFolder,
                                                  cli: type[CLI]) -> None:
    sql(cluster, "DROP TABLE IF EXISTS events, keyed",
        "CREATE TABLE events (id int, note text)", "CREATE TABLE keyed (id int PRIMARY KEY)")
    connect(project, cluster)
    project.pipeline("q", {"events.py": "from cairn.incremental.pg_cdc import pg_changes\n"
                           "changes = pg_changes(context, 'source', "
                           "tables=['public.events', 'public.keyed'])\n"})
    result = cli.run("run", "q", cwd=project.root, check=True)
    assert "updates and deletes of public.events are not captured" in result.stdout
    assert "REPLICA IDENTITY FULL" in result.stdout
    sql(cluster, "ALTER TABLE events REPLICA IDENTITY FULL")
    assert "not captured" not in cli.run("run", "q", cwd=project.root, check=True).stdout


def test_a_user_without_replication_is_a_clear_error(cluster: str, project: ProjectFolder,
                                                     cli: type[CLI]) -> None:
    sql(cluster, "DROP ROLE IF EXISTS plain", "CREATE ROLE plain LOGIN")
    connect(project, cluster.replace("postgres@", "plain@"))
    project.pipeline("p", {"plain.py": "from cairn.incremental.pg_cdc import pg_changes\n"
                           "changes = pg_changes(context, 'source')\n"})
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 1
    assert "slot 'cairn_p_plain_changes'" in result.stdout
    assert "ALTER ROLE name REPLICATION" in result.stdout
    assert "lsn" not in cli.run("checkpoints", "p", cwd=project.root, check=True).stdout
    sql(cluster, "ALTER ROLE plain REPLICATION")  # what the hint says is enough
    cli.run("run", "p", cwd=project.root, check=True)
    assert "cairn_p_plain_changes" in cli.run("checkpoints", "p", cwd=project.root,
                                              check=True).stdout


def test_a_server_without_logical_decoding_is_a_clear_error(
        project: ProjectFolder, cli: type[CLI]) -> None:
    try:
        with psycopg.connect(MACHINE_POSTGRES, connect_timeout=5) as db:
            level = db.execute("SHOW wal_level").fetchone()
    except psycopg.OperationalError as error:
        pytest.skip(f"the machine's PostgreSQL is not reachable: {error}")
    if level is not None and level[0] == "logical":
        pytest.skip("the machine's PostgreSQL already has wal_level = logical")
    connect(project, MACHINE_POSTGRES)
    project.pipeline("p", {"capture.py": "from cairn.incremental.pg_cdc import pg_changes\n"
                           "changes = pg_changes(context, 'source')\n"})
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 1
    assert "wal_level is 'replica'" in result.stdout
    assert "wal_level = logical" in result.stdout
