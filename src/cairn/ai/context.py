"""What Cairn tells a model about a pipeline: contract, blocks, schemas, connections, history.

Only what is gathered here is ever sent, and `render()` is exactly that text."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from cairn import service
from cairn.ai.contracts import contract
from cairn.errors import CairnError
from cairn.ids import BlockName
from cairn.project.config import Project

SAMPLE_ROWS = 5
HISTORY_RUNS = 5
# How far back to look for the target block's latest failure.
FAILURE_SEARCH_RUNS = 50
ERROR_CHARS = 4000


@dataclass
class GenerationContext:
    """The pipeline as a model may see it; never connection settings, row values only when
    the project allows samples."""

    pipeline: str
    language: str
    contract: str
    blocks: list[dict[str, Any]]
    schemas: dict[str, list[dict[str, str]]]
    connections: list[dict[str, str]]
    history: list[dict[str, Any]]
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    target: dict[str, Any] | None = None
    variables: list[str] = field(default_factory=list)

    def outputs(self) -> list[str]:
        """Every name the pipeline's blocks define, in block order."""
        return [name for block in self.blocks for name in block["defines"]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        lines = [f"# Pipeline `{self.pipeline}`: a new {self.language} block", "",
                 "## Block contract", "", self.contract, "", "## Existing blocks", ""]
        for block in self.blocks:
            lines.append(f"- `{block['name']}` ({block['language']}): defines "
                         f"{_names(block['defines'])}; reads {_names(block['reads'])}")
        if not self.blocks:
            lines.append("(none yet)")
        lines += ["", "## Pipeline variables", "", _names(self.variables), "",
                  "## Schemas of outputs (latest successful run)", ""]
        for output in sorted(self.schemas):
            columns = ", ".join(f"{c['name']} {c['type']}" if c["name"] else c["type"]
                                for c in self.schemas[output])
            lines.append(f"- `{output}`: {columns or '(no columns)'}")
        if not self.schemas:
            lines.append("(no successful run yet)")
        lines += ["", "## Connections (io_config.yaml)", ""]
        lines += [f"- `{c['name']}`: {c['kind']}" for c in self.connections]
        if self.samples:
            lines += ["", f"## Sample rows (at most {SAMPLE_ROWS} per output)", ""]
            for output in sorted(self.samples):
                lines.append(f"- `{output}`: "
                             + json.dumps(self.samples[output], default=str, sort_keys=True))
        if self.history:
            lines += ["", "## Recent runs (newest first)", ""]
            for run in self.history:
                failed = f", block `{run['block']}` failed" if run.get("block") else ""
                lines.append(f"- {run['run_id']}: {run['status']}{failed}")
                if run.get("error"):
                    lines += ["  " + line for line in str(run["error"]).splitlines()]
        if self.target is not None:
            lines += ["", f"## The block `{self.target['name']}` ({self.target['language']})",
                      "", f"```{self.target['language']}", self.target["source"].rstrip(), "```"]
            if self.target.get("error"):
                lines += ["", "Its latest failure:", "", "```", self.target["error"], "```"]
        return "\n".join(lines) + "\n"


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "nothing"


def build_context(project: Project, pipeline: str, language: str, *, target: str | None = None,
                  with_history: bool = False) -> GenerationContext:
    """Gather what a model needs to write (or explain, or fix) a block of `pipeline`."""
    loaded, graph = service.plan(project, pipeline)
    variables = sorted(loaded.variables)
    blocks: list[dict[str, Any]] = []
    for name, spec in loaded.blocks.items():
        reads = {n for names in graph.upstream.get(name, {}).values() for n in names}
        reads |= {n for n in spec.references if n in loaded.variables}
        blocks.append({"name": name, "language": spec.language,
                       "defines": _defines(name, spec), "reads": sorted(reads)})
    samples_allowed = _samples_allowed(project)
    schemas, samples = _schemas(project, pipeline, [b["name"] for b in blocks], samples_allowed)
    chosen: dict[str, Any] | None = None
    if target is not None:
        service.check_blocks(loaded, [target])
        spec = loaded.blocks[BlockName(target)]
        chosen = {"name": target, "language": spec.language, "source": spec.source,
                  "file": spec.file.name}
    history: list[dict[str, Any]] = []
    if with_history:
        history, failure = _history(project, pipeline, target)
        if chosen is not None and failure:
            chosen["error"] = failure
    return GenerationContext(
        pipeline=pipeline, language=language, contract=contract(language), blocks=blocks,
        schemas=schemas, connections=_connections(project), history=history, samples=samples,
        target=chosen, variables=variables)


def _defines(name: str, spec: Any) -> list[str]:
    if spec.style == "function":
        return [name]
    return sorted(spec.defines, key=lambda n: (spec.defines[n], n))


def _samples_allowed(project: Project) -> bool:
    ai = getattr(project.settings, "ai", None)
    provider = getattr(ai, "provider", None)
    return bool(getattr(provider, "send_samples", False))


def _schemas(project: Project, pipeline: str, blocks: list[str], with_samples: bool,
             ) -> tuple[dict[str, list[dict[str, str]]], dict[str, list[dict[str, Any]]]]:
    """Column names and types of each output of the blocks' latest successful runs; rows
    only when samples are allowed. What cannot be read is left out."""
    schemas: dict[str, list[dict[str, str]]] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    metadata = service.open_metadata(project)
    try:
        records = {b: metadata.latest_success(pipeline, b) for b in blocks}
    finally:
        metadata.close()
    limit = SAMPLE_ROWS if with_samples else 0
    for block, record in records.items():
        if record is None or not record.outputs:
            continue
        for stored in json.loads(record.outputs):
            try:
                values = service.read_output(project, pipeline, block, run_id=record.run_id,
                                             output=stored["name"], limit=limit)
            except (CairnError, OSError, ValueError, ImportError):
                continue  # a file cleaned away or a connection down: nothing to describe
            for output, value in values.items():
                schemas[output] = _columns(value)
                if with_samples and (rows := _rows(value)) is not None:
                    samples[output] = rows
    return schemas, samples


def _columns(value: Any) -> list[dict[str, str]]:
    dtypes = getattr(value, "dtypes", None)
    if hasattr(value, "schema") and hasattr(value.schema, "names"):  # pyarrow or polars
        schema = value.schema
        if hasattr(schema, "types"):
            return [{"name": n, "type": str(t)} for n, t in zip(schema.names, schema.types,
                                                                 strict=True)]
    if dtypes is not None and hasattr(value, "columns"):
        types = list(dtypes.values) if hasattr(dtypes, "values") else list(dtypes)
        return [{"name": str(n), "type": str(t)} for n, t in zip(value.columns, types,
                                                                 strict=True)]
    return [{"name": "", "type": type(value).__name__}]  # not a table: its type alone


def _rows(value: Any) -> list[dict[str, Any]] | None:
    if hasattr(value, "head") and hasattr(value, "to_dict"):
        rows: list[dict[str, Any]] = value.head(SAMPLE_ROWS).to_dict("records")
        return rows
    return None


def _connections(project: Project) -> list[dict[str, str]]:
    from cairn.io.config import load_connections

    return [{"name": name, "kind": connection.kind}
            for name, connection in sorted(load_connections(project).items())]


def _history(project: Project, pipeline: str, target: str | None,
             ) -> tuple[list[dict[str, Any]], str | None]:
    """The pipeline's last runs, each with its first failed block, and the target block's
    latest failure."""
    metadata = service.open_metadata(project)
    try:
        runs = metadata.list_runs(pipeline, limit=FAILURE_SEARCH_RUNS)
        history: list[dict[str, Any]] = []
        failure: str | None = None
        for index, run in enumerate(runs):
            failed = [b for b in metadata.block_runs(run.id) if b.status == "failed"]
            if index < HISTORY_RUNS:
                first = failed[0] if failed else None
                error = (first.error if first is not None else None) or run.error
                history.append({"run_id": run.id, "status": run.status,
                                "block": first.block if first is not None else None,
                                "error": _clip(error)})
            if target is not None and failure is None:
                failure = next((_clip(b.error) for b in reversed(failed)
                                if b.block == target and b.error), None)
            if index >= HISTORY_RUNS - 1 and (target is None or failure is not None):
                break
        return history, failure
    finally:
        metadata.close()


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= ERROR_CHARS:
        return text
    return text[:ERROR_CHARS] + "\n[...]"


