"""Change data capture through logical decoding, against a throwaway PostgreSQL cluster
started here with `wal_level=logical` from the installed server binaries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from support import CLI, ProjectFolder, free_port

MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
pytestmark = pytest.mark.skipif(
    not BINARIES or not any(BINARIES[-1].parent.glob("lib/wal2json.so")),
    reason="needs PostgreSQL's server binaries and wal2json (scripts/test.sh installs them)")


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
    """A fresh cluster on a free port; its connection URL."""
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
from cairn.incremental.pg_cdc import pg_changes

_changes = pg_changes(context, "source", tables=["public.customers"])
with open({log!r}, "a") as _out:
    _out.write(json.dumps(_changes.drop(columns="lsn").to_dict("records")) + "\\n")
if __import__("pathlib").Path({fail!r}).exists():
    raise RuntimeError("failing after reading the changes")
"""


def sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        for statement in statements:
            db.execute(statement)


def test_changes_between_runs_are_captured_once(cluster: str, project: ProjectFolder,
                                               cli: type[CLI], tmp_path: Path) -> None:
    sql(cluster, "DROP TABLE IF EXISTS customers",
        "CREATE TABLE customers (id int PRIMARY KEY, name text, score int)",
        "INSERT INTO customers VALUES (1, 'ann', 10), (2, 'bob', 20)")
    log, fail = tmp_path / "log", tmp_path / "fail"
    (project.root / "io_config.yaml").write_text(textwrap.dedent(f"""
        default:
          source:
            kind: postgres
            url: "{cluster.replace('postgresql://', 'postgresql+psycopg://')}"
    """))
    project.pipeline("p", {"capture.py": CAPTURE.format(log=str(log), fail=str(fail))})

    def run() -> list[dict[str, object]]:
        result = cli.run("run", "p", cwd=project.root)
        assert (result.returncode == 0) != fail.exists(), result.stdout + result.stderr
        return json.loads(log.read_text().splitlines()[-1])

    assert run() == []  # the first run creates the slot: capture starts now
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
    assert run() == expected  # read, then the block failed: the position stays
    fail.unlink()
    assert run() == expected  # the same changes again, then committed
    assert run() == []  # exactly once

    sql(cluster, "INSERT INTO customers VALUES (4, 'dee', 40)")
    assert [c["values"] for c in run()] == [{"id": 4, "name": "dee", "score": 40}]
    listed = cli.run("checkpoints", "p", cwd=project.root, check=True).stdout
    assert "cairn_p_capture_changes" in listed and "lsn" in listed


def test_a_server_without_logical_decoding_is_a_clear_error(
        project: ProjectFolder, cli: type[CLI]) -> None:
    try:
        with psycopg.connect(MACHINE_POSTGRES, connect_timeout=5) as db:
            level = db.execute("SHOW wal_level").fetchone()
    except psycopg.OperationalError as error:
        pytest.skip(f"the machine's PostgreSQL is not reachable: {error}")
    if level is not None and level[0] == "logical":
        pytest.skip("the machine's PostgreSQL already has wal_level = logical")
    (project.root / "io_config.yaml").write_text(textwrap.dedent(f"""
        default:
          source:
            kind: postgres
            url: "{MACHINE_POSTGRES.replace('postgresql://', 'postgresql+psycopg://')}"
    """))
    project.pipeline("p", {"capture.py": "from cairn.incremental.pg_cdc import pg_changes\n"
                           "changes = pg_changes(context, 'source')\n"})
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 1
    assert "wal_level is 'replica'" in result.stdout
    assert "wal_level = logical" in result.stdout
