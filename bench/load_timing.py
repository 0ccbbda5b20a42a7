"""Time writing the `load` DataFrame into PostgreSQL inside one process; print JSON.

Usage: python bench/load_timing.py URL SCHEMA ROWS REPEAT
Both writers start from the same pandas DataFrame (the `frame` block's code) and end with a
committed table of it in SCHEMA:
- `DataFrame.to_sql(name, engine)` with pandas' defaults;
- Cairn's bulk path as a SQL block takes it: `as_arrow`, then `table_for(...)` created and
  filled by `insert` (COPY) inside one `engine.begin()` transaction.
Cairn's path is then taken apart: pandas -> Arrow, CSV written by pyarrow, the COPY alone.
run.py starts this as a child, like plan_timing.py; every table is dropped untimed.
"""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import projects
from measure import time_calls

TABLE = "written"


def main(url: str, schema: str, rows: int, repeat: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import sqlalchemy as sa

    from cairn.io.arrow_sql import _BATCH_ROWS, as_arrow, insert, table_for

    namespace: dict[str, Any] = {}
    exec(projects.load_frame_source(rows), namespace)
    frame = namespace["frame"]
    # Unqualified names (to_sql's and table_for's) land in the benchmark's schema.
    engine = sa.create_engine(projects.sqlalchemy_url(url),
                              connect_args={"options": f"-csearch_path={schema}"})

    def check_and_drop() -> None:
        with engine.begin() as connection:
            found = connection.exec_driver_sql(f"SELECT count(*) FROM {TABLE}").scalar_one()
            if found != rows:
                raise SystemExit(f"{TABLE} has {found} rows, not {rows}")
            connection.exec_driver_sql(f"DROP TABLE {TABLE}")

    def to_sql() -> None:
        frame.to_sql(TABLE, engine)

    def cairn_load() -> None:
        data = as_arrow(frame)
        with engine.begin() as connection:
            target = table_for(TABLE, data.schema, None, temporary=False)
            target.create(connection)
            insert(connection, target, data)

    first_to_sql_s, to_sql_s = time_calls(to_sql, repeat, check_and_drop)
    first_cairn_s, cairn_s = time_calls(cairn_load, repeat, check_and_drop)

    # -- Cairn's path in parts: the same steps as arrow_sql._copy_into_postgres ----------
    data = as_arrow(frame)
    _, arrow_s = time_calls(lambda: as_arrow(frame), repeat)

    def render() -> list[memoryview]:
        options = pacsv.WriteOptions(include_header=False)
        buffers = []
        for start in range(0, data.num_rows, _BATCH_ROWS):
            buffer = io.BytesIO()
            pacsv.write_csv(data.slice(start, _BATCH_ROWS), buffer, options)
            buffers.append(buffer.getbuffer())
        return buffers

    _, csv_s = time_calls(render, repeat)
    csv = render()

    def copy_only() -> None:
        with engine.begin() as connection:
            target = table_for(TABLE, data.schema, None, temporary=False)
            target.create(connection)
            cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY {TABLE} FROM STDIN (FORMAT csv)") as copy:
                for buffer in csv:
                    copy.write(buffer)

    _, copy_s = time_calls(copy_only, repeat, check_and_drop)
    engine.dispose()
    return {
        "rows": rows,
        "columns": {name: str(kind) for name, kind in frame.dtypes.items()},
        "arrow_types": {field.name: str(field.type) for field in data.schema},
        "frame_bytes": int(frame.memory_usage(deep=True).sum()),
        "csv_bytes": sum(len(buffer) for buffer in csv),
        "pyarrow": pa.__version__,
        "first_to_sql_s": first_to_sql_s,
        "to_sql_s": to_sql_s,
        "first_cairn_s": first_cairn_s,
        "cairn_s": cairn_s,
        "arrow_s": arrow_s,
        "csv_s": csv_s,
        "copy_s": copy_s,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
