"""`cairn graph` and `cairn run` show names no block defines as warnings, not errors."""

from __future__ import annotations

import json

from support import CLI, ProjectFolder

BLOCKS = {
    "load.py": "orders = [1, 2]\n",
    "report.py": "import math\n\ntotal = math.fsum(order)\n",
}


def test_graph_prints_the_warning_and_succeeds(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", BLOCKS)
    result = cli.run("graph", "p", cwd=project.root)
    assert result.returncode == 0, result.stderr
    assert "report [python]" in result.stdout
    [line, hint] = [line.strip() for line in result.stderr.strip().splitlines()]
    assert line.startswith("warning: ") and "pipelines/p/report.py:3: block report reads " \
        "'order'" in line
    assert hint == "hint: did you mean 'orders'?"
    assert "error" not in result.stderr


def test_graph_json_carries_the_warning(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", BLOCKS)
    document = json.loads(cli.run("graph", "p", "--format", "json", cwd=project.root,
                                  check=True).stdout)
    assert document["errors"] == []
    [warning] = document["warnings"]
    assert warning["kind"] == "unknown-input"
    assert (warning["block"], warning["name"], warning["line"]) == ("report", "order", 3)
    assert warning["file"].endswith("pipelines/p/report.py")
    assert warning["suggestions"] == ["orders"]


def test_run_warns_once_and_still_runs(project: ProjectFolder, cli: type[CLI]) -> None:
    # The name exists at run time, made where the analysis cannot see: a warning only.
    project.pipeline("p", {"made.py": "globals()['hidden'] = 2\nseen = hidden * 3\n"})
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.count("warning:") == 1
    assert "made.py:2: block made reads 'hidden'" in result.stderr
    assert "success" in result.stdout
