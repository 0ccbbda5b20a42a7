"""Malformed or hostile project files: `cairn run` refuses each one with its file (and line
where there is one), exit status 2 and no traceback, and does not hang on it."""

from __future__ import annotations

import pytest
from support import CLI, ProjectFolder

BOMB = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
).encode()

# The content of a bad YAML file, the message expected, and the line it must name (None
# where the problem is the whole file).
BAD_YAML = [
    pytest.param(b"name: x\n\x00\x01\x02\xfe\xff junk\n", "not UTF-8", 2, id="binary-junk"),
    pytest.param(b"name: x\nother: caf\xe9\n", "not UTF-8", 2, id="invalid-utf8"),
    pytest.param(b"name: x\n\x00\n", "NUL byte", 2, id="nul-byte"),
    pytest.param(b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nesting depth", 1,
                 id="flow-nested-5000"),
    pytest.param(b"a: " + b"{a: " * 10000 + b"1" + b"}" * 10000 + b"\n", "nesting depth", 1,
                 id="flow-nested-10000"),
    pytest.param("\n".join(" " * i + f"k{i}:" for i in range(1200)).encode(),
                 "nesting depth", None, id="block-nested-1200"),
    pytest.param("\n".join("  " * i + f"k{i}:" for i in range(60)).encode() + b" 1\n",
                 "nested more than 50 deep", None, id="nested-60"),
    pytest.param(BOMB, "expands to more than 1,000,000 values", None, id="alias-bomb"),
    pytest.param(b"a: &a [*a]\n", "refers to the value that holds it", 1, id="alias-cycle"),
    pytest.param(b"# padding\n" * 3_100_000, "more than the 10 MB", None, id="30MB"),
    pytest.param(b"x: 1\ny: 2\nx: 3\n", "key 'x' appears twice (first at line 1)", 3,
                 id="duplicate-key"),
]

# Each YAML file the run reads, and how the rest of the project is set up so that it does.
FILES = ["cairn.yaml", "pipelines/p/pipeline.yaml", "io_config.yaml", "secrets.yaml"]


def _project_reading_every_file(project: ProjectFolder) -> None:
    project.pipeline("p", {"a.sql": "SELECT 1 AS x\n", "b.py": "y = 2\n"}, "blocks:\n  - a\n")
    # The SQL block makes the run read io_config.yaml; its secret() reads secrets.yaml.
    (project.root / "io_config.yaml").write_text(
        "default:\n  other:\n    kind: duckdb\n    path: \"{{ secret('DB_PATH') }}\"\n")
    (project.root / "secrets.yaml").write_text("DB_PATH: other.duckdb\n")


def _assert_refused(cli: type[CLI], project: ProjectFolder, file: str, message: str,
                    line: int | None) -> None:
    # The timeout bounds the test: a reader that hangs fails it with TimeoutExpired.
    result = cli.run("run", "p", cwd=project.root, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    where = str(project.root / file) + (f":{line}:" if line else ":")
    assert where in result.stderr and message in result.stderr, result.stderr


def test_the_project_reads_every_file(project: ProjectFolder, cli: type[CLI]) -> None:
    """The setup below really reads all four files: a valid project runs."""
    _project_reading_every_file(project)
    result = cli.run("run", "p", cwd=project.root, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    (project.root / "secrets.yaml").write_text("OTHER: 1\n")
    assert "DB_PATH" in cli.run("run", "p", cwd=project.root, timeout=60).stderr


@pytest.mark.parametrize("file", FILES)
@pytest.mark.parametrize(("content", "message", "line"), BAD_YAML)
def test_bad_yaml_is_refused(project: ProjectFolder, cli: type[CLI], file: str, content: bytes,
                             message: str, line: int | None) -> None:
    _project_reading_every_file(project)
    (project.root / file).write_bytes(content)
    _assert_refused(cli, project, file, message, line)


BAD_BLOCKS = [
    pytest.param("b.py", b"y = 1\n# caf\xe9\n", "not UTF-8", 2, id="py-invalid-utf8"),
    pytest.param("b.py", b"y = 1\n\x00\n", "NUL byte", 2, id="py-nul-byte"),
    pytest.param("b.py", b"y = 1\n" * 6_000_000, "more than the 10 MB", None, id="py-36MB"),
    pytest.param("b.py", b"y = " + b"-" * 100_000 + b"1\n", "nested too deeply", None,
                 id="py-deep-unary"),
    pytest.param("b.py", b"y = 1" + b" + 1" * 100_000 + b"\n", "nested too deeply", None,
                 id="py-deep-sum"),
    pytest.param("a.sql", b"SELECT 1 AS x -- caf\xe9\n", "not UTF-8", 1, id="sql-invalid-utf8"),
    pytest.param("c.R", b"x <- 1\n# caf\xe9\n", "not UTF-8", 2, id="r-invalid-utf8"),
    pytest.param("c.R", b"x <- 1\n" * 6_000_000, "more than the 10 MB", None, id="r-42MB"),
    pytest.param("a.sql", b"SELECT " + b"(" * 3000 + b"1" + b")" * 3000 + b" AS x\n",
                 "nested too deeply", None, id="sql-deep"),
]


@pytest.mark.parametrize(("file", "content", "message", "line"), BAD_BLOCKS)
def test_bad_block_file_is_refused(project: ProjectFolder, cli: type[CLI], file: str,
                                   content: bytes, message: str, line: int | None) -> None:
    _project_reading_every_file(project)
    (project.root / "pipelines" / "p" / file).write_bytes(content)
    _assert_refused(cli, project, f"pipelines/p/{file}", message, line)


def test_cairn_runs_refuses_a_bad_project_file(project: ProjectFolder, cli: type[CLI]) -> None:
    (project.root / "cairn.yaml").write_bytes(BOMB)
    result = cli.run("runs", cwd=project.root, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cairn.yaml" in result.stderr and "1,000,000 values" in result.stderr


def test_a_bad_variable_value_is_refused(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", {"b.py": "y = 2\n"})
    deep = "[" * 5000 + "]" * 5000
    result = cli.run("run", "p", "--var", f"x={deep}", cwd=project.root, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--var x" in result.stderr and "nesting depth" in result.stderr
