"""Names a block reads that nothing provides: warnings, since the run would hit a NameError.

Only script-style Python blocks are checked. A function-style block's parameters are
checked by `build_graph` as errors (the block cannot even be called). R is left out: R code
reads data-frame columns as bare names (`filter(df, amount > 0)`), which the parser cannot
tell from variables. SQL is left out: a table no block makes may live in the database.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from cairn.blocks.spec import BlockSpec
from cairn.errors import Problem, close_matches
from cairn.ids import BlockName, VariableName


@dataclass(frozen=True)
class UnknownInput(Problem):
    """A block reads `name`, which is no block's output, block name or pipeline variable."""

    block: str = ""
    name: str = ""
    # Defined names that look like `name`, closest first (also in `hint`).
    suggestions: tuple[str, ...] = field(default_factory=tuple)


def unknown_inputs(
    blocks: Sequence[BlockSpec],
    definitions: Mapping[VariableName, BlockName],
    variables: Collection[str],
) -> list[UnknownInput]:
    """One warning per block and unknown name, at the line of the name's first use."""
    known = {*definitions, *(spec.name for spec in blocks), *variables}
    warnings = []
    for spec in blocks:
        if spec.language != "python" or spec.style != "script" or spec.star_import:
            continue
        # Reading its own name gives a block nothing (it is no input of itself).
        definer = definitions.get(VariableName(spec.name), spec.name)
        own: set[str] = {str(spec.name)} if definer == spec.name else set()
        for name, line in spec.references.items():
            if name in known and name not in own:
                continue
            suggestions = tuple(close_matches(name, known - own))
            hint = ("did you mean " + " or ".join(repr(s) for s in suggestions) + "?"
                    if suggestions else "define it in a block, declare it under `variables:` "
                    "in pipeline.yaml, or import it")
            warnings.append(UnknownInput(
                "unknown-input",
                f"block {spec.name} reads {name!r}, which no block defines and is no "
                "pipeline variable",
                file=str(spec.file), line=line, hint=hint,
                block=str(spec.name), name=str(name), suggestions=suggestions))
    return warnings
