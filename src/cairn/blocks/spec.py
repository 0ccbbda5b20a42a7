"""What parsing a block file tells us: the names it defines and the names it reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cairn.ids import BlockName, VariableName

Language = Literal["python", "sql", "r"]
PythonStyle = Literal["script", "function"]


@dataclass
class BlockSpec:
    """A parsed block. `defines` and `references` map each name to its first line."""

    name: BlockName
    language: Language
    file: Path
    source: str
    defines: dict[VariableName, int] = field(default_factory=dict)
    references: dict[VariableName, int] = field(default_factory=dict)
    style: PythonStyle | None = None
    # Function-style blocks: parameter names in order, and which of them have defaults.
    parameters: list[str] = field(default_factory=list)
    optional_parameters: set[str] = field(default_factory=set)
    function_name: str | None = None
    # Python blocks with `from x import *`: a name no block defines may come from there.
    star_import: bool = False
    # Names of `test_*` functions to run against the block's outputs.
    tests: list[str] = field(default_factory=list)
    # Settings from a `-- cairn: key=value` header (SQL).
    header: dict[str, str] = field(default_factory=dict)
    # SQL blocks: the connection they run on and the dialect they are written in.
    connection: str | None = None
    dialect: str | None = None
