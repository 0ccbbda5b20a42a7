"""Generate the benchmark projects (and the plain W3 script) into a folder."""

from __future__ import annotations

import textwrap
from pathlib import Path
from urllib.parse import unquote, urlsplit

W3_ROWS = 5_000_000
W3_KEYS = 1_000
PLAN_GROUPS = 100  # of 10 blocks each: 1,000 blocks
PUSHDOWN_ROWS = 10_000_000
LOAD_ROWS = 1_000_000


def write_project(root: Path, pipeline: str, blocks: dict[str, str],
                  settings: str | None = None, project_settings: str = "") -> Path:
    """A project at `root` with one pipeline; `blocks` maps file names to sources.
    `project_settings` are extra lines of cairn.yaml."""
    folder = root / "pipelines" / pipeline
    folder.mkdir(parents=True, exist_ok=True)
    (root / "cairn.yaml").write_text(f"name: {root.name}\n{project_settings}")
    for filename, source in blocks.items():
        (folder / filename).write_text(textwrap.dedent(source).lstrip("\n"))
    if settings is not None:
        (folder / "pipeline.yaml").write_text(textwrap.dedent(settings).lstrip("\n"))
    return root


# -- W1: three chained blocks on a 100-row DataFrame, the last writes a CSV ----------------
def w1_project(root: Path) -> Path:
    blocks = {
        "load.py": """
            import pandas as pd

            orders = pd.DataFrame({"id": range(100), "amount": [i * 1.5 for i in range(100)],
                                   "region": [("north", "south")[i % 2] for i in range(100)]})
        """,
        "enrich.py": """
            from cairn import block


            @block
            def enrich(orders):
                return orders.assign(amount_with_tax=orders["amount"] * 1.2)
        """,
        "export.py": """
            from cairn import block


            @block
            def export(enrich, csv_path):
                enrich.to_csv(csv_path, index=False)
                return csv_path
        """,
    }
    settings = f"""
        variables:
          csv_path: {root / "output" / "orders.csv"}
    """
    (root / "output").mkdir(parents=True, exist_ok=True)
    return write_project(root, "w1", blocks, settings)


# -- W2: 10 layers of 5 trivial blocks, each reading all 5 of the layer before ------------
def w2_block(layer: int, index: int) -> str:
    if layer == 0:
        return f"v0_{index} = {index}\n"
    reads = " + ".join(f"v{layer - 1}_{i}" for i in range(5))
    return f"v{layer}_{index} = {reads} + {index}\n"


def w2_project(root: Path) -> Path:
    blocks = {f"l{layer}_b{index}.py": w2_block(layer, index)
              for layer in range(10) for index in range(5)}
    return write_project(root, "w2", blocks)


# -- W3: 5M x 4 numeric DataFrame, group-by sum over 1,000 keys, to Parquet ---------------
_GENERATE = """
    import numpy as np
    import pandas as pd

    _rng = np.random.default_rng(42)
    frame = pd.DataFrame({{
        "key": _rng.integers(0, {keys}, {rows}),
        "x": _rng.random({rows}),
        "y": _rng.random({rows}),
        "z": _rng.random({rows}),
    }})
"""
_AGGREGATE = """
    totals = frame.groupby("key", as_index=False)[["x", "y", "z"]].sum()
"""
_WRITE = """
    totals.to_parquet(parquet_path, index=False)
"""


def w3_project(root: Path, rows: int = W3_ROWS) -> Path:
    blocks = {
        "generate.py": _GENERATE.format(rows=rows, keys=W3_KEYS),
        "aggregate.py": _AGGREGATE,
        "write.py": """
            from cairn import block


            @block
            def write(totals, parquet_path):
                totals.to_parquet(parquet_path, index=False)
                return parquet_path
        """,
    }
    settings = f"""
        blocks: [generate, aggregate, write]
        variables:
          parquet_path: {root / "output" / "totals.parquet"}
    """
    (root / "output").mkdir(parents=True, exist_ok=True)
    return write_project(root, "w3", blocks, settings)


