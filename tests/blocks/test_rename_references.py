"""Rewriting a block's references to a renamed name: source in, source out, by position."""

from __future__ import annotations

import textwrap

import pytest

from cairn.blocks.rename import rename_python_input, rename_sql_table
from cairn.errors import CairnError


def dedent(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


PYTHON_CASES = [
    pytest.param("x = orders + 1\n", "x = sales + 1\n", id="free-name"),
    pytest.param("x = orders.orders  # orders\ny = 'orders'\n",
                 "x = sales.orders  # orders\ny = 'orders'\n",
                 id="not-attributes-strings-comments"),
    pytest.param("x = dict(orders=orders)\n", "x = dict(orders=sales)\n",
                 id="not-keyword-names"),
    pytest.param("label = f'{orders!r}: {len(orders)}'\n",
                 "label = f'{sales!r}: {len(sales)}'\n", id="f-string"),
    pytest.param("""
        def local(orders):
            return orders
        def free():
            return [orders for _ in range(2)]
        """, """
        def local(orders):
            return orders
        def free():
            return [sales for _ in range(2)]
        """, id="parameters-are-locals"),
    pytest.param("""
        class Report:
            orders = 1
            size = orders
            def read(self):
                return orders
        """, """
        class Report:
            orders = 1
            size = orders
            def read(self):
                return sales
        """, id="class-attribute-is-not-the-input"),
    pytest.param("é = 'ü'; n = (é, orders)\n", "é = 'ü'; n = (é, sales)\n", id="non-ascii"),
    pytest.param("orders = 1\nx = orders\n", "orders = 1\nx = orders\n", id="own-name-untouched"),
    pytest.param("""
        from cairn import block

        @block
        def report(orders, limit=10):
            first = lambda: orders[0]
            return orders[:limit], first
        def other(orders):
            return orders
        """, """
        from cairn import block

        @block
        def report(sales, limit=10):
            first = lambda: sales[0]
            return sales[:limit], first
        def other(orders):
            return orders
        """, id="function-style-parameter"),
]


@pytest.mark.parametrize(("before", "after"), PYTHON_CASES)
def test_python(before: str, after: str) -> None:
    assert rename_python_input(dedent(before), "b.py", "orders", "sales") == dedent(after)


SQL_CASES = [
    pytest.param("SELECT * FROM orders\n", "SELECT * FROM sales\n", id="plain"),
    pytest.param("-- orders\nSELECT 'orders' AS orders FROM orders o\n",
                 "-- orders\nSELECT 'orders' AS orders FROM sales o\n",
                 id="not-comments-strings-columns"),
    pytest.param('SELECT * FROM "orders" JOIN main.orders m ON true\n',
                 'SELECT * FROM "sales" JOIN main.sales m ON true\n', id="quoted-and-schema"),
    pytest.param("WITH orders AS (SELECT 1) SELECT * FROM orders\n",
                 "WITH orders AS (SELECT 1) SELECT * FROM orders\n", id="cte-untouched"),
    pytest.param("""
        CREATE TEMP TABLE recent AS SELECT * FROM orders;
        SELECT * FROM recent WHERE id IN (SELECT id FROM orders)
        """, """
        CREATE TEMP TABLE recent AS SELECT * FROM sales;
        SELECT * FROM recent WHERE id IN (SELECT id FROM sales)
        """, id="several-statements"),
]


@pytest.mark.parametrize(("before", "after"), SQL_CASES)
def test_sql(before: str, after: str) -> None:
    assert rename_sql_table(dedent(before), "b.sql", "orders", "sales", "duckdb") == dedent(after)


def test_templated_sql_is_left_to_the_user() -> None:
    assert rename_sql_table("SELECT * FROM {{ ref('orders') }}\n", "b.sql", "orders", "sales",
                            "duckdb") is None


def test_a_syntax_error_is_a_problem() -> None:
    with pytest.raises(CairnError):
        rename_python_input("x = (orders\n", "b.py", "orders", "sales")
