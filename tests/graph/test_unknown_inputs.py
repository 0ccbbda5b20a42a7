"""Names a block reads that nothing provides: one row per case, code in, warnings out."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from cairn.blocks.parse import parse_block
from cairn.graph.build import Graph, build_graph
from cairn.graph.unknown import UnknownInput
from cairn.ids import BlockName

# Every case runs next to this block, which defines `orders` and `customers`.
UPSTREAM = {"load.py": "orders = [1, 2]\ncustomers = ['a']\n"}


def graph_of(folder: Path, files: Mapping[str, str], variables: tuple[str, ...] = ()) -> Graph:
    folder.mkdir(parents=True, exist_ok=True)
    specs = []
    for filename, code in {**UPSTREAM, **files}.items():
        path = folder / filename
        path.write_text(textwrap.dedent(code).lstrip("\n"), encoding="utf-8")
        specs.append(parse_block(BlockName(path.stem), path, {}))
    return build_graph(specs, None, variables)


def found(graph: Graph) -> list[tuple[str, str, int | None]]:
    return [(w.block, w.name, w.line) for w in graph.warnings if isinstance(w, UnknownInput)]


NOT_UNKNOWN = [
    pytest.param("total = sum(orders)\n", id="an-upstream-output"),
    pytest.param("n = len(load)\n", id="a-block-name"),
    pytest.param("x = [i * 2 for i in orders if i]\ny = {k: v for k, v in {}.items()}\n",
                 id="comprehension-variables"),
    pytest.param("double = lambda a, *rest, key=None: (a, rest, key)\n", id="lambda-parameters"),
    pytest.param("""
        def scale(value, factor=2, *args, **kwargs):
            return value * factor, args, kwargs
        """, id="function-parameters"),
    pytest.param("""
        def setup():
            global settings
            settings = 1
        setup()
        copy = settings
        """, id="global-declared-and-bound"),
    pytest.param("""
        def counter():
            count = 0
            def step():
                nonlocal count
                count += 1
                return count
            return step
        """, id="nonlocal"),
    pytest.param("temporary = 1\ndel temporary\n", id="del-of-own-name"),
    pytest.param("""
        try:
            value = int('x')
        except ValueError as error:
            message = str(error)
        """, id="except-name"),
    pytest.param("""
        if (n := len(orders)) > 1:
            big = n
        last = [(m := o) for o in orders]
        seen = m
        """, id="walrus"),
    pytest.param("""
        match orders:
            case [first, *others]:
                head = (first, others)
            case {"key": value, **rest}:
                head = (value, rest)
            case str() as text:
                head = text
        """, id="match-patterns"),
    pytest.param("""
        class Report:
            size = 3
            double = size * 2

            def render(self):
                return Report, self
        """, id="class-body-and-own-class"),
    pytest.param("from math import *\nroot = sqrt(2) + mystery\n", id="star-import"),
    pytest.param("where = (__name__, __file__)\n", id="dunder-names"),
    pytest.param("context.log('hello')\n", id="context"),
    pytest.param("n = len(str(print))\n", id="builtins"),
    pytest.param("import os.path\nfrom pathlib import Path as P\nsep = (os.path.sep, P)\n",
                 id="imports"),
    pytest.param("""
        def later_use():
            return defined_below
        defined_below = 1
        """, id="bound-later-in-the-module"),
    pytest.param("""
        with open(__file__) as handle:
            text = handle.read()
        for index, line in enumerate(text):
            last = (index, line)
        """, id="with-and-for-targets"),
    pytest.param("x = orders.customers + 'limit'\n", id="attributes-and-strings"),
    pytest.param("""
        from cairn import block

        @block
        def report(orders, limit=10):
            return orders[:limit]
        """, id="function-style-block"),
]


@pytest.mark.parametrize("code", NOT_UNKNOWN)
def test_not_unknown(tmp_path: Path, code: str) -> None:
    graph = graph_of(tmp_path, {"reader.py": code})
    assert graph.problems == []
    assert found(graph) == []


UNKNOWN = [
    pytest.param("y = mystery + 1\n", [("reader", "mystery", 1)], id="free-name"),
    pytest.param("n = len(order)\n", [("reader", "order", 1)], id="typo"),
    pytest.param("""
        def helper():
            return missing
        x = 1
        y = missing
        """, [("reader", "missing", 2)], id="first-use-inside-a-function"),
    pytest.param("a = _private\nb = Other()\n",
                 [("reader", "_private", 1), ("reader", "Other", 2)], id="two-names"),
    pytest.param("""
        class Report:
            rows = unknown_rows
        """, [("reader", "unknown_rows", 2)], id="in-a-class-body"),
    pytest.param("""
        total = 0
        del total
        again = total
        """, [], id="deleted-then-read-is-still-own"),
]


@pytest.mark.parametrize(("code", "expected"), UNKNOWN)
def test_unknown(tmp_path: Path, code: str, expected: list[tuple[str, str, int]]) -> None:
    graph = graph_of(tmp_path, {"reader.py": code})
    assert graph.problems == []
    assert found(graph) == expected
    assert all(w.file == str(tmp_path / "reader.py") for w in graph.warnings)


def test_hint_names_the_closest_defined_names(tmp_path: Path) -> None:
    [warning] = graph_of(tmp_path, {"reader.py": "n = len(order)\n"}).warnings
    assert isinstance(warning, UnknownInput)
    assert warning.kind == "unknown-input"
    assert warning.suggestions == ("orders",)
    assert warning.hint == "did you mean 'orders'?"
    assert "reader" in warning.message and "'order'" in warning.message
    document = json.loads(json.dumps(warning.to_dict()))
    assert document["block"] == "reader" and document["name"] == "order"
    assert document["suggestions"] == ["orders"]


def test_pipeline_variables_and_stream_sources_are_known(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"reader.py": "x = (limit, events)\n"},
                     variables=("limit", "events"))
    assert found(graph) == []


def test_sql_tables_no_block_makes_are_not_warned(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"report.sql": "SELECT * FROM raw_schema_table\n"})
    assert graph.warnings == []


def test_r_blocks_are_not_checked(tmp_path: Path) -> None:
    # `amount` is a column here, read with non-standard evaluation: not a variable.
    graph = graph_of(tmp_path, {"report.R": "big <- subset(orders, amount > 1)\n"})
    assert graph.warnings == []
    assert graph.upstream[BlockName("report")] == {BlockName("load"): ["orders"]}


def test_unresolved_function_parameter_stays_an_error(tmp_path: Path) -> None:
    code = "from cairn import block\n\n@block\ndef report(rows):\n    return rows\n"
    graph = graph_of(tmp_path, {"report.py": code})
    assert [p.kind for p in graph.problems] == ["unknown-input"]
    assert graph.warnings == []


def test_a_block_reading_its_own_name_reads_nothing(tmp_path: Path) -> None:
    graph = graph_of(tmp_path, {"reader.py": "n = reader\n"})
    assert found(graph) == [("reader", "reader", 1)]
