"""Bad input: a clear message with file and line, exit status 2, never Cairn's traceback."""

from __future__ import annotations

import json

import pytest
from support import CLI, ProjectFolder

CASES = [
    pytest.param(
        {"a.py": "x = 1\n"}, "blocks:\n  - a\n  - name: b\n   retries: 2\n", ("run", "p"),
        ["pipeline.yaml:4", "invalid YAML"], id="malformed-pipeline-yaml"),
    pytest.param(
        {"a.py": "x = 1\n"}, "blocks:\n  - name: a\n    retries: many\n", ("run", "p"),
        ["pipeline.yaml:3", "blocks.0.retries: Input should be a valid integer"],
        id="bad-field-type"),
    pytest.param(
        {"a.py": "x = 1\n"}, "blocks:\n  - name: a\n    retry: 2\n", ("run", "p"),
        ["pipeline.yaml:3", "blocks.0.retry: Extra inputs are not permitted"], id="unknown-field"),
    pytest.param(
        {"a.py": "x = 1\n", "b.py": "y = (x +\n"}, None, ("run", "p"),
        ["b.py:1", "syntax error"], id="python-syntax-error"),
    pytest.param(
        {"a.sql": "SELECT 1\nFROM t WHERE\n"}, None, ("run", "p"),
        ["a.sql:2", "SQL syntax error"], id="sql-syntax-error"),
    pytest.param(
        {"a.py": "x = 1\n"}, None, ("run", "pp"),
        ["no pipeline named 'pp'", "did you mean 'p'"], id="unknown-pipeline"),
    pytest.param(
        {"alpha.py": "x = 1\n"}, None, ("run", "p", "--block", "alpah"),
        ["has no block 'alpah'", "did you mean 'alpha'"], id="unknown-block"),
    pytest.param(
        {"alpha.py": "x = 1\n"}, "blocks:\n  - alpah\n", ("run", "p"),
        ["names block 'alpah'", "did you mean 'alpha'"], id="unknown-block-in-yaml"),
    pytest.param(
        {"a.py": "x = y\n", "b.py": "y = x\n"}, None, ("run", "p"),
        ["cycle", "a -> b -> a", "b reads x from a", "a reads y from b"], id="cycle"),
    pytest.param(
        {"a.py": "x = 1\n", "b.py": "x = 2\n"}, None, ("graph", "p"),
        ["'x' is defined by 2 blocks", "a.py:1", "b.py:1"], id="defined-twice"),
    pytest.param(
        {"f.py": "from cairn import block\n\n@block\ndef f(nothing):\n    return 1\n"}, None,
        ("run", "p"), ["f.py:4", "parameter 'nothing'"], id="unknown-parameter"),
    pytest.param(
        {"a.py": "x = 1\n"}, None, ("run", "p", "--var", "novalue"),
        ["--var expects KEY=VALUE"], id="bad-var"),
    pytest.param(
        {"a.py": "x = 1\n"}, None, ("show", "p", "a"),
        ["block a has no successful run yet", "cairn run p --block a"], id="show-before-run"),
    pytest.param(
        {"a.py": "x = 1\n"}, None, ("logs", "nosuchrun"),
        ["no run matches 'nosuchrun'"], id="unknown-run"),
]


@pytest.mark.parametrize(("blocks", "settings", "command", "expected"), CASES)
def test_bad_input_is_explained(project: ProjectFolder, cli: type[CLI], blocks: dict[str, str],
                                settings: str | None, command: tuple[str, ...],
                                expected: list[str]) -> None:
    project.pipeline("p", blocks, settings)
    result = cli.run(*command, cwd=project.root)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for text in expected:
        assert text in result.stderr


def test_malformed_project_file(project: ProjectFolder, cli: type[CLI]) -> None:
    (project.root / "cairn.yaml").write_text("name: x\nmax_parallel: -1\n")
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 2
    assert "cairn.yaml:2" in result.stderr and "max_parallel" in result.stderr


def test_no_project_here(tmp_path: ProjectFolder, cli: type[CLI]) -> None:
    result = cli.run("runs", cwd=tmp_path)  # type: ignore[arg-type]
    assert result.returncode == 2
    assert "no cairn.yaml found" in result.stderr and "cairn init" in result.stderr


def test_graph_formats(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", {
        "orders.py": "orders = [1, 2]\n",
        "total.sql": "SELECT count(*) AS n FROM orders\n",
        "report.py": "report = total\n",
    })
    document = json.loads(cli.run("graph", "p", "--format", "json", cwd=project.root,
                                  check=True).stdout)
    # No `blocks:` list: DAG order, whatever the file names
    assert [b["name"] for b in document["blocks"]] == ["orders", "total", "report"]
    assert document["blocks"][1]["language"] == "sql"
    assert document["edges"] == [
        {"from": "orders", "to": "total", "names": ["orders"]},
        {"from": "total", "to": "report", "names": ["total"]},
    ]
    assert document["errors"] == []
    mermaid = cli.run("graph", "p", "--format", "mermaid", cwd=project.root, check=True).stdout
    assert "orders -->|orders| total" in mermaid
    dot = cli.run("graph", "p", "--format", "dot", cwd=project.root, check=True).stdout
    assert '"total" -> "report" [label="total"];' in dot
    text = cli.run("graph", "p", cwd=project.root, check=True).stdout
    assert "report [python] <- total (total)" in text


def test_graph_json_carries_errors(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", {"a.py": "x = 1\n", "b.py": "x = 2\n"})
    result = cli.run("graph", "p", "--format", "json", cwd=project.root)
    assert result.returncode == 2
    errors = json.loads(result.stdout)["errors"]
    assert errors[0]["kind"] == "multiple-definitions" and errors[0]["line"] == 1


def test_failed_run_exits_non_zero_with_users_traceback(project: ProjectFolder,
                                                        cli: type[CLI]) -> None:
    project.pipeline("p", {"a.py": "import json\nvalue = json.loads('{broken')\n"})
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 1
    assert "a.py:2" in result.stdout and "JSONDecodeError" in result.stdout
    assert "cairn/runtime" not in result.stdout
    assert "--resume" in result.stdout


def test_sql_transpile(project: ProjectFolder, cli: type[CLI]) -> None:
    out = cli.run("sql", "transpile", "SELECT list_value(1, 2) AS l, 7 // 2 AS half",
                  "--to", "postgres", cwd=project.root, check=True).stdout
    assert "ARRAY[1, 2] AS l" in out and "DIV(7, 2) AS half" in out
    (project.root / "q.sql").write_text("SELECT ifnull(a, 0) FROM t")
    mysql = cli.run("sql", "transpile", "@q.sql", "--to", "mysql", cwd=project.root,
                    check=True).stdout
    assert "IFNULL(a, 0)" in mysql or "COALESCE(a, 0)" in mysql
    bad = cli.run("sql", "transpile", "SELECT 1", "--to", "nosuch", cwd=project.root)
    assert bad.returncode == 2 and "nosuch" in bad.stderr and "dialects: duckdb" in bad.stderr
