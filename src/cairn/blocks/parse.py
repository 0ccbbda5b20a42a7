"""Turn a block file into a BlockSpec, whatever its language."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.blocks.spec import BlockSpec
from cairn.ids import BlockName, VariableName


def parse_block(name: BlockName, path: Path, variables: Mapping[str, Any]) -> BlockSpec:
    """Parse one block file. Raises CairnError with the file and line of any problem."""
    source = path.read_text(encoding="utf-8")
    if path.suffix == ".sql":
        from cairn.blocks.sql_analysis import analyze_sql, read_header

        header = read_header(source, str(path))
        rendered = analyze_sql(source, str(path), variables)
        return BlockSpec(
            name=name,
            language="sql",
            file=path,
            source=source,
            defines={VariableName(name): 1},
            references={VariableName(k): v for k, v in rendered.references.items()},
            header=header,
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
    )
