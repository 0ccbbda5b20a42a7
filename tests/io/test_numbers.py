"""Numbers leave databases as numbers: sums (HUGEINT, DECIMAL, NUMERIC) reach pandas as
int64/float64, and as Arrow decimals only where a double or int64 would lose digits."""

from __future__ import annotations

import json
from decimal import Decimal

import pyarrow as pa
import pytest
from support import ProjectFolder, RecordingObserver

from cairn import service
from cairn.io.numbers import plain_numbers, to_pandas


@pytest.mark.parametrize(("values", "arrow_type", "expected"), [
    (["5", "-7", None], pa.decimal128(38, 0), pa.int64()),  # sum() of integers: HUGEINT
    ([str(2**63 - 1)], pa.decimal128(38, 0), pa.int64()),
    ([str(2**63)], pa.decimal128(38, 0), pa.decimal128(38, 0)),  # does not fit int64
    (["1.25", "-3.50"], pa.decimal128(38, 2), pa.float64()),  # sum() of DECIMAL(10, 2)
    (["1234567890123.45"], pa.decimal128(38, 2), pa.float64()),  # 15 digits
    (["12345678901234.56"], pa.decimal128(38, 2), pa.decimal128(38, 2)),  # 16 digits
    (["0.1"], pa.decimal128(4, 1), pa.float64()),
    ([], pa.decimal128(38, 0), pa.int64()),
    ([1.5], pa.float64(), pa.float64()),
    (["x"], pa.string(), pa.string()),
], ids=["hugeint", "int64-max", "beyond-int64", "money", "15-digits", "16-digits",
        "small-decimal", "empty", "double", "text"])
def test_plain_numbers_table(values: list[object], arrow_type: pa.DataType,
                             expected: pa.DataType) -> None:
    typed = [Decimal(v) if isinstance(v, str) and pa.types.is_decimal(arrow_type) else v
             for v in values]
    table = pa.table({"x": pa.array(typed, arrow_type)})
    plain = plain_numbers(table)
    assert plain.schema.field("x").type == expected
    if pa.types.is_decimal(arrow_type):  # the same values, digit for digit
        assert [None if v is None else Decimal(str(v)) for v in plain.column("x").to_pylist()
                ] == table.column("x").to_pylist()


def test_decimals_that_need_their_digits_stay_decimals_in_pandas() -> None:
    frame = to_pandas(pa.table({"big": pa.array([Decimal(2**70)], pa.decimal128(38, 0))}))
    assert str(frame["big"].dtype).startswith("decimal128(38, 0)")
    assert frame["big"].dtype != object


SUMS = {
    "facts.py": """
        import pandas as pd, pyarrow as pa
        from decimal import Decimal
        facts = pa.table({
            "k": ["a", "a", "b"],
            "n": pa.array([1, 2, 40], pa.int64()),
            "price": pa.array([Decimal("1.25"), Decimal("2.50"), Decimal("0.10")],
                              pa.decimal128(10, 2)),
        })
    """,
    "sums.sql": "SELECT k, sum(n) AS total, sum(price) AS money FROM facts GROUP BY k\n",
    "check.py": """
        check = {
            "dtypes": {c: str(t) for c, t in sums.dtypes.items()},
            "rows": sorted(sums.itertuples(index=False, name=None)),
        }
    """,
}


def test_python_blocks_get_sql_sums_as_int64_and_float64(
        project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", SUMS)
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success", {b: o.failure for b, o in observer.outcomes.items()}
    check, = service.read_output(project.load(), "p", "check").values()
    assert check["dtypes"] == {"k": "object", "total": "int64", "money": "float64"} or (
        check["dtypes"] == {"k": "str", "total": "int64", "money": "float64"})
    assert check["rows"] == [("a", 3, 3.75), ("b", 40, 0.1)]
    frame = service.read_output(project.load(), "p", "sums")["sums"]
    assert str(frame["total"].dtype) == "int64" and str(frame["money"].dtype) == "float64"


def test_show_json_prints_numbers(project: ProjectFolder, observer: RecordingObserver,
                                  cli: type) -> None:
    project.pipeline("p", SUMS)
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    shown = cli.run("show", "p", "sums", "--format", "json", cwd=project.root, check=True)
    rows = sorted(json.loads(shown.stdout), key=lambda row: row["k"])
    assert rows == [{"k": "a", "total": 3, "money": 3.75}, {"k": "b", "total": 40, "money": 0.1}]


def test_read_sql_gives_numbers_in_every_frame_kind(project: ProjectFolder,
                                                    observer: RecordingObserver) -> None:
    project.pipeline("p", {"kinds.py": """
        from cairn.io import read_sql
        query = "SELECT sum(x) AS s, sum(x::DECIMAL(10, 2)) AS d FROM range(5) t(x)"
        kinds = {
            "pandas": [str(t) for t in read_sql(query).dtypes],
            "arrow": [str(f.type) for f in read_sql(query, as_="arrow").schema],
            "polars": [str(t) for t in read_sql(query, as_="polars").dtypes],
        }
    """})
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success", {b: o.failure for b, o in observer.outcomes.items()}
    kinds, = service.read_output(project.load(), "p", "kinds").values()
    assert kinds == {"pandas": ["int64", "float64"], "arrow": ["int64", "double"],
                     "polars": ["Int64", "Float64"]}