def w3_plain_script(folder: Path, rows: int = W3_ROWS) -> Path:
    """The same work in one script; it prints the DataFrame's own size in bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    parquet_path = folder / "totals.parquet"
    source = "\n".join(textwrap.dedent(part).strip("\n") for part in (
        _GENERATE.format(rows=rows, keys=W3_KEYS),
        _AGGREGATE,
        f"parquet_path = {str(parquet_path)!r}",
        _WRITE,
        "print(int(frame.memory_usage(deep=True).sum()))",
    ))
    script = folder / "plain_w3.py"
    script.write_text(source + "\n")
    return script


# -- Planning: 1,000 blocks in groups of chains and fan-ins --------------------------------
def _chain_block(group: int, step: int) -> str:
    """A script block `v{g}_{s}` reading its predecessor, with some code to analyse."""
    value = f"v{group:03d}_{step}"
    if step == 0:
        # Odd groups start from the previous group's fan-in; even groups are sources.
        source = f"fan{group - 1:03d}" if group % 2 else str(group)
    elif step == 6:
        source = f"g{group:03d}_s5"  # the function-style block's output
    elif step == 8:
        source = f"v{group:03d}_2"  # a branch off the chain
    else:
        source = f"v{group:03d}_{step - 1}"
    return f"""
        import math


        def _scale(x):
            return [math.sqrt(abs(i)) for i in range(int(x) % 7)]


        {value} = {source} * 2 + sum(_scale({source})) + {step}
    """


def _function_block(group: int) -> str:
    return f"""
        from cairn import block


        @block
        def g{group:03d}_s5(v{group:03d}_4, factor=2):
            return v{group:03d}_4 * factor
    """


def _fan_in_block(group: int) -> str:
    """Reads the group's two chain ends and the fan-ins of up to three earlier groups."""
    reads = [f"v{group:03d}_7", f"v{group:03d}_8"]
    reads += [f"fan{g:03d}" for g in (group - 1, group - 2, group - 5) if g >= 0]
    return f"fan{group:03d} = sum([{', '.join(reads)}])\n"


def plan_project(root: Path, groups: int = PLAN_GROUPS) -> Path:
    """10 blocks a group: a chain s0..s7 (s5 function style), a branch s8, a fan-in s9."""
    blocks = {}
    for group in range(groups):
        for step in range(10):
            if step == 5:
                source = _function_block(group)
            elif step == 9:
                source = _fan_in_block(group)
            else:
                source = _chain_block(group, step)
            blocks[f"g{group:03d}_s{step}.py"] = source
    return write_project(root, "big", blocks)


# -- PostgreSQL: projects whose default connection `pg` is a schema of the server ----------
def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL (psycopg 3 driver) of a libpq `postgresql://` URL."""
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def write_pg_settings(root: Path, url: str, schema: str) -> None:
    """io_config.yaml naming the server as connection `pg`, with tables in `schema`."""
    parts = urlsplit(url)
    settings = {"kind": "postgres", "host": parts.hostname or "127.0.0.1",
                "port": parts.port or 5432, "user": unquote(parts.username or "postgres"),
                "password": unquote(parts.password) if parts.password else None,
                "database": parts.path.lstrip("/") or "postgres", "schema": schema}
    lines = [f"    {key}: {value}" for key, value in settings.items() if value is not None]
    root.mkdir(parents=True, exist_ok=True)
    (root / "io_config.yaml").write_text("\n".join(["default:", "  pg:", *lines]) + "\n")


_PG_DEFAULT = "default_connection: pg\n"


# -- pushdown: aggregate a 10M-row table in place, or read it all into pandas -------------
_PUSHDOWN_SQL = """
    SELECT k, sum(v) AS total, count(*) AS n FROM big GROUP BY k
"""
_PUSHDOWN_PANDAS = """
    import pandas as pd
    import sqlalchemy as sa

    _engine = sa.create_engine(database_url)
    with _engine.connect() as _connection:
        _big = pd.read_sql(f"SELECT * FROM {{big_table}}", _connection)
    _engine.dispose()
    totals_pandas = _big.groupby("k", as_index=False).agg(total=("v", "sum"), n=("v", "size"))
    assert len(totals_pandas) == {keys} and int(totals_pandas["n"].sum()) == {rows}
