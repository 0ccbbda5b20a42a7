"""How a block of each language names its inputs and produces its outputs, as told to a model."""

from __future__ import annotations

from cairn.errors import CairnError, Problem

PYTHON = """\
A Python block is one file, `NAME.py`, in one of two styles.
Script style: names the file reads at top level but does not bind are its inputs (outputs of
other blocks, or pipeline variables); names it binds at top level are its outputs. Names
starting with `_` are private (not outputs); imports, `def` and `class` names are not outputs.
Function style: `from cairn import block`, then one `@block def NAME(input1, input2): ...`;
its parameters are its inputs and its return value is the output named after the block.
`context` (never an input) gives `context.logger` for logging and `context.variables`.
Connections and files: `from cairn.io import read_sql, write_table, read_file, write_file`;
`read_sql("SELECT ...", connection="NAME")`, `write_table(frame, "table", connection="NAME")`,
`read_file("s3://bucket/x.csv")` and `write_file(frame, url)` (CSV, Parquet, JSON; any fsspec
URL). DataFrames are pandas unless the block chooses otherwise. Raise an exception with a
clear message when the data is not as expected."""

SQL = """\
A SQL block is one file, `NAME.sql`, run in a database (DuckDB by default). Statements run in
one transaction; the last one must be a query, and its result becomes the table named after
the block. `SELECT ... FROM other_name` reads another block's output as a table (Python
DataFrames included). `{{ ref('x') }}` names another block's table explicitly and
`{{ var('x') }}` is a pipeline variable, bound as a parameter. A first-line header
`-- cairn: connection=NAME` runs the block on a SQL connection of io_config.yaml (also
`materialize=view`, `write=append`). Column names are not inputs."""

R = """\
An R block is one file, `NAME.R`, run with Rscript. Names it reads that another block defines
(or that are pipeline variables) are its inputs; names assigned at top level with `<-` are its
outputs; names starting with `.` are private and functions assigned at top level are helpers.
Inputs that are tables arrive as data frames and data frame outputs are stored as tables.
`message()` writes to the block's log; `stop()` fails the block with its message. `context` is
a list with `run_id`, `pipeline`, `block` and `variables`."""

CONTRACTS = {"python": PYTHON, "sql": SQL, "r": R}


def contract(language: str) -> str:
    """The contract text of a language; an unknown language is the user's error."""
    if language not in CONTRACTS:
        raise CairnError(Problem("unknown-language", f"no block language {language!r}",
                                 hint="languages: " + ", ".join(CONTRACTS)))
    return CONTRACTS[language]
