"""What the CLI shows of runs: a timed-out block's real duration, block counts of fan-out
runs, `cairn show --limit` on lists, and the per-statement timings of SQL blocks."""

from __future__ import annotations

import json
import re

from support import CLI, ProjectFolder


def test_a_timed_out_block_shows_how_long_it_ran(project: ProjectFolder,
                                                 cli: type[CLI]) -> None:
    project.pipeline("p", {"slow.py": "import time\nwhile True:\n    time.sleep(0.05)\n"},
                     "blocks:\n  - {name: slow, timeout: 0.5}\n")
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("✗ slow"))
    seconds = float(re.search(r"failed (\d+\.\d\d)s", line).group(1))  # type: ignore[union-attr]
    assert seconds >= 0.5, line
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ slow"))
    assert "0.00s" not in row, row


def test_runs_count_blocks_and_say_items_apart(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", {
        "numbers.py": "numbers = list(range(12))\n",
        "square.py": "square = numbers * numbers\n",
        "total.py": "total = sum(square)\n",
    }, "blocks:\n  - {name: numbers, fan_out: true}\n  - {name: square, map: zip}\n  - total\n")
    cli.run("run", "p", cwd=project.root, check=True)
    listed = cli.run("runs", "p", cwd=project.root, check=True).stdout
    assert "3/3 ok (+12 items)" in listed, listed


def test_show_limit_cuts_lists(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", {"many.py": "many = list(range(100))\n"})
    cli.run("run", "p", cwd=project.root, check=True)
    shown = cli.run("show", "p", "many", "--limit", "5", cwd=project.root, check=True).stdout
    assert shown.startswith("[0, 1, 2, 3, 4]") and "first 5 of 100 items" in shown, shown
    as_json = cli.run("show", "p", "many", "--limit", "3", "-f", "json", cwd=project.root,
                      check=True)
    assert json.loads(as_json.stdout) == [0, 1, 2]
    assert "first 3 of 100 items" in as_json.stderr


def test_logs_show_the_time_of_each_sql_statement(project: ProjectFolder,
                                                  cli: type[CLI]) -> None:
    project.pipeline("p", {"staged.sql": """
        CREATE TEMP TABLE ids AS SELECT range AS id FROM range(1000);

        SELECT count(*) AS n FROM ids
    """})
    cli.run("run", "p", cwd=project.root, check=True)
    logs = cli.run("logs", "latest", "staged", cwd=project.root, check=True).stdout
    assert "SQL statements" in logs, logs
    rows = [line for line in logs.splitlines() if re.match(r"│\s+\d+ │", line)]
    assert len(rows) == 2, logs  # the statement creating the temp table, then the last one
    assert re.match(r"│\s+1 │\s+1 │\s+\d+\.\d{3} │", rows[0]), rows
