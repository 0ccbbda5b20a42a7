"""SQL blocks in the embedded DuckDB warehouse, mixed with Python blocks."""

from __future__ import annotations

import duckdb
import pytest
from support import ProjectFolder, RecordingObserver

from cairn import service


def warehouse_rows(project: ProjectFolder, query: str) -> list[tuple[object, ...]]:
    connection = duckdb.connect(str(project.load().warehouse_path), read_only=True)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


@pytest.mark.parametrize("frame", [
    "pandas.DataFrame({'k': [1, 2, 2], 'v': [10.0, 20.0, 30.0]})",
    "polars.DataFrame({'k': [1, 2, 2], 'v': [10.0, 20.0, 30.0]})",
    "pyarrow.table({'k': [1, 2, 2], 'v': [10.0, 20.0, 30.0]})",
], ids=["pandas", "polars", "arrow"])
def test_sql_reads_python_frames_and_python_reads_sql_tables(
        project: ProjectFolder, observer: RecordingObserver, frame: str) -> None:
    project.pipeline("p", {
        "facts.py": f"import pandas, polars, pyarrow\nfacts = {frame}\n",
        "sums.sql": "SELECT k, sum(v) AS total FROM facts GROUP BY k ORDER BY k\n",
        "check.py": "check = sums.to_dict('list')\n",
    })
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success", observer.outcomes
    assert warehouse_rows(project, "SELECT * FROM sums") == [(1, 10.0), (2, 50.0)]
    assert service.read_output(project.load(), "p", "check") == {
        "check": {"k": [1, 2], "total": [10.0, 50.0]}}
    assert observer.outcomes["sums"].rows_out == 2


def test_jinja_ref_var_set_and_for(project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "base.sql": "SELECT * FROM range(10) t(n)\n",
        "picked.sql": """
            -- cairn: materialize=view
            {% set columns = ['n', 'n * 2 AS twice'] %}
            SELECT {% for c in columns %}{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}
            FROM {{ ref('base') }}
            WHERE n >= {{ var('low') }}
        """,
    }, "variables:\n  low: 7\n")
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success", observer.outcomes
    assert warehouse_rows(project, "SELECT * FROM picked ORDER BY n") == [
        (7, 14), (8, 16), (9, 18)]
    assert warehouse_rows(
        project, "SELECT table_type FROM information_schema.tables WHERE table_name='picked'"
    ) == [("VIEW",)]


def test_sql_error_names_block_statement_and_line(project: ProjectFolder,
                                                  observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "bad.sql": """
            CREATE TEMP TABLE helper AS SELECT 1 AS one;

            SELECT one, missing_column
            FROM helper
        """,
    })
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "failed"
    failure = observer.outcomes["bad"].failure
    assert failure is not None
    assert failure.file is not None and failure.file.endswith("bad.sql")
    assert failure.line == 3
    assert "statement 2" in failure.message and "missing_column" in failure.message
    assert "SELECT one, missing_column FROM helper" in failure.traceback


def test_failed_replace_keeps_the_previous_table(project: ProjectFolder,
                                                 observer: RecordingObserver) -> None:
    folder = project.pipeline("p", {"t.sql": "SELECT 42 AS answer\n"})
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    (folder / "t.sql").write_text("SELECT 1 / 0 AS answer, error('boom')\n")
    assert service.run_pipeline(project.load(), "p", observer).status == "failed"
    assert warehouse_rows(project, "SELECT * FROM t") == [(42,)]


def test_last_statement_must_be_a_query(project: ProjectFolder,
                                        observer: RecordingObserver) -> None:
    project.pipeline("p", {"ddl.sql": "CREATE TABLE elsewhere AS SELECT 1 AS x\n"})
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "failed"
    failure = observer.outcomes["ddl"].failure
    assert failure is not None and "must be a query" in failure.message


def test_view_over_python_output_is_refused(project: ProjectFolder,
                                            observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "frame.py": "import pandas\nframe = pandas.DataFrame({'a': [1]})\n",
        "v.sql": "SELECT * FROM frame\n",
    }, "blocks:\n  - name: v\n    materialize: view\n")
    result = service.run_pipeline(project.load(), "p", observer)
    failure = observer.outcomes["v"].failure
    assert result.status == "failed" and failure is not None
    assert "a view cannot read tables from outside its database (frame)" in failure.message