"""


def pushdown_project(root: Path, url: str, schema: str, rows: int, keys: int) -> Path:
    """Pipelines `pushdown_sql` (a SQL block on `schema.big`) and `pushdown_pandas` (a Python
    block reading the whole table with pandas.read_sql); the table is made elsewhere."""
    write_pg_settings(root, url, schema)
    write_project(root, "pushdown_sql", {"totals_sql.sql": _PUSHDOWN_SQL},
                  project_settings=_PG_DEFAULT)
    settings = f"""
        variables:
          database_url: {sqlalchemy_url(url)}
          big_table: {schema}.big
    """
    return write_project(root, "pushdown_pandas",
                         {"totals_pandas.py": _PUSHDOWN_PANDAS.format(keys=keys, rows=rows)},
                         settings, project_settings=_PG_DEFAULT)


# -- load: a 1M-row pandas DataFrame bulk-loaded into PostgreSQL by a SQL block -------------
_LOAD_FRAME = """
    import numpy as np
    import pandas as pd

    _rng = np.random.default_rng(7)
    _regions = np.array(["north", "south", "east", "west", "centre"])
    frame = pd.DataFrame({{
        "id": np.arange({rows}, dtype="int64"),
        "amount": _rng.random({rows}) * 100,
        "weight": _rng.normal(size={rows}),
        "region": _regions[_rng.integers(0, len(_regions), {rows})],
        "at": pd.Timestamp("2026-01-01")
              + pd.to_timedelta(_rng.integers(0, 365 * 86_400, {rows}), unit="s"),
    }})
