"""Many processes of one project share the embedded DuckDB warehouse: none fails on its lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from support import ProjectFolder, RecordingObserver

from cairn import service
from cairn.errors import CairnError
from cairn.ids import BlockName
from cairn.io.connection import Connection
from cairn.io.duckdb_database import DuckDBDatabase
from cairn.io.duckdb_share import warehouse_user

PIPELINES = 8
RUNS = 20

# One process per pipeline, each running its pipeline RUNS times in a row, as a scheduler
# or a backfill would, every SQL block contending for the one warehouse file.
DRIVER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from cairn import service
    from cairn.project.config import find_project

    class Quiet:
        def block_started(self, *a): pass
        def block_output(self, *a): pass
        def block_finished(self, *a): pass

    project = find_project(Path(sys.argv[1]))
    statuses = []
    for run in range(int(sys.argv[3])):
        result = service.run_pipeline(project, sys.argv[2], Quiet(), {"run": run})
        statuses.append([result.status, {b: s for b, s in result.blocks.items()}])
    print(json.dumps(statuses))
""")


def _pipeline(project: ProjectFolder, i: int) -> None:
    project.pipeline(f"p{i}", {
        f"rows_{i}.py": f"""
            import pandas as pd
            rows_{i} = pd.DataFrame({{"k": range(100), "run": run, "p": {i}}})
        """,
        # Replaced on every run: readers must see 100 rows of one run, never a mix.
        f"table_{i}.sql": f"SELECT k, run, p FROM rows_{i}\n",
        f"check_{i}.py": f"""
            assert len(table_{i}) == 100, len(table_{i})
            assert table_{i}["run"].nunique() == 1 and (table_{i}["p"] == {i}).all()
            check_{i} = int(table_{i}["run"].iloc[0])
        """,
        # Appended by every run of every pipeline: no row may be lost.
        f"events_{i}.sql": f"-- cairn: write=append\nSELECT {i} AS p, {{{{ var('run') }}}} AS run"
                            f", (SELECT count(*) FROM table_{i}) AS seen\n",
    }, "variables:\n  run: 0\n")


def test_eight_pipelines_running_twenty_times_at_once_all_succeed(
        project: ProjectFolder) -> None:
    for i in range(PIPELINES):
        _pipeline(project, i)
    driver = project.root / "driver.py"
    driver.write_text(DRIVER)
    processes = [subprocess.Popen([sys.executable, str(driver), str(project.root), f"p{i}",
                                   str(RUNS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for i in range(PIPELINES)]
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        statuses = json.loads(out)
        assert [s for s, _ in statuses] == ["success"] * RUNS, statuses

    warehouse = duckdb.connect(str(project.load().warehouse_path), read_only=True)
    try:
        for i in range(PIPELINES):
            assert warehouse.execute(f"SELECT count(*), min(run), max(run) FROM table_{i}"
                                     ).fetchone() == (100, RUNS - 1, RUNS - 1)
            events = warehouse.execute(f"SELECT run, seen FROM events_{i} ORDER BY run"
                                       ).fetchall()
            assert events == [(run, 100) for run in range(RUNS)]
    finally:
        warehouse.close()


def _holder(path: Path, ready: Path, release: Path) -> subprocess.Popen[str]:
    """Another process that takes the warehouse for a block and keeps it until told."""
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from cairn.io.connection import Connection
        from cairn.io.duckdb_database import DuckDBDatabase
        from cairn.io.duckdb_share import warehouse_user

        warehouse_user.set("block slow of run r-1 (p)")
        database = DuckDBDatabase(Connection("warehouse", "duckdb", {{"path": {str(path)!r}}}))
        with database._cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS turns (who INT)")
            Path({str(ready)!r}).touch()
            while not Path({str(release)!r}).exists():
                time.sleep(0.01)
    """)
    return subprocess.Popen([sys.executable, "-c", script], text=True)


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)


def test_a_use_that_waits_too_long_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = _holder(path, tmp_path / "ready", tmp_path / "release")
    try:
        _wait_for(tmp_path / "ready", holder)
        database = DuckDBDatabase(Connection("warehouse", "duckdb",
                                             {"path": str(path), "lock_timeout": 0.3}))
        with pytest.raises(CairnError) as caught:
            database.query("SELECT 1")
        problem = caught.value.problems[0]
        assert problem.kind == "warehouse-busy"
        assert f"process {holder.pid}" in problem.message
        assert "block slow of run r-1 (p)" in problem.message
        assert "lock_timeout" in (problem.hint or "")
    finally:
        (tmp_path / "release").touch()
        holder.wait(timeout=60)


def test_waiters_are_served_in_the_order_they_came(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = _holder(path, tmp_path / "ready", tmp_path / "release")
    _wait_for(tmp_path / "ready", holder)
    waiter = textwrap.dedent(f"""
        import sys
        import pyarrow as pa
        from cairn.io.connection import Connection
        from cairn.io.duckdb_database import DuckDBDatabase
        database = DuckDBDatabase(Connection("warehouse", "duckdb", {{"path": {str(path)!r}}}))
        database.write("turns", pa.table({{"who": [int(sys.argv[1])]}}), policy="append")
    """)
    waiters = []
    queue = path.with_name(path.name + ".queue")
    for who in range(4):  # each in line before the next one starts
        waiters.append(subprocess.Popen([sys.executable, "-c", waiter, str(who)]))
        deadline = time.monotonic() + 60
        while len([n for n in os.listdir(queue) if not n.startswith(".")]) <= who:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    (tmp_path / "release").touch()
    for process in [holder, *waiters]:
        assert process.wait(timeout=60) == 0
    database = DuckDBDatabase(Connection("warehouse", "duckdb", {"path": str(path)}))
    assert database.query("SELECT who FROM turns ORDER BY rowid").column("who").to_pylist(
        ) == [0, 1, 2, 3]
    database.close()


def test_a_waiter_killed_in_line_does_not_block_the_others(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = _holder(path, tmp_path / "ready", tmp_path / "release")
    _wait_for(tmp_path / "ready", holder)
    stuck = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from cairn.io.connection import Connection
        from cairn.io.duckdb_database import DuckDBDatabase
        DuckDBDatabase(Connection("w", "duckdb", {{"path": {str(path)!r}}})).query("SELECT 1")
    """)])
    queue = path.with_name(path.name + ".queue")
    deadline = time.monotonic() + 60
    while not [n for n in os.listdir(queue) if not n.startswith(".")]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    stuck.kill()
    stuck.wait()
    (tmp_path / "release").touch()
    assert holder.wait(timeout=60) == 0
    warehouse_user.set("test")
    database = DuckDBDatabase(Connection("w", "duckdb", {"path": str(path),
                                                         "lock_timeout": 30}))
    assert database.query("SELECT 42 AS x").column("x").to_pylist() == [42]
    database.close()


