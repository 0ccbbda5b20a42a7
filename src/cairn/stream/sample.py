"""A micro-batch for running a stream's blocks outside the stream (notebook, `cairn run`).

The source's `sample:` file (JSON lines) when it has one; else the newest messages of the
source itself, read without consuming them, so trying a block never moves the stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cairn.errors import CairnError, Problem
from cairn.io.config import load_connections
from cairn.project.config import Project
from cairn.project.pipeline import Pipeline
from cairn.stream.message import Message, batch_value
from cairn.stream.ports import make_source
from cairn.stream.process import stream_scope

SAMPLE_SIZE = 100


def sample_variables(project: Project, pipeline: Pipeline,
                     size: int = SAMPLE_SIZE) -> dict[str, Any]:
    """The pipeline's variables, with the sample batch under the source's name when the
    pipeline is a stream."""
    source = pipeline.settings.source
    if source is None or source.name in pipeline.variables:
        return pipeline.variables
    messages = (_from_file(project, pipeline, source.sample, size) if source.sample
                else _from_source(project, pipeline, size))
    return {**pipeline.variables,
            source.name: batch_value(messages, pipeline.settings.batch.format)}


def _from_file(project: Project, pipeline: Pipeline, name: str, size: int) -> list[Message]:
    path = next((folder / name for folder in (pipeline.folder, project.root)
                 if (folder / name).is_file()), Path(name))
    if not path.is_file():
        raise CairnError(Problem(
            "no-sample", f"the sample file {name} of {pipeline.name}'s source does not exist",
            file=str(pipeline.folder / "pipeline.yaml"),
            hint="a JSON-lines file, relative to the pipeline folder or the project"))
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    return [Message(line) for line in lines[-size:]]


def _from_source(project: Project, pipeline: Pipeline, size: int) -> list[Message]:
    settings = pipeline.settings.source
    assert settings is not None
    connections = load_connections(project)
    connection = connections.get(settings.connection) if settings.connection else None
    return make_source(settings, connection, stream_scope(project, pipeline.name)).sample(size)