"""


def load_frame_source(rows: int = LOAD_ROWS) -> str:
    """The Python block defining `frame` (1 int64, 2 float64, 1 short string, 1 timestamp)."""
    return textwrap.dedent(_LOAD_FRAME.format(rows=rows)).lstrip("\n")


def load_project(root: Path, url: str, schema: str, rows: int) -> Path:
    """Pipelines `load` (`frame` -> SQL block `copied`: SELECT * FROM frame on `pg`) and
    `load_frame` (the Python block alone, as the floor)."""
    write_pg_settings(root, url, schema)
    frame = {"frame.py": load_frame_source(rows)}
    write_project(root, "load_frame", frame, project_settings=_PG_DEFAULT)
    return write_project(root, "load", {**frame, "copied.sql": "SELECT * FROM frame\n"},
                         project_settings=_PG_DEFAULT)


# -- fan-out: one mapped block over many items -----------------------------------------------
FAN_OUT_ITEMS = 10_000
FAN_OUT_BLOB_ITEMS = 400  # of 1 MiB each
_FAN_OUT = "blocks:\n  - {name: numbers, fan_out: true}\n  - {name: doubled, map: zip}\n"


def fan_out_project(root: Path, items: int, blob: bool = False) -> Path:
    """Pipeline `fan_out`: `numbers` gives `items` items, `doubled` runs once per item.
    With `blob`, each item returns 1 MiB of bytes: held together they would take
    `items` MiB, which is what the peak memory shows."""
    doubled = ("doubled = numbers.to_bytes(4, 'little') + bytes(1024 * 1024 - 4)\n" if blob
               else "doubled = numbers * 2\n")
    return write_project(root, "fan_out", {
        "numbers.py": f"numbers = list(range({items}))\n",
        "doubled.py": doubled,
    }, _FAN_OUT, project_settings="max_parallel: 4\n")


# -- incremental: hash-based change detection against reprocessing every row -----------------
INCREMENTAL_ROWS = 10_000_000
_INCREMENTAL_DATA = """
    import duckdb

    # The second version of the table: the first 0.1% of ids deleted, 0.1% new ids, and
    # the amount changed on every 125th id (0.8%), so 1% of the rows changed in all.
    _shift = {rows} // 1000 if context.var("changed") else 0
    duckdb.sql(f\"\"\"
        COPY (SELECT i AS id, 'customer ' || i AS name,
                     CASE WHEN {{_shift}} > 0 AND i % 125 = 7 THEN -1.0
                          ELSE (i % 1000) / 10.0 END AS amount,
                     TIMESTAMP '2026-01-01' + to_seconds(i) AS updated_at, i % 97 AS segment
              FROM range({{_shift}}, {rows} + {{_shift}}) r(i))
        TO '{source}' (FORMAT parquet)\"\"\")
"""
_INCREMENTAL_FULL = """
    import pyarrow.parquet as pq

    _rows = pq.read_table({source!r})
    pq.write_table(_rows, {output!r})
    assert _rows.num_rows == {rows}
"""
_INCREMENTAL_CHANGES = """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from cairn.incremental.hashdiff import detect_changes

    _changes = detect_changes(context, {source!r}, key="id", name="customers")
    pq.write_table(pa.concat_tables([_changes.new, _changes.changed]), {output!r})
    pq.write_table(_changes.deleted, {deleted!r})
    _found = (_changes.new.num_rows, _changes.changed.num_rows, _changes.deleted.num_rows)
    assert _changes.first_run or _found == {expected}, _found
"""


def incremental_changes(rows: int = INCREMENTAL_ROWS) -> tuple[int, int, int]:
    """The new, changed and deleted rows between the two versions of the table."""
    shift = rows // 1000
    return shift, len(range(shift + (7 - shift) % 125, rows, 125)), shift


def incremental_project(root: Path, rows: int = INCREMENTAL_ROWS) -> Path:
    """Pipelines `incremental_data` (writes the source table, `--var changed=1` for its
    second version), `full` (a block reading and writing every row) and `incremental`
    (the same block writing only what `detect_changes` reports, checking its counts)."""
    source, output = root / "data" / "customers.parquet", root / "output"
    source.parent.mkdir(parents=True, exist_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    write_project(root, "incremental_data", {"make.py": _INCREMENTAL_DATA.format(
        rows=rows, source=source)}, "variables:\n  changed: 0\n")
    write_project(root, "full", {"copy_all.py": _INCREMENTAL_FULL.format(
        rows=rows, source=str(source), output=str(output / "all.parquet"))})
    return write_project(root, "incremental", {"copy_changes.py": _INCREMENTAL_CHANGES.format(
        source=str(source), output=str(output / "upserts.parquet"),
        deleted=str(output / "deleted.parquet"), expected=incremental_changes(rows))})


# -- incremental: a SQL watermark in the DuckDB warehouse against copying every row ----------
def watermark_project(root: Path, rows: int = INCREMENTAL_ROWS) -> Path:
    """Pipelines `events_data` (table `events`: `rows` rows, one second apart), `touch`
    (moves 1% of them to a later `updated_at`), `wm_full` (a SQL block copying every row)
    and `wm_incremental` (a SQL block appending the rows past its checkpoint, the greatest
    `updated_at` it has taken)."""
    write_project(root, "events_data", {"events.sql": f"""
        SELECT range AS id, (range % 1000) / 10.0 AS amount,
               TIMESTAMP '2026-01-01' + to_seconds(range) AS updated_at
        FROM range({rows})
    """})
    write_project(root, "touch", {"touched.sql": """
        UPDATE events SET amount = amount + 1,
                          updated_at = TIMESTAMP '2027-01-01' + to_seconds(id)
        WHERE id % 100 = 0;
        SELECT count(*) AS touched FROM events WHERE updated_at >= TIMESTAMP '2027-01-01'
    """})
    write_project(root, "wm_full", {"all_events.sql": "SELECT * FROM events\n"})
    return write_project(root, "wm_incremental", {"new_events.sql": """
        -- cairn: write=append, checkpoint.at=max(updated_at)
        SELECT * FROM events WHERE updated_at > {{ checkpoint('at', '1970-01-01 00:00:00') }}
    """})