def test_a_holder_killed_mid_block_leaves_the_previous_table_and_the_file_free(
        tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    database = DuckDBDatabase(Connection("w", "duckdb", {"path": str(path)}))
    database.query("CREATE TABLE t AS SELECT 1 AS v")
    database.close()
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from cairn.io.connection import Connection
        from cairn.io.duckdb_database import DuckDBDatabase
        database = DuckDBDatabase(Connection("w", "duckdb", {{"path": {str(path)!r}}}))
        with database._cursor() as cursor:
            cursor.begin()
            cursor.execute("CREATE OR REPLACE TABLE t AS SELECT 2 AS v FROM range(100000)")
            Path({str(tmp_path / "ready")!r}).touch()
            time.sleep(600)
    """)
    killed = subprocess.Popen([sys.executable, "-c", script])
    _wait_for(tmp_path / "ready", killed)
    killed.kill()
    killed.wait()
    database = DuckDBDatabase(Connection("w", "duckdb", {"path": str(path),
                                                         "lock_timeout": 30}))
    assert database.query("SELECT v FROM t").column("v").to_pylist() == [1]
    database.close()


def test_a_block_that_waits_too_long_fails_naming_the_holder(
        project: ProjectFolder, observer: RecordingObserver) -> None:
    path = project.root / ".cairn" / "warehouse.duckdb"
    (project.root / "io_config.yaml").write_text(
        "default:\n  warehouse:\n    kind: duckdb\n    path: .cairn/warehouse.duckdb\n"
        "    lock_timeout: 0.5\n")
    project.pipeline("p", {"answer.sql": "SELECT 42 AS v\n"})
    holder = _holder(path, project.root / "ready", project.root / "release")
    try:
        _wait_for(project.root / "ready", holder)
        result = service.run_pipeline(project.load(), "p", observer)
    finally:
        (project.root / "release").touch()
        holder.wait(timeout=60)
    assert result.status == "failed"
    failure = observer.outcomes[BlockName("answer")].failure
    assert failure is not None
    assert "stayed busy" in failure.message and "block slow of run r-1 (p)" in failure.message
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
