"""Template blocks, written into a real pipeline and run: each gives the right values."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from support import CLI, ProjectFolder

from cairn import service
from cairn.ai.context import build_context
from cairn.ai.templates import from_template
from cairn.errors import CairnError

UPSTREAM = {
    "orders.py": """
        import pandas as pd
        orders = pd.DataFrame({
            "order_id": [1, 2, 3, 4, 5, 6], "customer_id": [1, 2, 1, 3, 2, 1],
            "region": ["north", "south", "north", "east", "south", "north"],
            "amount": [120.0, 40.0, 60.0, 300.0, 100.0, 20.0],
            "status": ["paid", "open", "paid", "paid", "refunded", "paid"],
            "day": pd.to_datetime(["2026-01-05", "2026-01-06", "2026-01-13", "2026-01-14",
                                   "2026-01-20", "2026-01-21"]),
            "qty": ["1", "2", "3", "4", "5", "6"]})
    """,
    "customers.py": """
        import pandas as pd
        customers = pd.DataFrame({"customer_id": [1, 2], "name": ["Ann", "Bob"]})
    """,
    "signups.py": """
        import pandas as pd
        signups = pd.DataFrame({
            "email": ["a@x.org", "b@x.org", "a@x.org", "c@x.org", "b@x.org"],
            "plan": ["free", "free", "pro", "team", "old"],
            "updated_at": pd.to_datetime(["2026-01-01", "2026-03-01", "2026-02-01",
                                          "2026-01-01", "2026-02-01"])})
    """,
}


@dataclass
class Case:
    name: str
    language: str
    description: str
    template: str
    check: Callable[[pd.DataFrame, Path], object]


def rows(frame: Any, *columns: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in frame[list(columns)].itertuples(index=False))


CASES = [
    Case("latest_signups", "python", "deduplicate signups by email keeping the latest",
         "deduplicate", lambda f, _: rows(f, "email", "plan") == [
             ("a@x.org", "pro"), ("b@x.org", "free"), ("c@x.org", "team")]),
    Case("latest_signups_sql", "sql", "Deduplicate signups by email, keep the latest one",
         "deduplicate", lambda f, _: rows(f, "email", "plan") == [
             ("a@x.org", "pro"), ("b@x.org", "free"), ("c@x.org", "team")]),
    Case("big_orders", "python", "filter orders where amount > 100", "filter",
         lambda f, _: sorted(f["order_id"]) == [1, 4]),
    Case("paid_orders", "sql", "keep only orders where status = 'paid'", "filter",
         lambda f, _: sorted(f["order_id"]) == [1, 3, 4, 6]),
    Case("large_orders_r", "r", "filter orders where amount is at least 100", "filter",
         lambda f, _: sorted(f["order_id"]) == [1, 4, 5]),
    Case("orders_named", "python", "join orders with customers", "join",
         lambda f, _: rows(f, "order_id", "name") == [
             (1, "Ann"), (2, "Bob"), (3, "Ann"), (5, "Bob"), (6, "Ann")]),
    Case("orders_all", "sql", "left join orders and customers on customer_id", "join",
         lambda f, _: len(f) == 6 and f["name"].isna().sum() == 1),
    Case("region_totals", "python", "total amount per region", "aggregate",
         lambda f, _: rows(f, "region", "amount") == [
             ("east", 300.0), ("north", 200.0), ("south", 140.0)]),
    Case("weekly_revenue", "sql", "weekly revenue per region", "aggregate",
         lambda f, _: rows(f, "region", "amount") == [
             ("east", 300.0), ("north", 20.0), ("north", 60.0), ("north", 120.0),
             ("south", 40.0), ("south", 100.0)]
         and sorted(set(pd.to_datetime(f["week"]).dt.strftime("%m-%d"))) == [
             "01-05", "01-12", "01-19"]),
    Case("region_counts_r", "r", "count orders per region", "aggregate",
         lambda f, _: rows(f, "region", "rows") == [("east", 1), ("north", 3), ("south", 2)]),
    Case("typed_orders", "python", "cast qty to integer and day to date", "cast",
         lambda f, _: list(f["qty"]) == [1, 2, 3, 4, 5, 6] and str(f["qty"].dtype) == "Int64"),
    Case("payments", "python", "load the payments CSV from data/payments.csv", "load-file",
         lambda f, _: rows(f, "id", "amount") == [(1, 9.5), (2, 3.0)]),
    Case("events", "python", "read events from file://{root}/data/events.parquet",
         "load-file", lambda f, _: list(f["kind"]) == ["click", "view"]),
    Case("refunds", "python", "load the refunds table from shopdb", "load-table",
         lambda f, _: rows(f, "id", "amount") == [(7, 1.5)]),
    Case("refunds_sql", "sql", "load the refunds table from shopdb", "load-table",
         lambda f, _: rows(f, "id", "amount") == [(7, 1.5)]),
    Case("orders_export", "python", "export orders to out/orders.parquet", "export-file",
         lambda _, root: list(pd.read_parquet(root / "out" / "orders.parquet")["order_id"])
         == [1, 2, 3, 4, 5, 6]),
    Case("customers_export", "python", "write customers into table customers_copy on shopdb",
         "export-table", lambda _, root: sqlite3.connect(root / "shop.sqlite").execute(
             "SELECT group_concat(name) FROM customers_copy").fetchone() == ("Ann,Bob",)),
]
SUFFIX = {"python": ".py", "sql": ".sql", "r": ".R"}


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectFolder, dict[str, str]]:
    """A pipeline run once with its upstream blocks, then again with every template's block."""
    root = tmp_path_factory.mktemp("templates") / "project"
    (root / "data").mkdir(parents=True)
    (root / "cairn.yaml").write_text("name: test\n")
    (root / "io_config.yaml").write_text(
        "default:\n  shopdb:\n    kind: sqlite\n    path: shop.sqlite\n")
    with sqlite3.connect(root / "shop.sqlite") as db:
        db.execute("CREATE TABLE refunds (id INTEGER, amount REAL)")
        db.execute("INSERT INTO refunds VALUES (7, 1.5)")
    (root / "data" / "payments.csv").write_text("id,amount\n1,9.5\n2,3.0\n")
    pd.DataFrame({"kind": ["click", "view"]}).to_parquet(root / "data" / "events.parquet")
    project = ProjectFolder(root)
    project.pipeline("shop", UPSTREAM)
    CLI.run("run", "shop", cwd=root, check=True)
    codes: dict[str, str] = {}
    for case in CASES:
        context = build_context(project.load(), "shop", case.language)
        block = from_template(case.description.format(root=root), case.language, case.name,
                              context)
        assert block.template == case.template, case.name
        codes[case.name] = block.code
        (root / "pipelines" / "shop" / (case.name + SUFFIX[case.language])).write_text(
            block.code)
    result = CLI.run("run", "shop", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr + "\n".join(codes.values())
    return project, codes


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_template_block_runs_and_gives_the_right_values(
        ran: tuple[ProjectFolder, dict[str, str]], case: Case) -> None:
    project, codes = ran
    values = service.read_output(project.load(), "shop", case.name)
    assert case.check(values[case.name], project.root), codes[case.name]
    assert f"(written by Cairn's `{case.template}` template)" in codes[case.name]


def test_python_templates_log_and_check_their_columns(
        ran: tuple[ProjectFolder, dict[str, str]]) -> None:
    _, codes = ran
    assert "context.logger.info(" in codes["big_orders"]
    assert "raise KeyError" in codes["big_orders"] and '{"amount"}' in codes["big_orders"]
    assert 'stop("orders has no column "' in codes["large_orders_r"]


def test_a_missing_column_fails_the_block_with_its_name(project: ProjectFolder,
                                                         cli: type[CLI]) -> None:
    folder = project.pipeline("p", {"orders.py": "import pandas as pd\n"
                                                 "orders = pd.DataFrame({'email': ['a']})\n"})
    cli.run("run", "p", cwd=project.root, check=True)
    block = from_template("deduplicate orders by email", "python", "unique_orders",
                          build_context(project.load(), "p", "python"))
    assert block.template == "deduplicate"
    (folder / "unique_orders.py").write_text(block.code)
    # The upstream changes after the block was written: the block says what it misses.
    (folder / "orders.py").write_text("import pandas as pd\norders = pd.DataFrame({'id': [1]})\n")
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode != 0
    assert "orders has no column ['email']" in result.stdout + result.stderr


def test_unknown_description_lists_the_keywords(
        ran: tuple[ProjectFolder, dict[str, str]]) -> None:
    project, _ = ran
    context = build_context(project.load(), "shop", "python")
    with pytest.raises(CairnError) as raised:
        from_template("make me a sandwich", "python", "lunch", context)
    problem = raised.value.problems[0]
    assert problem.kind == "no-template"
    assert problem.hint is not None
    assert "deduplicate:" in problem.hint and "aggregate:" in problem.hint


def test_r_says_which_templates_it_lacks(ran: tuple[ProjectFolder, dict[str, str]]) -> None:
    project, _ = ran
    context = build_context(project.load(), "shop", "r")
    with pytest.raises(CairnError) as raised:
        from_template("deduplicate signups by email", "r", "x", context)
    assert raised.value.problems[0].kind == "no-template"
    assert "--language python" in (raised.value.problems[0].hint or "")


def test_a_column_the_schema_lacks_is_named(
        ran: tuple[ProjectFolder, dict[str, str]]) -> None:
    project, _ = ran
    context = build_context(project.load(), "shop", "python")
    with pytest.raises(CairnError) as raised:
        from_template("total amount per regoin", "python", "x", context)
    assert raised.value.problems[0].kind == "unknown-column"
    assert "region" in (raised.value.problems[0].hint or "")
