"""The `r` workload: a table from Python to R and back, through Cairn and through CSV.

As a module: writes the project (`make` -> `copy.R` -> `check`) and reads block durations
from its run history. As a script, run by run.py as a child like load_timing.py:
    python bench/r_exchange.py ROWS REPEAT
it times both round trips of the `make` block's table inside one process and prints JSON:
- Cairn, in the steps an R block takes: `as_arrow` + `write_table`; `Rscript run.R` on a
  block `copy <- frame` (R start, read, write back); reading the result into pandas;
- CSV: `DataFrame.to_csv`; one `Rscript` that reads it with data.table's `fread` and writes
  it with `fwrite`; `pandas.read_csv`.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import projects
from measure import time_calls

ROWS = 1_000_000
PIPELINE = "r"

_MAKE = """
    import numpy as np
    import pandas as pd

    _rows = {rows}
    _rng = np.random.default_rng(0)
    frame = pd.DataFrame({{
        "id": pd.array(np.arange(_rows), dtype="Int64"),
        "amount": _rng.normal(100.0, 30.0, _rows),
        "name": pd.array([f"customer-{{k}}" for k in _rng.integers(0, 10_000, _rows)],
                         dtype="str"),
        "paid": pd.array(_rng.random(_rows) < 0.7, dtype="boolean"),
        "at": (pd.Timestamp("2024-01-01", tz="UTC")
               + pd.to_timedelta(_rng.integers(0, 365 * 86_400_000_000, _rows), unit="us")
               ).astype("datetime64[us, UTC]"),
    }})
    for _column in frame.columns:  # 1% missing in every column
        frame[_column] = frame[_column].mask(_rng.random(_rows) < 0.01)
"""

_CHECK = """
    import pandas as pd

    # Exact both ways: the same values, R's 32-bit integers coming back as Int32.
    pd.testing.assert_frame_equal(copy, frame.astype({"id": "Int32"}))
    checked = len(copy)
"""

# Times inside R, so start-up and loading data.table are apart from the two calls.
_CSV_R = """
    suppressPackageStartupMessages(library(data.table))
    paths <- commandArgs(trailingOnly = TRUE)
    started <- proc.time()[["elapsed"]]
    table <- fread(paths[1])
    read <- proc.time()[["elapsed"]]
    fwrite(table, paths[2])
    written <- proc.time()[["elapsed"]]
    cat(sprintf('{"fread_s": %.4f, "fwrite_s": %.4f, "threads": %d}',
                read - started, written - read, getDTthreads()))
"""


def make_source(rows: int) -> str:
    return textwrap.dedent(_MAKE.format(rows=rows)).lstrip("\n")


def project(root: Path, rows: int) -> Path:
    """Three blocks: `make` (the table), `copy.R` (`copy <- frame`), `check` (asserts the
    copy equals the table)."""
    blocks = {"make.py": make_source(rows), "copy.R": "copy <- frame\n", "check.py": _CHECK}
    return projects.write_project(root, PIPELINE, blocks)


def durations(root: Path, skip_runs: int = 1) -> dict[str, float]:
    """Each block's median duration over its successful runs in the history, leaving out
    the first `skip_runs` runs (the warm-up)."""
    connection = sqlite3.connect(root / ".cairn" / "cairn.db")
    try:
        runs = [r for (r,) in connection.execute(
            "SELECT id FROM runs WHERE pipeline = ? ORDER BY started_at", (PIPELINE,))]
        found: dict[str, list[float]] = {}
        for run in runs[skip_runs:]:
            for block, seconds in connection.execute(
                    "SELECT block, duration_s FROM block_runs WHERE run_id = ? "
                    "AND status = 'success'", (run,)):
                found.setdefault(block, []).append(seconds)
    finally:
        connection.close()
    return {block: statistics.median(times) for block, times in found.items()}


def _rscript(*arguments: str) -> str:
    done = subprocess.run(["Rscript", "--vanilla", *arguments], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"Rscript {' '.join(arguments)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def main(rows: int, repeat: int) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from cairn.blocks.r_exchange import write_table
    from cairn.blocks.r_run import _RUNNER, _outputs
    from cairn.io.arrow_sql import as_arrow

    namespace: dict[str, Any] = {}
    exec(make_source(rows), namespace)
    frame: pd.DataFrame = namespace["frame"]
    with tempfile.TemporaryDirectory(prefix="cairn-bench-r-") as folder:
        work = Path(folder)
        # -- Cairn: the steps r_run.run_r takes --------------------------------------------
        (work / "copy.R").write_text("copy <- frame\n")

        def cairn_write() -> None:
            spec = {"file": str(work / "copy.R"), "outputs": ["copy"], "context": {},
                    "inputs": {"frame": write_table(as_arrow(frame), work, "in.1")}}
            (work / "spec.json").write_text(json.dumps(spec))

        _, write_s = time_calls(cairn_write, repeat)
        _, r_s = time_calls(lambda: _rscript(str(_RUNNER), str(work)), repeat)
        _, read_s = time_calls(lambda: _outputs(work), repeat)
        pd.testing.assert_frame_equal(_outputs(work)["copy"], frame.astype({"id": "Int32"}))
        exchange_bytes = sum(f.stat().st_size for f in work.glob("in.1.*"))

        # -- CSV: pandas writes, data.table reads and writes back, pandas reads ------------
        script, sent, returned = work / "csv.R", work / "sent.csv", work / "returned.csv"
        script.write_text(textwrap.dedent(_CSV_R).lstrip("\n"))
        _, to_csv_s = time_calls(lambda: frame.to_csv(sent, index=False), repeat)
        inside: list[dict[str, float]] = []
        _, csv_r_s = time_calls(
            lambda: inside.append(json.loads(_rscript(str(script), str(sent), str(returned)))),
            repeat)
        _, read_csv_s = time_calls(lambda: pd.read_csv(returned), repeat)
        back = pd.read_csv(returned)
        csv_bytes = sent.stat().st_size
    # What the CSV trip changed: fwrite keeps 15 significant digits of a double.
    amounts = frame["amount"].to_numpy()
    present = ~np.isnan(amounts)
    changed = int((back["amount"].to_numpy()[present] != amounts[present]).sum())

    _, r_floor_s = time_calls(lambda: _rscript("-e", "invisible(0)"), repeat)
    measured = inside[1:]  # without the warm-up
    return {
        "rows": rows,
        "columns": {name: str(kind) for name, kind in frame.dtypes.items()},
        "frame_bytes": int(frame.memory_usage(deep=True).sum()),
        "exchange_bytes": exchange_bytes,
        "csv_bytes": csv_bytes,
        "cairn_write_s": write_s,
        "cairn_r_s": r_s,
        "cairn_read_s": read_s,
        "to_csv_s": to_csv_s,
        "csv_r_s": csv_r_s,
        "fread_s": statistics.median(i["fread_s"] for i in measured),
        "fwrite_s": statistics.median(i["fwrite_s"] for i in measured),
        "fread_threads": int(measured[-1]["threads"]),
        "read_csv_s": read_csv_s,
        "csv_doubles_changed": changed,
        "csv_types_back": {name: str(kind) for name, kind in back.dtypes.items()},
        "r_floor_s": r_floor_s,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]))))
