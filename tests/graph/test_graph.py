"""The pipeline graph: which blocks feed which, and what is wrong with the names they share."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from cairn.blocks.parse import parse_block
from cairn.blocks.spec import BlockSpec
from cairn.errors import Problem
from cairn.graph.build import Graph, build_graph
from cairn.ids import BlockName

Edges = set[tuple[str, str, tuple[str, ...]]]


def write_blocks(folder: Path, files: Mapping[str, str]) -> list[BlockSpec]:
    """Write block files (filename -> dedented source) and parse them in the given order."""
    folder.mkdir(parents=True, exist_ok=True)
    specs = []
    for filename, code in files.items():
        path = folder / filename
        path.write_text(textwrap.dedent(code).lstrip("\n"), encoding="utf-8")
        specs.append(parse_block(BlockName(path.stem), path, {}))
    return specs


def graph_of(
    folder: Path,
    files: Mapping[str, str],
    explicit: Mapping[BlockName, Sequence[str]] | None = None,
    variables: Sequence[str] = (),
) -> Graph:
    return build_graph(write_blocks(folder, files), explicit, variables)


def edges(graph: Graph) -> Edges:
    return {(e.source, e.target, e.names) for e in graph.edges()}


def only_problem(graph: Graph) -> Problem:
    [problem] = graph.problems
    return problem


EDGE_CASES = [
    pytest.param(
        {"load.py": "orders = read(path)\n", "clean.py": "clean = orders.dropna()\n"},
        {("load", "clean", ("orders",))},
        id="script-reads-output",
    ),
    pytest.param(
        {"load.py": "orders = 1\ncustomers = 2\n", "join.py": "both = (orders, customers)\n"},
        {("load", "join", ("orders", "customers"))},
        id="names-on-one-edge",
    ),
    pytest.param(
        {"a.py": "x = 1\n", "b.py": "total = 0\ntotal += x\n"},
        {("a", "b", ("x",))},
        id="own-names-make-no-edge",
    ),
    pytest.param(
        {"a.py": "x = undefined_somewhere\n", "b.py": "y = also_undefined\n"},
        set(),
        id="undefined-names-make-no-edge",
    ),
    pytest.param(
        {"a.py": "_tmp = 1\n", "b.py": "y = _tmp\n"},
        set(),
        id="private-names-make-no-edge",
    ),
    pytest.param(
        {"a.py": "import json\n", "b.py": "y = json.dumps({})\n"},
        set(),
        id="imports-make-no-edge",
    ),
    pytest.param(
        {"a.py": "max = 10\n", "b.py": "y = max(1, 2)\n"},
        set(),
        id="builtins-make-no-edge",
    ),
    pytest.param(
        {"orders.py": "orders = 1\n", "enriched.sql": "select * from orders\n"},
        {("orders", "enriched", ("orders",))},
        id="sql-reads-python-output",
    ),
    pytest.param(
        {"enriched.sql": "select 1 as x\n", "report.py": "summary = enriched.head()\n"},
        {("enriched", "report", ("enriched",))},
        id="python-reads-sql-table",
    ),
    pytest.param(
        {
            "load.py": "orders = 1\n",
            "report.py": """
                from cairn import block

                @block
                def report(orders, load):
                    return orders
            """,
        },
        {("load", "report", ("orders", "load"))},
        id="function-parameters-name-output-and-block",
    ),
]


@pytest.mark.parametrize(("files", "expected"), EDGE_CASES)
def test_edges(tmp_path: Path, files: dict[str, str], expected: Edges) -> None:
    graph = graph_of(tmp_path, files)
    assert graph.problems == []
    assert edges(graph) == expected


def test_multiple_definitions_name_both_files_and_lines(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"a.py": "total = 1\n", "b.py": "x = 0\ntotal = 2\n"})
    problem = only_problem(graph)
    assert problem.kind == "multiple-definitions"
    assert f"{tmp_path / 'a.py'}:1" in problem.message
    assert f"{tmp_path / 'b.py'}:2" in problem.message
    assert (problem.file, problem.line) == (str(tmp_path / "b.py"), 2)


def test_cycle_names_blocks_and_linking_names(tmp_path: Path) -> None:
    graph = graph_of(
        tmp_path,
        {"a.py": "x = z + 1\n", "b.py": "y = x * 2\n", "c.py": "z = y - 1\n", "d.py": "w = x\n"},
    )
    problem = only_problem(graph)
    assert problem.kind == "cycle"
    assert "a -> b -> c -> a" in problem.message
    for step in ("b reads x from a", "c reads y from b", "a reads z from c"):
        assert step in problem.message
    assert "d" not in problem.message.split("(")[0]


def test_layers_and_edges_follow_display_order(tmp_path: Path) -> None:
    graph = graph_of(
        tmp_path,
        {
            "zeta.py": "z = 1\n",
            "alpha.py": "a = 1\n",
            "both.py": "b = a + z\n",
            "mid.py": "m = z\n",
            "last.py": "result = b + m\n",
        },
    )
    assert graph.problems == []
    assert graph.order == ["zeta", "alpha", "both", "mid", "last"]
    assert graph.layers() == [["zeta", "alpha"], ["both", "mid"], ["last"]]
    assert [(e.source, e.target) for e in graph.edges()] == [
        ("alpha", "both"),
        ("zeta", "both"),
        ("zeta", "mid"),
        ("both", "last"),
        ("mid", "last"),
    ]


def test_explicit_upstream_adds_an_edge_without_names(tmp_path: Path) -> None:
    explicit = {BlockName("b"): ["a", "b"]}
    graph = graph_of(tmp_path, {"a.py": "x = 1\n", "b.py": "y = 2\n"}, explicit)
    assert graph.problems == []
    assert edges(graph) == {("a", "b", ())}
    assert graph.layers() == [["a"], ["b"]]


@pytest.mark.parametrize(
    "explicit",
    [
        pytest.param({BlockName("b"): ["ghost"]}, id="unknown-upstream"),
        pytest.param({BlockName("ghost"): ["a"]}, id="unknown-target"),
    ],
)
def test_explicit_upstream_unknown_block(
    tmp_path: Path, explicit: dict[BlockName, list[str]]
) -> None:
    graph = graph_of(tmp_path, {"a.py": "x = 1\n", "b.py": "y = 2\n"}, explicit)
    problem = only_problem(graph)
    assert problem.kind == "unknown-block"
    assert "'ghost'" in problem.message
    assert edges(graph) == set()


def test_variable_that_is_also_an_output(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"a.py": "x = 1\nlimit = 5\n"}, variables=["limit"])
    problem = only_problem(graph)
    assert problem.kind == "variable-shadowed"
    assert (problem.file, problem.line) == (str(tmp_path / "a.py"), 2)


FUNCTION_BLOCK = """
    from cairn import block

    @block
    def report(rows, limit=10):
        return rows[:limit]
