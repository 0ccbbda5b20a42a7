"""What an R block defines and reads, one row per case: code in, names and lines out."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.blocks.parse import parse_block
from cairn.blocks.r_analysis import RAnalysis, analyze_r
from cairn.errors import CairnError
from cairn.graph.build import build_graph
from cairn.ids import BlockName

pytestmark = pytest.mark.skipif(
    shutil.which("Rscript") is None,
    reason="R is not installed (the test command installs r-base-core and r-cran-jsonlite "
    "from Debian's packages when it runs as root)")


def unsupported(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


CASES = [
    # -- assignment ----------------------------------------------------------------------
    pytest.param("x <- a + 1", {"x": 1}, {"a": 1}, id="left-arrow"),
    pytest.param("x = a", {"x": 1}, {"a": 1}, id="equals"),
    pytest.param("x <<- a", {"x": 1}, {"a": 1}, id="super-assign"),
    pytest.param("a -> x", {"x": 1}, {"a": 1}, id="right-arrow"),
    pytest.param("a ->> x", {"x": 1}, {"a": 1}, id="right-super-assign"),
    pytest.param("x <- y <- a", {"x": 1, "y": 1}, {"a": 1}, id="chained-assign"),
    pytest.param("(x <- a)", {"x": 1}, {"a": 1}, id="parenthesised-assign"),
    pytest.param("x <- 1\nx <- x + a", {"x": 1}, {"a": 2}, id="first-line-of-each-name"),
    pytest.param("x <- x + 1", {"x": 1}, {}, id="read-and-bound-is-own-name"),
    pytest.param("`my total` <- 1\ny <- `my total` + `other name` + `z`",
                 {"my total": 1, "y": 2}, {"other name": 2, "z": 2}, id="backtick-names"),
    pytest.param(
        """
        if (n > 0) {
          s <- a
        } else {
          s <- b
        }
        """,
        {"s": 2},
        {"n": 1, "a": 2, "b": 4},
        id="if-else-branches-define",
    ),
    pytest.param("while (k < limit) k <- k + 1", {"k": 1}, {"limit": 1}, id="while"),
    pytest.param("x <- # why\n  a", {"x": 1}, {"a": 2}, id="comment-inside"),
    pytest.param("", {}, {}, id="empty-file"),
    # -- dplyr, formulas: column names are references like any symbol ----------------------
    pytest.param(
        """
        library(dplyr)
        summary <- orders |>
          filter(amount > 0) |>
          group_by(region) |>
          summarise(total = sum(amount), n = n())
        """,
        {"summary": 2},
        {"orders": 2, "amount": 3, "region": 4},
        id="dplyr-native-pipe",
    ),
    pytest.param("s <- orders %>% mutate(value = price * qty)", {"s": 1},
                 {"orders": 1, "price": 1, "qty": 1}, id="magrittr-pipe"),
    pytest.param("x <- dplyr::filter(d, v > 1)", {"x": 1}, {"d": 1, "v": 1},
                 id="namespaced-call"),
    pytest.param("fit <- lm(y ~ x + log(z), data = d)", {"fit": 1},
                 {"y": 1, "x": 1, "z": 1, "d": 1}, id="formula"),
    pytest.param("dt[, total := price * qty]", {}, {"dt": 1, "total": 1, "price": 1, "qty": 1},
                 id="data-table-walrus-binds-nothing"),
    # -- what is not a reference -----------------------------------------------------------
    pytest.param("x <- orders$amount + model@coef", {"x": 1}, {"orders": 1, "model": 1},
                 id="dollar-and-at"),
    pytest.param("x <- f(a = 1, b = c)", {"x": 1}, {"c": 1}, id="named-arguments"),
    pytest.param("y <- fn(2)\nz <- sapply(v, mean)", {"y": 1, "z": 2}, {"v": 2, "mean": 2},
                 id="called-names-only"),
    pytest.param("library(pkg)\nrequire(other)\nlibrary(third, lib.loc = where)", {},
                 {"where": 3}, id="library"),
    pytest.param("run <- context$run_id", {"run": 1}, {}, id="context-is-not-an-input"),
    # -- functions -------------------------------------------------------------------------
    pytest.param("f <- function(p, q = r) p + q + s", {}, {"r": 1, "s": 1},
                 id="parameters-and-function-not-output"),
    pytest.param("g <- \\(p) p + z", {}, {"z": 1}, id="lambda"),
    pytest.param("f <- function(n, m = n) m", {}, {}, id="default-named-like-parameter"),
    pytest.param(
        """
        f <- function() {
          loc <- 1
          loc + outer
        }
        res <- f()
        """,
        {"res": 5},
        {"outer": 3},
        id="function-locals-do-not-leak",
    ),
    pytest.param("f <- function(xs) { for (k in xs) acc <- k; acc + glob }", {}, {"glob": 1},
                 id="loop-in-function-is-local"),
    # -- private names -------------------------------------------------------------------
    pytest.param(".tmp <- raw * 2\nresult <- .tmp + .other", {"result": 2}, {"raw": 1},
                 id="dotted-names-are-private"),
    # -- mutation: reads the object, defines nothing --------------------------------------
    pytest.param("x$a <- 1", {}, {"x": 1}, id="dollar-mutation"),
    pytest.param("x[[\"a\"]] <- 1\ny[1] <- 2", {}, {"x": 1, "y": 2}, id="index-mutation"),
    pytest.param("names(x) <- cols", {}, {"x": 1, "cols": 1}, id="replacement-function"),
    pytest.param("x <- data.frame(a = 1)\nx$b <- 2\nnames(x) <- n", {"x": 1}, {"n": 3},
                 id="mutation-of-own-output"),
    # -- for loops: the variable is the block's, not an output ----------------------------
    pytest.param(
        """
        total <- 0
        for (row in rows) {
          total <- total + row
          last <- row
        }
        """,
        {"total": 1, "last": 4},
        {"rows": 2},
        id="for-loop",
    ),
    # -- deliberately unsupported --------------------------------------------------------
    pytest.param(
        "suppressWarnings(x <- as.numeric(s))",
        {"x": 1},
        {"s": 1},
        id="assign-inside-call-argument",
        marks=unsupported("a call may evaluate its arguments elsewhere (local, with)"),
    ),
    pytest.param(
        "assign('v', 1)",
        {"v": 1},
        {},
        id="assign-function",
        marks=unsupported("names made by assign() are invisible to static analysis"),
    ),
]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Every case's file analysed by one Rscript call, as pipelines are."""
    folder = tmp_path_factory.mktemp("r-cases")
    paths = {}
    for case in CASES:
        name, code = str(case.id), str(case.values[0])
        paths[name] = folder / f"{name}.R"
        paths[name].write_text(textwrap.dedent(code).lstrip("\n"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder / "cache"))
        results = analyze_r(list(paths.values()))
    yield {name: results[path] for name, path in paths.items()}


