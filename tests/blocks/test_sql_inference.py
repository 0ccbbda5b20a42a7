"""Which tables a SQL block reads, one row per case: SQL in, referenced tables and lines out."""

from __future__ import annotations

import textwrap

import pytest

from cairn.blocks.sql_analysis import analyze_sql
from cairn.errors import CairnError

FILE = "pipelines/demo/block.sql"
VARIABLES = {"region": "eu", "tables": ["north", "south"], "limit": 5}


def references(code: str) -> dict[str, int]:
    source = textwrap.dedent(code).lstrip("\n")
    return analyze_sql(source, FILE, VARIABLES).references


REFERENCE_CASES = [
    # -- FROM and JOIN -------------------------------------------------------------------
    pytest.param("select * from orders", {"orders": 1}, id="from"),
    pytest.param(
        """
        select *
        from orders o
        join customers c on o.customer_id = c.id
        left join regions using (region_id)
        """,
        {"orders": 2, "customers": 3, "regions": 4},
        id="join",
    ),
    pytest.param("select * from a, b", {"a": 1, "b": 1}, id="comma-join"),
    pytest.param("select * from a union all select * from b", {"a": 1, "b": 1}, id="union"),
    pytest.param('select * from "Order Lines"', {"Order Lines": 1}, id="quoted-name"),
    # -- CTEs and subqueries -------------------------------------------------------------
    pytest.param(
        """
        with recent as (select * from orders)
        select * from recent
        """,
        {"orders": 1},
        id="cte-is-not-a-reference",
    ),
    pytest.param(
        "with orders as (select 1 as x) select * from orders", {}, id="cte-hides-table"
    ),
    pytest.param(
        """
        with recursive n(i) as (select 1 union all select i + 1 from n where i < 5)
        select * from n
        """,
        {},
        id="recursive-cte",
    ),
    pytest.param(
        "select * from (select * from orders) s where id in (select id from vip)",
        {"orders": 1, "vip": 1},
        id="subqueries",
    ),
    pytest.param(
        "select (select max(x) from b where b.k = a.k) from a where exists (select 1 from c)",
        {"a": 1, "b": 1, "c": 1},
        id="correlated-subqueries",
    ),
    # -- things that are not tables ------------------------------------------------------
    pytest.param("select * from 'data.csv'", {}, id="file-name"),
    pytest.param("select * from 'data/orders.parquet'", {}, id="file-path"),
    pytest.param("select * from 'https://example.com/orders.csv'", {}, id="url"),
    pytest.param("select * from read_csv('data.csv')", {}, id="read-csv"),
    pytest.param(
        "select * from read_parquet('f.parquet') p join dim on p.k = dim.k",
        {"dim": 1},
        id="table-function-joined-to-table",
    ),
    pytest.param("select * from (values (1), (2)) v(x)", {}, id="values"),
    # -- schemas -------------------------------------------------------------------------
    pytest.param("select * from main.orders", {"orders": 1}, id="main-schema"),
    pytest.param("select * from other.orders", {}, id="other-schema"),
    pytest.param("select * from db.main.orders", {}, id="catalog"),
    # -- Jinja ---------------------------------------------------------------------------
    pytest.param("select *\nfrom {{ ref('orders') }}", {"orders": 2}, id="ref"),
    pytest.param(
        "select * from {{ ref('orders') }} where region = '{{ var('region') }}'",
        {"orders": 1},
        id="var",
    ),
    pytest.param(
        "select * from orders limit {{ var('missing', 10) }}", {"orders": 1}, id="var-default"
    ),
    pytest.param(
        "{% for t in var('tables') %}{% if not loop.first %} union all {% endif %}"
        "select * from {{ t }}{% endfor %}",
        {"north": 1, "south": 1},
        id="for-loop",
    ),
    pytest.param(
        """
        {% set source = 'orders' %}
        select * from {{ source }}
        """,
        {"orders": 2},
        id="set",
    ),
    # -- several statements --------------------------------------------------------------
    pytest.param(
        """
        create table staging as select * from raw;
        select * from staging join customers using (id)
        """,
        {"raw": 1, "customers": 2},
        id="created-table-is-local",
    ),
    pytest.param(
        """
        create table main.staging as select * from raw;
        select * from staging
        """,
        {"raw": 1},
        id="created-main-table-is-local",
    ),
    pytest.param(
        """
        create or replace view recent as select * from orders;
        select * from recent
        """,
        {"orders": 1},
        id="created-view-is-local",
    ),
    pytest.param(
        """
        create table t (x int);
        insert into t select x from source;
        select * from t
        """,
        {"source": 2},
        id="created-with-columns-then-inserted",
    ),
    pytest.param(
        """
        select count(*) from staging;
        create table staging as select 1 as x;
        select * from staging
        """,
        {"staging": 1},
        id="read-before-create",
    ),
    pytest.param(
        """
        drop table if exists staging;
        create table staging as select * from raw;
        select * from staging
        """,
        {"raw": 2},
        id="drop-is-not-a-reference",
    ),
    pytest.param(
        """
        create macro double(x) as x * 2;
        select double(amount) from orders
        """,
        {"orders": 2},
        id="macro-is-not-a-table",
    ),
    pytest.param(
        """
        insert into audit select * from staged;
        delete from events where id in (select id from bad);
        select * from events
        """,
        {"audit": 1, "staged": 1, "events": 2, "bad": 2},
        id="changed-tables-are-references",
    ),
    pytest.param("-- cairn: materialize=view\nselect * from orders", {"orders": 2}, id="header"),
]


@pytest.mark.parametrize(("code", "expected"), REFERENCE_CASES)
def test_references(code: str, expected: dict[str, int]) -> None:
    assert references(code) == expected


ERROR_CASES = [
    pytest.param("select *\nfrom orders\nwhere (", "sql-syntax-error", 3, id="sql-syntax-error"),
    pytest.param("select 1;\nselect * fro orders", "sql-syntax-error", 2,
                 id="sql-syntax-error-second-statement"),
    pytest.param("select {{ var('nope') }}", "unknown-variable", None, id="unknown-var"),
    pytest.param("select {{ nope }}", "template-error", None, id="undefined-jinja-name"),
    pytest.param("select 1\n{% if %}", "template-error", 2, id="jinja-syntax-error"),
    pytest.param("-- nothing here", "empty-block", None, id="empty"),
]


@pytest.mark.parametrize(("code", "kind", "line"), ERROR_CASES)
def test_errors(code: str, kind: str, line: int | None) -> None:
    with pytest.raises(CairnError) as raised:
        references(code)
    [problem] = raised.value.problems
    assert (problem.kind, problem.file, problem.line) == (kind, FILE, line)