"""


@pytest.mark.parametrize(
    ("files", "variables", "unknown"),
    [
        pytest.param({"report.py": FUNCTION_BLOCK}, [], ["rows"], id="unresolved-parameter"),
        pytest.param(
            {"load.py": "rows = []\n", "report.py": FUNCTION_BLOCK}, [], [], id="output"
        ),
        pytest.param({"report.py": FUNCTION_BLOCK}, ["rows"], [], id="pipeline-variable"),
    ],
)
def test_function_parameter_must_resolve(
    tmp_path: Path, files: dict[str, str], variables: list[str], unknown: list[str]
) -> None:
    graph = graph_of(tmp_path, files, variables=variables)
    problems = [p for p in graph.problems if p.kind == "unknown-input"]
    assert [p.message.split("'")[1] for p in problems] == unknown
    assert all((p.file, p.line) == (str(tmp_path / "report.py"), 4) for p in problems)
    assert len(graph.problems) == len(problems)


def test_script_block_unresolved_name_is_not_a_problem(tmp_path: Path) -> None:
    assert graph_of(tmp_path, {"a.py": "x = mystery\n"}).problems == []


def test_closure(tmp_path: Path) -> None:
    graph = graph_of(
        tmp_path,
        {
            "a.py": "x = 1\n",
            "b.py": "y = x\n",
            "c.py": "z = y\n",
            "d.py": "w = x\n",
            "e.py": "v = 1\n",
        },
    )
    blocks = [BlockName("b")]
    assert graph.closure(blocks, "upstream") == {"a", "b"}
    assert graph.closure(blocks, "downstream") == {"b", "c"}
    assert graph.closure([BlockName("a")], "downstream") == {"a", "b", "c", "d"}
    assert graph.closure([BlockName("e")], "upstream") == {"e"}
