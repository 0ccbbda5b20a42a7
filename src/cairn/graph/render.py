"""Show a pipeline's graph as text, JSON, Mermaid or Graphviz DOT."""

from __future__ import annotations

import json
from collections.abc import Mapping

from cairn.blocks.spec import BlockSpec
from cairn.graph.build import Graph
from cairn.ids import BlockName

FORMATS = ("text", "json", "mermaid", "dot")


Notes = Mapping[BlockName, Mapping[str, object]]  # per block: settings worth showing


def to_json(graph: Graph, blocks: Mapping[BlockName, BlockSpec], notes: Notes) -> str:
    document = {
        "blocks": [
            {"name": b, "language": blocks[b].language, "file": str(blocks[b].file),
             **notes.get(b, {})}
            for b in graph.order
        ],
        "edges": [
            {"from": e.source, "to": e.target, "names": list(e.names)} for e in graph.edges()
        ],
        "errors": [p.to_dict() for p in graph.problems],
        "warnings": [p.to_dict() for p in graph.warnings],
    }
    return json.dumps(document, indent=2)


def to_mermaid(graph: Graph) -> str:
    lines = ["flowchart TD"]
    lines += [f"    {b}[{b}]" for b in graph.order]
    for edge in graph.edges():
        label = f"|{', '.join(edge.names)}|" if edge.names else ""
        lines.append(f"    {edge.source} -->{label} {edge.target}")
    return "\n".join(lines)


def to_dot(graph: Graph) -> str:
    lines = ["digraph pipeline {", "  rankdir=LR;"]
    lines += [f'  "{b}";' for b in graph.order]
    for edge in graph.edges():
        label = f' [label="{", ".join(edge.names)}"]' if edge.names else ""
        lines.append(f'  "{edge.source}" -> "{edge.target}"{label};')
    lines.append("}")
    return "\n".join(lines)


def to_text(graph: Graph, blocks: Mapping[BlockName, BlockSpec], notes: Notes) -> str:
    lines = []
    for block in graph.order:
        spec = blocks[block]
        sources = graph.upstream[block]
        reads = "; ".join(
            f"{source} ({', '.join(names)})" if names else str(source)
            for source, names in sources.items()
        )
        shown = ", ".join(f"{key}: {value}" for key, value in notes.get(block, {}).items())
        lines.append(f"{block} [{spec.language}]" + (f" <- {reads}" if reads else "")
                     + (f"  ({shown})" if shown else ""))
    return "\n".join(lines)


def render(graph: Graph, blocks: Mapping[BlockName, BlockSpec], fmt: str,
           notes: Notes | None = None) -> str:
    """`notes` are per-block settings to show (conditions, trigger rules)."""
    notes = notes or {}
    if fmt == "json":
        return to_json(graph, blocks, notes)
    if fmt == "mermaid":
        return to_mermaid(graph)
    if fmt == "dot":
        return to_dot(graph)
    return to_text(graph, blocks, notes)
