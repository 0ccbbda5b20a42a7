"""What sharing the DuckDB warehouse between processes costs a SQL block.

Usage (as a child of run.py): python bench/warehouse.py FOLDER USES
Prints JSON. Every "use" is one SQL block's work on the warehouse as a run does it
(`DuckDBDatabase.run`: the statement, `CREATE OR REPLACE TABLE`, the row count, commit):

- raw: the same work on a cursor of a connection kept open, without the lock (one process
  alone, as before processes could share the file);
- solo: through the lock, one process alone (the connection stays open while no one waits);
- contended K: K processes at once, each doing USES uses on its own table; each use's
  latency (waiting for the file included) and the whole batch's wall time.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cairn.blocks.sql_analysis import Statement
from cairn.io.connection import Connection
from cairn.io.database import SQLWork
from cairn.io.duckdb_database import DuckDBDatabase

QUERY = "SELECT range AS k, range * 2 AS v FROM range(1000)"


def work(table: str) -> SQLWork:
    return SQLWork(table, [Statement(QUERY, 1)])


def database(folder: Path) -> DuckDBDatabase:
    return DuckDBDatabase(Connection("warehouse", "duckdb",
                                     {"path": str(folder / "warehouse.duckdb")}))


def timed_uses(uses: int, use: object) -> list[float]:
    times = []
    for _ in range(uses):
        started = time.perf_counter()
        use()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return times


def raw(folder: Path, uses: int) -> list[float]:
    import duckdb

    shared = database(folder)
    connection = duckdb.connect(str(folder / "raw.duckdb"))

    def use() -> None:
        cursor = connection.cursor()
        try:
            shared._run(cursor, work("raw"))
        finally:
            cursor.close()

    use()  # warm-up
    try:
        return timed_uses(uses, use)
    finally:
        connection.close()


def solo(folder: Path, uses: int) -> list[float]:
    shared = database(folder)
    shared.run(work("solo"))  # warm-up: opens the file
    try:
        return timed_uses(uses, lambda: shared.run(work("solo")))
    finally:
        shared.close()


def worker(folder: Path, uses: int, name: str, start: Path) -> None:
    """One of the contending processes: waits for the start, then prints its latencies."""
    shared = database(folder)
    while not start.exists():
        time.sleep(0.001)
    print(json.dumps(timed_uses(uses, lambda: shared.run(work(name)))))
    shared.close()


def contended(folder: Path, uses: int, processes: int) -> dict[str, float]:
    start = folder / f"start-{processes}"
    children = [subprocess.Popen([sys.executable, __file__, str(folder), str(uses),
                                  f"w{processes}_{i}", str(start)],
                                 stdout=subprocess.PIPE, text=True)
                for i in range(processes)]
    time.sleep(1.0)  # every child imported and waiting
    began = time.perf_counter()
    start.touch()
    latencies: list[float] = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"a contending process failed ({child.returncode})")
        latencies += json.loads(out)
    wall = time.perf_counter() - began
    latencies.sort()
    return {"processes": processes, "median_ms": statistics.median(latencies),
            "p95_ms": latencies[int(len(latencies) * 0.95) - 1],
            "per_use_ms": wall * 1000 / (processes * uses)}


def main() -> None:
    folder, uses = Path(sys.argv[1]), int(sys.argv[2])
    if len(sys.argv) == 5:
        worker(folder, uses, sys.argv[3], Path(sys.argv[4]))
        return
    folder.mkdir(parents=True, exist_ok=True)
    print(json.dumps({
        "raw_ms": statistics.median(raw(folder, uses)),
        "solo_ms": statistics.median(solo(folder, uses)),
        "contended": [contended(folder, uses, k) for k in (2, 4, 8)],
    }))


if __name__ == "__main__":
    main()
