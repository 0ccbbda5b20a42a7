"""`cairn stats` after real runs: the health of all pipelines, one pipeline's detail, and
bad input."""

from __future__ import annotations

import pytest
from support import CLI, ProjectFolder


def test_stats_after_a_success_and_a_failure(project: ProjectFolder, cli: type[CLI],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    project.pipeline("sales", {
        "orders.py": "import os\norders = [1, 2, 3]\n"
                     "if os.environ.get('FAIL_ORDERS'):\n    raise RuntimeError('no orders')\n",
    })
    project.pipeline("idle", {"x.py": "x = 1\n"})
    cli.run("run", "sales", "--quiet", cwd=project.root, check=True)
    monkeypatch.setenv("FAIL_ORDERS", "1")
    assert cli.run("run", "sales", "--quiet", cwd=project.root).returncode != 0

    overview = cli.run("stats", cwd=project.root, check=True).stdout
    rows = {line.split("│")[1].strip(): line for line in overview.splitlines()
            if line.startswith("│")}
    assert set(rows) == {"idle", "sales"}
    assert "never" in rows["idle"]
    sales = [cell.strip() for cell in rows["sales"].split("│")[1:-1]]
    assert sales[2] == "failed" and sales[4:6] == ["2", "50%"]

    detail = cli.run("stats", "sales", "--days", "2", cwd=project.root, check=True).stdout
    assert "sales, last 2 days: 2 finished runs, 1 failed, success 50%" in detail
    assert detail.count("│ success") == 1 and detail.count("│ failed") == 1
    assert "orders" in detail.split("Blocks, slowest first")[1]

    unknown = cli.run("stats", "sale", cwd=project.root)
    assert unknown.returncode == 2
    assert "no pipeline named 'sale'" in unknown.stderr and "'sales'" in unknown.stderr
    assert cli.run("stats", "--days", "0", cwd=project.root).returncode == 2
