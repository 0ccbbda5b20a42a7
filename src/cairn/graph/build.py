"""Resolve the names blocks read to the blocks that define them: the pipeline's DAG."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from itertools import pairwise

from cairn.blocks.spec import BlockSpec
from cairn.errors import Problem
from cairn.graph.unknown import unknown_inputs
from cairn.ids import BlockName, VariableName


@dataclass(frozen=True)
class Edge:
    source: BlockName
    target: BlockName
    names: tuple[str, ...]


@dataclass
class Graph:
    """Blocks in display order, the edges between them, and what is wrong with them:
    `problems` stop a run, `warnings` (names no block defines) do not."""

    order: list[BlockName]
    upstream: dict[BlockName, dict[BlockName, list[str]]]
    definitions: dict[VariableName, BlockName]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def edges(self) -> list[Edge]:
        return [
            Edge(source, target, tuple(names))
            for target in self.order
            for source, names in self.upstream[target].items()
        ]

    def downstream(self) -> dict[BlockName, list[BlockName]]:
        result: dict[BlockName, list[BlockName]] = {b: [] for b in self.order}
        for target in self.order:
            for source in self.upstream[target]:
                result[source].append(target)
        return result

    def layers(self) -> list[list[BlockName]]:
        """Blocks grouped so each depends only on earlier groups; ties in display order."""
        position = {b: i for i, b in enumerate(self.order)}
        sorter = TopologicalSorter({b: list(self.upstream[b]) for b in self.order})
        sorter.prepare()
        layers = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            layers.append(ready)
            sorter.done(*ready)
        return layers

    def dag_order(self, first: Sequence[BlockName] = ()) -> list[BlockName]:
        """The display order without a full `blocks:` list: the blocks in `first` as given,
        then the others layer by layer, ties by name, so a block comes after what it reads.
        With a cycle there are no layers: the others follow by name."""
        listed = set(first)
        rest = {b: [u for u in self.upstream[b] if u not in listed]
                for b in self.order if b not in listed}
        sorter = TopologicalSorter(rest)
        try:
            sorter.prepare()
        except CycleError:
            return [*first, *sorted(rest)]
        ordered = list(first)
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            ordered += ready
            sorter.done(*ready)
        return ordered

    def closure(self, start: Iterable[BlockName], direction: str) -> set[BlockName]:
        """`start` with all blocks upstream or downstream of it."""
        neighbours: Mapping[BlockName, Iterable[BlockName]] = (
            self.upstream if direction == "upstream" else self.downstream()
        )
        seen: set[BlockName] = set()
        stack = list(start)
        while stack:
            block = stack.pop()
            if block not in seen:
                seen.add(block)
                stack.extend(neighbours[block])
        return seen


def _definitions(
    blocks: Sequence[BlockSpec],
) -> tuple[dict[VariableName, BlockName], list[Problem]]:
    definers: dict[VariableName, list[BlockSpec]] = {}
    for spec in blocks:
        for name in spec.defines:
            definers.setdefault(name, []).append(spec)
    problems = []
    for name, specs in definers.items():
        if len(specs) > 1:
            places = " and ".join(f"{s.file}:{s.defines[name]}" for s in specs)
            problems.append(
                Problem(
                    "multiple-definitions",
                    f"{name!r} is defined by {len(specs)} blocks: {places}",
                    file=str(specs[1].file),
                    line=specs[1].defines[name],
                    hint=f"rename it in all but one block, or make it private as _{name}",
                )
            )
    return {name: specs[0].name for name, specs in definers.items()}, problems


def _cycle_problem(
    cycle: list[BlockName], graph: Graph, specs: Mapping[BlockName, BlockSpec]
) -> Problem:
    steps = []
    for source, target in pairwise(cycle):
        names = graph.upstream[target].get(source, [])
        steps.append(f"{target} reads {', '.join(names)} from {source}" if names else
                     f"{target} follows {source}")
    first = specs[cycle[0]]
    return Problem(
        "cycle",
        "the blocks form a cycle: " + " -> ".join(cycle) + " (" + "; ".join(steps) + ")",
        file=str(first.file),
        hint="a block cannot depend on its own output; split or rename one of these names",
    )


def build_graph(
    blocks: Sequence[BlockSpec],
    explicit_upstream: Mapping[BlockName, Sequence[str]] | None = None,
    variables: Iterable[str] = (),
) -> Graph:
    """Infer edges from defined and referenced names, then check for cycles."""
    definitions, problems = _definitions(blocks)
    specs = {spec.name: spec for spec in blocks}
    variable_names = set(variables)
    upstream: dict[BlockName, dict[BlockName, list[str]]] = {s.name: {} for s in blocks}

    for name in sorted(variable_names & set(definitions)):
        spec = specs[definitions[VariableName(name)]]
        problems.append(
            Problem(
                "variable-shadowed",
                f"{name!r} is both a pipeline variable and an output of block {spec.name}",
                file=str(spec.file),
                line=spec.defines[VariableName(name)],
                hint="rename the variable or the output",
            )
        )

    for spec in blocks:
        for name, line in spec.references.items():
            source = definitions.get(name)
            if source is None and BlockName(name) in specs:
                source = BlockName(name)  # a function parameter naming an upstream block
            if source is not None and source != spec.name:
                upstream[spec.name].setdefault(source, []).append(name)
            elif (
                source is None
                and spec.style == "function"
                and name not in variable_names
                and name not in spec.optional_parameters
            ):
                problems.append(
                    Problem(
                        "unknown-input",
                        f"parameter {name!r} is not an output of any block, a block name, "
                        "or a pipeline variable",
                        file=str(spec.file),
                        line=line,
                        hint="give it a default, declare it under `variables:` in "
                        "pipeline.yaml, or define it in an upstream block",
                    )
                )

    for target, listed in (explicit_upstream or {}).items():
        for item in listed:
            if item not in specs or target not in specs:
                unknown = item if target in specs else target
                problems.append(
                    Problem(
                        "unknown-block",
                        f"block {target} lists upstream {item!r}, but there is no block "
                        f"{unknown!r}",
                        hint=f"known blocks: {', '.join(specs)}",
                    )
                )
            elif item != target:
                upstream[target].setdefault(BlockName(item), [])

    graph = Graph([s.name for s in blocks], upstream, definitions, problems,
                  list(unknown_inputs(blocks, definitions, variable_names)))
    try:
        TopologicalSorter({b: list(upstream[b]) for b in graph.order}).prepare()
    except CycleError as error:
        graph.problems.append(_cycle_problem(list(error.args[1]), graph, specs))
    return graph