@pytest.mark.parametrize(("code", "defines", "references"), CASES)
def test_r_names(analysed: dict[str, RAnalysis | CairnError], request: pytest.FixtureRequest,
                 code: str, defines: dict[str, int], references: dict[str, int]) -> None:
    result = analysed[request.node.callspec.id]
    assert isinstance(result, RAnalysis), result
    assert (result.defines, result.references) == (defines, references)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "cairn" / "r-parse"


def write(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(code).lstrip("\n"), encoding="utf-8")
    return path


@pytest.mark.parametrize(("code", "line", "message"), [
    pytest.param("x <- 1\ny <- (2\nz <- 3\n", 3, "unexpected symbol", id="unexpected-symbol"),
    pytest.param("f <- function() {\n  1\n", 3, "unexpected end of input", id="end-of-input"),
    pytest.param("x <- 1 }\n", 1, "unexpected '}'", id="unexpected-brace"),
])
def test_syntax_error_has_file_and_line(tmp_path: Path, cache: Path, code: str, line: int,
                                        message: str) -> None:
    bad = write(tmp_path, "bad.R", code)
    good = write(tmp_path, "good.R", "y <- 1\n")
    results = analyze_r([bad, good])
    error = results[bad]
    assert isinstance(error, CairnError)
    [problem] = error.problems
    assert (problem.kind, problem.file, problem.line) == ("syntax-error", str(bad), line)
    assert problem.message == f"R syntax error: {message}"
    assert results[good] == RAnalysis({"y": 1}, {})  # one bad file spoils no other


def test_second_analysis_reads_the_cache(tmp_path: Path, cache: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    block = write(tmp_path, "block.R", "total <- sum(orders$amount)\n")
    bad = write(tmp_path, "bad.R", "x <- (\n")
    first = analyze_r([block, bad])
    assert len(list(cache.glob("*.json"))) == 2

    def no_r(*args: object, **kwargs: object) -> None:
        raise AssertionError("R was started although the cache holds every file")

    monkeypatch.setattr(subprocess, "run", no_r)
    second = analyze_r([block, bad])
    assert second[block] == first[block] == RAnalysis({"total": 1}, {"orders": 1})
    assert isinstance(second[bad], CairnError) and str(second[bad]) == str(first[bad])

    block.write_text("total <- sum(orders$amount) + extra\n")  # new content: a miss
    with pytest.raises(AssertionError, match="R was started"):
        analyze_r([block])


def test_column_names_make_edges_only_where_a_block_defines_them(
        tmp_path: Path, cache: Path) -> None:
    files = {
        "orders.py": "import pandas as pd\norders = pd.DataFrame({'amount': [1.0]})\n",
        "summary.R": """
            library(dplyr)
            summary <- orders |> group_by(region) |> summarise(total = sum(amount))
        """,
    }
    specs = [parse_block(BlockName(Path(name).stem), write(tmp_path, name, code), {})
             for name, code in files.items()]
    graph = build_graph(specs)
    assert [(e.source, e.target, e.names) for e in graph.edges()] == [
        ("orders", "summary", ("orders",))]
    assert not graph.problems

    # A block that defines a name like a column is read, as Python reads a global.
    specs.append(parse_block(BlockName("region"), write(tmp_path, "region.py", "region = 1\n"),
                             {}))
    graph = build_graph(specs)
    assert {(e.source, e.names) for e in graph.edges()} == {
        ("orders", ("orders",)), ("region", ("region",))}
