"""Turn a block file into a BlockSpec, whatever its language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.blocks.spec import BlockSpec
from cairn.errors import CairnError, Problem, closest
from cairn.ids import BlockName, VariableName
from cairn.io.connection import Connection
from cairn.text_file import read_text


@dataclass
class SQLTargets:
    """Where SQL blocks may run: the profile's connections and the default one."""

    connections: Mapping[str, Connection] = field(default_factory=dict)
    default: str = "warehouse"


def _sql_target(header: dict[str, str], chosen: str | None, dialect: str | None,
                targets: SQLTargets | None, filename: str) -> tuple[Connection, str]:
    """The block's connection (pipeline.yaml, else its header, else the default), and
    the dialect it is written in (its setting, else the connection's). Without targets,
    the block is read as DuckDB SQL on the default connection, unchecked."""
    if targets is None:
        name = chosen or header.get("connection") or SQLTargets.default
        return Connection(name, "duckdb"), dialect or header.get("dialect") or "duckdb"
    name = chosen or header.get("connection") or targets.default
    connection = targets.connections.get(name)
    if connection is None or not connection.is_sql:
        sql = [n for n, c in targets.connections.items() if c.is_sql]
        raise CairnError(Problem("unknown-connection",
                                 f"the block runs on connection {name!r}, which is not a SQL "
                                 "connection of the active profile", file=filename, line=1,
                                 hint=closest(name, sql)))
    return connection, dialect or header.get("dialect") or connection.dialect


def parse_block(name: BlockName, path: Path, variables: Mapping[str, Any],
                targets: SQLTargets | None = None, connection: str | None = None,
                dialect: str | None = None, source: str | None = None) -> BlockSpec:
    """Parse one block file (or `source`, an unsaved version of it). Raises CairnError
    with the file and line of any problem. `connection` and `dialect` are the block's
    settings from pipeline.yaml (SQL only)."""
    if source is None:
        source = read_text(path)
    try:
        return _parse(name, path, variables, targets, connection, dialect, source)
    except (RecursionError, MemoryError):
        # The parsers (Python's, sqlglot's, our AST walks) recurse once per nesting level.
        raise CairnError(Problem("block-too-deep", "the block is nested too deeply to be "
                                 "read", file=str(path),
                                 hint="split the deepest expression into named steps")) from None


def _parse(name: BlockName, path: Path, variables: Mapping[str, Any],
           targets: SQLTargets | None, connection: str | None, dialect: str | None,
           source: str) -> BlockSpec:
    if path.suffix == ".sql":
        from cairn.blocks.sql_analysis import analyze_sql, read_header

        header = read_header(source, str(path))
        target, written_in = _sql_target(header, connection, dialect, targets, str(path))
        rendered = analyze_sql(source, str(path), variables, written_in, target.schema)
        return BlockSpec(
            name=name,
            language="sql",
            file=path,
            source=source,
            defines={VariableName(name): 1},
            references={VariableName(k): v for k, v in rendered.references.items()},
            header=header,
            connection=target.name,
            dialect=written_in,
        )

    if path.suffix in (".R", ".r"):
        result = _analyze_r_source(path, source)
        if isinstance(result, CairnError):
            raise result
        return BlockSpec(
            name=name,
            language="r",
            file=path,
            source=source,
            defines={VariableName(k): v for k, v in result.defines.items()},
            references={VariableName(k): v for k, v in result.references.items()},
        )

    from cairn.blocks.python_analysis import analyze_python, parse_python

    analysis = analyze_python(parse_python(source, str(path)), str(path), name)
    return BlockSpec(
        name=name,
        language="python",
        file=path,
        source=source,
        defines={VariableName(k): v for k, v in analysis.defines.items()},
        references={VariableName(k): v for k, v in analysis.references.items()},
        style=analysis.style,
        parameters=analysis.parameters,
        optional_parameters=analysis.optional_parameters,
        function_name=analysis.function_name,
        tests=analysis.tests,
        star_import=analysis.star_import,
    )


def _analyze_r_source(path: Path, source: str) -> Any:
    from cairn.blocks.r_analysis import analyze_r

    if path.is_file() and path.read_text(encoding="utf-8") == source:
        return analyze_r([path])[path]
    import tempfile

    # R's parser reads files: an unsaved version goes through a temporary copy.
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        copy.write_text(source, encoding="utf-8")
        result = analyze_r([copy])[copy]
    if isinstance(result, CairnError):
        result = CairnError([Problem(p.kind, p.message, str(path), p.line, p.hint)
                             for p in result.problems])
    return result
