"""What a Python block defines and reads, one row per case: code in, names and lines out."""

from __future__ import annotations

import textwrap

import pytest

from cairn.blocks.python_analysis import PythonAnalysis, analyze_python, parse_python
from cairn.errors import CairnError

FILE = "pipelines/demo/block.py"


def analyze(code: str, block_name: str = "block") -> PythonAnalysis:
    source = textwrap.dedent(code).lstrip("\n")
    return analyze_python(parse_python(source, FILE), FILE, block_name)


def unsupported(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


SCRIPT_CASES = [
    # -- assignment ----------------------------------------------------------------------
    pytest.param("x = a + 1", {"x": 1}, {"a": 1}, id="simple-assign"),
    pytest.param("x = y = source", {"x": 1, "y": 1}, {"source": 1}, id="chained-assign"),
    pytest.param(
        "a, (b, c) = pair", {"a": 1, "b": 1, "c": 1}, {"pair": 1}, id="tuple-unpacking"
    ),
    pytest.param(
        "first, *middle, last = seq",
        {"first": 1, "middle": 1, "last": 1},
        {"seq": 1},
        id="star-unpacking",
    ),
    pytest.param(
        """
        total = 0
        total += step
        """,
        {"total": 1},
        {"step": 2},
        id="augmented-assign",
    ),
    pytest.param("total += 1", {"total": 1}, {}, id="augmented-assign-is-own-name"),
    pytest.param("x = x + 1", {"x": 1}, {}, id="read-and-bound-is-own-name"),
    pytest.param("x: int = a\ny: str", {"x": 1}, {"a": 1}, id="annotated-assign"),
    pytest.param("label = f'{name}: {value:>{width}}'", {"label": 1},
                 {"name": 1, "value": 1, "width": 1}, id="f-string"),
    # -- global, nonlocal, del -----------------------------------------------------------
    pytest.param(
        """
        def setup():
            global settings
            settings = defaults
        setup()
        """,
        {"settings": 3},
        {"defaults": 3},
        id="global-in-function-defines",
    ),
    pytest.param(
        """
        def read():
            global settings
            return settings
        """,
        {},
        {"settings": 3},
        id="global-in-function-reads",
    ),
    pytest.param(
        """
        def counter():
            n = 0
            def bump():
                nonlocal n
                n += step
            bump()
            return n
        count = counter()
        """,
        {"count": 8},
        {"step": 5},
        id="nonlocal",
    ),
    pytest.param("tmp = 1\ndel tmp", {}, {}, id="del-removes-output"),
    pytest.param("x = 1\ndel x\nx = 2", {"x": 1}, {}, id="del-then-bind-again"),
    pytest.param("del frame", {}, {"frame": 1}, id="del-of-input-reads-it"),
    # -- walrus --------------------------------------------------------------------------
    pytest.param(
        """
        if (n := len(rows)) > limit:
            pass
        """,
        {"n": 1},
        {"rows": 1, "limit": 1},
        id="walrus-top-level",
    ),
    pytest.param(
        "kept = [y for x in rows if (y := x * factor)]",
        {"kept": 1, "y": 1},
        {"rows": 1, "factor": 1},
        id="walrus-in-comprehension-binds-outside",
    ),
    pytest.param(
        """
        def f():
            return (w := source)
        result = f()
        """,
        {"result": 3},
        {"source": 2},
        id="walrus-in-function-is-local",
    ),
    # -- functions, decorators, lambdas --------------------------------------------------
    pytest.param(
        """
        def f(p=default_p, *, q=default_q):
            return p + q
        r = f()
        """,
        {"r": 3},
        {"default_p": 1, "default_q": 1},
        id="default-arguments-read-outside",
    ),
    pytest.param(
        """
        def f(rows=rows):
            return rows
        """,
        {},
        {"rows": 1},
        id="default-named-like-parameter",
    ),
    pytest.param(
        """
        @cache
        def f():
            pass
        @register(kind)
        class C:
            pass
        """,
        {},
        {"cache": 1, "register": 4, "kind": 4},
        id="decorators-read-outside",
    ),
    pytest.param(
        """
        def f():
            tmp = source
            return tmp
        out = f()
        """,
        {"out": 4},
        {"source": 2},
        id="function-locals-do-not-leak",
    ),
    pytest.param(
        """
        def f():
            x: int
            return x
        """,
        {},
        {},
        id="annotation-only-makes-local",
    ),
    pytest.param(
        """
        def f():
            return later
        later = 1
        value = f()
        """,
        {"later": 3, "value": 4},
        {},
        id="function-reads-name-bound-later",
    ),
    pytest.param(
        "f = lambda q, r=default_r: q + r + outer",
        {"f": 1},
        {"default_r": 1, "outer": 1},
        id="lambda",
    ),
    pytest.param(
        """
        def helper():
            pass
        class Model:
            pass
        """,
        {},
        {},
        id="functions-and-classes-are-not-outputs",
    ),
    # -- classes -------------------------------------------------------------------------
    pytest.param(
        """
        class Config:
            threshold = base
            def scale(self):
                return factor * 2
        config = Config()
        """,
        {"config": 5},
        {"base": 2, "factor": 4},
        id="class-body-does-not-leak",
    ),
    pytest.param(
        """
        class C:
            limit = 1
            def check(self):
                return limit
        """,
        {},
        {"limit": 4},
        id="method-reads-module-not-class",
    ),
    pytest.param(
        """
        class C:
            xs = [1, 2]
            ys = [x for x in xs]
            zs = [xs for _ in range(2)]
        """,
        {},
        {"xs": 4},
        id="comprehension-in-class-body",
    ),
    # -- match ---------------------------------------------------------------------------
    pytest.param(
        """
        match command:
            case [first, *rest]:
                pass
            case {"kind": kind, **extra}:
                pass
            case Point(x=px) as point:
                pass
            case Color.RED:
                pass
        """,
        {"first": 2, "rest": 2, "kind": 4, "extra": 4, "px": 6, "point": 6},
        {"command": 1, "Point": 6, "Color": 8},
        id="match-captures",
    ),
    # -- exceptions, imports -------------------------------------------------------------
    pytest.param(
        """
        try:
            value = parse(raw)
        except ValueError as error:
            message = str(error)
        """,
        {"value": 2, "message": 4},
        {"parse": 2, "raw": 2},
        id="except-as-is-not-an-output",
    ),
    pytest.param("import a.b\nv = a.b.c", {"v": 2}, {}, id="import-dotted-binds-first-part"),
    pytest.param("import numpy as np\nv = np.pi", {"v": 2}, {}, id="import-as"),
    pytest.param(
        "from x import y as z\nv = z + y", {"v": 2}, {"y": 2}, id="from-import-as-binds-alias"
    ),
    # -- comprehensions ------------------------------------------------------------------
    pytest.param(
        "squares = [i * i for i in nums if i > low]",
        {"squares": 1},
        {"nums": 1, "low": 1},
        id="list-comprehension",
    ),
    pytest.param("uniq = {s for s in items}", {"uniq": 1}, {"items": 1}, id="set-comprehension"),
    pytest.param(
        "index = {k: v for k, v in pairs}", {"index": 1}, {"pairs": 1}, id="dict-comprehension"
    ),
    pytest.param("total = sum(n for n in nums)", {"total": 1}, {"nums": 1}, id="generator"),
    pytest.param(
        "flat = [c for row in grid for c in row if c > low]",
        {"flat": 1},
        {"grid": 1, "low": 1},
        id="comprehension-two-loops",
    ),
    pytest.param(
        "copy = [[c for c in row] for row in grid]",
        {"copy": 1},
        {"grid": 1},
        id="nested-comprehension",
    ),
    pytest.param("same = [i for i in i]", {"same": 1}, {"i": 1}, id="first-iterator-is-outside"),
    pytest.param(
        "squares = [n for n in nums]\nlast = n",
        {"squares": 1, "last": 2},
        {"nums": 1, "n": 2},
        id="comprehension-variable-does-not-leak",
    ),
    # -- mutation ------------------------------------------------------------------------
    pytest.param("frame.total = 1", {}, {"frame": 1}, id="attribute-mutation-reads"),
    pytest.param("lookup['k'] = 1", {}, {"lookup": 1}, id="subscript-mutation-reads"),
    pytest.param("counts['a'] += 1", {}, {"counts": 1}, id="subscript-augmented-reads"),
    # -- names that are never inputs or outputs ------------------------------------------
    pytest.param("n = len(rows) + sum(rows)\nprint(n)", {"n": 1}, {"rows": 1}, id="builtins"),
    pytest.param("max = 10\nvalue = max", {"max": 1, "value": 2}, {}, id="builtin-rebound"),
    pytest.param("_tmp = raw * 2\nresult = _tmp", {"result": 2}, {"raw": 1}, id="private"),
    pytest.param("name = __name__", {"name": 1}, {}, id="dunder"),
    pytest.param("run = context.run_id\ncontext = 1", {"run": 1}, {}, id="context-reserved"),
    # -- for / with ----------------------------------------------------------------------
    pytest.param(
        """
        for row in rows:
            last = row
        """,
        {"row": 1, "last": 2},
        {"rows": 1},
        id="for-target",
    ),
    pytest.param(
        """
        with open(path) as handle, lock:
            text = handle.read()
        """,
        {"handle": 1, "text": 2},
        {"path": 1, "lock": 1},
        id="with-target",
    ),
    # -- deliberately unsupported --------------------------------------------------------
    pytest.param(
        "globals()['x'] = 1",
        {"x": 1},
        {},
        id="globals-assignment",
        marks=unsupported("names created through globals() are invisible to static analysis"),
    ),
    pytest.param(
        "exec('x = 1')",
        {"x": 1},
        {},
        id="exec",
        marks=unsupported("code run by exec() is not analysed"),
    ),
    pytest.param(
        "from helpers import *\ny = x",
        {"y": 2},
        {},
        id="star-import",
        marks=unsupported("names bound by `from m import *` are unknown, so they count as inputs"),
    ),
]


@pytest.mark.parametrize(("code", "defines", "references"), SCRIPT_CASES)
def test_script_block(code: str, defines: dict[str, int], references: dict[str, int]) -> None:
    analysis = analyze(code)
    assert analysis.style == "script"
    assert analysis.defines == defines
    assert analysis.references == references


def test_script_block_lists_test_functions() -> None:
    analysis = analyze(
        """
        total = 1
        def test_total():
            assert total == 1
        async def test_async():
            pass
        def helper():
            pass
        """
    )
    assert analysis.defines == {"total": 1}
    assert analysis.tests == ["test_total", "test_async"]


FUNCTION_CASES = [
    pytest.param(
        """
        from cairn import block

        @block
        def enriched(orders, customers, limit=10, *, region="eu", strict):
            return orders
        """,
        4,
        ["orders", "customers", "limit", "region", "strict"],
        {"limit", "region"},
        id="parameters-and-defaults",
    ),
    pytest.param(
        """
        from cairn import block

        @block
        def enriched(context, orders):
            return orders
        """,
        4,
        ["context", "orders"],
        set(),
        id="context-is-not-an-input",
    ),
    pytest.param(
        """
        import cairn

        @cairn.block
        def f(a, b=1, /, c=2, *args, d, e=None, **kwargs):
            return a
        """,
        4,
        ["a", "b", "c", "d", "e"],
        {"b", "c", "e"},
        id="all-parameter-kinds",
    ),
    pytest.param(
        """
        from cairn import block

        helper = upstream_value

        @block
        def f(rows):
            return rows + helper
        """,
        6,
        ["rows"],
        set(),
        id="module-code-is-not-an-input",
    ),
]


@pytest.mark.parametrize(("code", "line", "parameters", "optional"), FUNCTION_CASES)
def test_function_block(code: str, line: int, parameters: list[str], optional: set[str]) -> None:
    analysis = analyze(code, block_name="my_block")
    assert analysis.style == "function"
    assert analysis.defines == {"my_block": line}
    assert analysis.parameters == parameters
    assert analysis.optional_parameters == optional
    assert analysis.references == {p: line for p in parameters if p != "context"}


def test_function_block_lists_test_functions() -> None:
    analysis = analyze(
        """
        from cairn import block

        @block
        def totals(orders):
            return len(orders)

        def test_positive(totals):
            assert totals > 0
        """,
        block_name="totals",
    )
    assert analysis.function_name == "totals"
    assert analysis.tests == ["test_positive"]


ERROR_CASES = [
    pytest.param(
        """
        from cairn import block

        @block
        def a():
            pass

        @block
        def b():
            pass
        """,
        "multiple-block-functions",
        8,
        id="two-block-functions",
    ),
    pytest.param("x = 1\ny = (\nz = 2", "syntax-error", 2, id="syntax-error"),
    pytest.param("def f(:\n    pass", "syntax-error", 1, id="syntax-error-in-signature"),
]


@pytest.mark.parametrize(("code", "kind", "line"), ERROR_CASES)
def test_block_error(code: str, kind: str, line: int) -> None:
    with pytest.raises(CairnError) as raised:
        analyze(code)
    [problem] = raised.value.problems
    assert (problem.kind, problem.file, problem.line) == (kind, FILE, line)
