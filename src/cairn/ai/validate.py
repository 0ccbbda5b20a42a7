"""Check a block's unsaved text as if it were saved: it parses, its inputs exist, and the
pipeline it joins keeps no cycle and no name defined twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn.blocks.parse import SQLTargets, parse_block
from cairn.errors import CairnError, Problem, closest
from cairn.graph.build import build_graph
from cairn.ids import BlockName

if TYPE_CHECKING:
    from pathlib import Path

    from cairn.blocks.spec import BlockSpec
    from cairn.project.config import Project
    from cairn.project.pipeline import Pipeline

SUFFIXES = {"python": ".py", "sql": ".sql", "r": ".R"}


def validate_block(project: Project, pipeline: str, name: str, language: str, code: str,
                   ) -> list[Problem]:
    """The problems `code` would bring as block `name` of `pipeline` (replacing the block of
    that name, if any); problems the pipeline already had are not counted."""
    from cairn.project.pipeline import load_pipeline

    loaded = load_pipeline(project, pipeline)
    block = BlockName(name)
    path = loaded.folder / f"{name}{SUFFIXES[language]}"
    try:
        spec = _parse(project, loaded, block, path, code)
    except CairnError as error:
        return error.problems
    before = _graph_problems(loaded, dict(loaded.blocks))
    after = _graph_problems(loaded, {**loaded.blocks, block: spec})
    known = {p.describe() for p in before}
    problems = [p for p in after if p.describe() not in known]
    return problems + _unknown_inputs(loaded, spec)


def _parse(project: Project, loaded: Pipeline, block: BlockName, path: Path, code: str,
           ) -> BlockSpec:
    settings = loaded.block_settings.get(block)
    targets = None
    if path.suffix == ".sql":
        from cairn.io.config import load_connections

        targets = SQLTargets(load_connections(project), project.settings.default_connection)
    return parse_block(block, path, loaded.variables, targets,
                       settings.connection if settings else None,
                       settings.dialect if settings else None, code)


def _graph_problems(loaded: Pipeline, blocks: dict[BlockName, BlockSpec]) -> list[Problem]:
    explicit = {b: s.upstream for b, s in loaded.block_settings.items() if s.upstream}
    provided = list(loaded.variables)
    if loaded.settings.source is not None:
        provided.append(loaded.settings.source.name)
    return build_graph(list(blocks.values()), explicit, provided).problems


def _unknown_inputs(loaded: Pipeline, spec: BlockSpec) -> list[Problem]:
    """Names a script-style Python or R block reads that nothing provides. SQL is left out:
    a table it reads may already live in its connection."""
    if spec.language == "sql" or spec.style == "function":
        return []  # function parameters are checked by the graph itself
    others = [s for b, s in loaded.blocks.items() if b != spec.name]
    provided = {n for s in others for n in s.defines} | {str(s.name) for s in others}
    provided |= set(loaded.variables)
    if loaded.settings.source is not None:
        provided.add(loaded.settings.source.name)
    return [
        Problem("unknown-input", f"{name!r} is read but no block of the pipeline defines it, "
                "and it is no pipeline variable", file=str(spec.file), line=line,
                hint=closest(name, provided))
        for name, line in spec.references.items() if name not in provided
    ]
