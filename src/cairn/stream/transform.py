"""Run a streaming pipeline's blocks on one micro-batch; set poison messages aside.

The blocks are the same files a batch run executes, called the same way
(`blocks/python_run.py`): the source's name (`messages` by default) holds the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cairn.blocks.python_run import run_python
from cairn.blocks.spec import BlockSpec
from cairn.errors import CairnError, Problem
from cairn.graph.build import Graph
from cairn.ids import BlockName, RunId
from cairn.project.pipeline import Pipeline
from cairn.runtime.context import RunContext
from cairn.runtime.failure import Failure, describe_failure
from cairn.stream.batch_sql import BatchSQL
from cairn.stream.message import Message, batch_value, decode


@dataclass
class DeadLetter:
    """A message no block could handle, with the error it raised."""

    message: Message
    block: str
    failure: Failure

    def record(self, pipeline: str) -> dict[str, Any]:
        value = decode(self.message.value)
        return {
            "failed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "pipeline": pipeline, "block": self.block, "error": self.failure.message,
            "file": self.failure.file, "line": self.failure.line,
            "topic": self.message.topic, "position": self.message.position,
            "key": self.message.key.decode(errors="replace") if self.message.key else None,
            "value": value if isinstance(value, str) else self.message.value.decode(
                errors="replace"),
        }


@dataclass
class BatchResult:
    """Every value the blocks produced for a batch (merged over messages when the batch
    had to be split), and the messages set aside."""

    outputs: dict[str, Any]
    dead: list[DeadLetter] = field(default_factory=list)
    seconds: float = 0.0


class _BlockFailed(Exception):
    def __init__(self, block: BlockName, failure: Failure) -> None:
        super().__init__(failure.message)
        self.block = block
        self.failure = failure


class Transformer:
    """The pipeline's blocks in dependency order, as one function of a batch."""

    def __init__(self, pipeline: Pipeline, graph: Graph, run_id: RunId) -> None:
        settings = pipeline.settings
        assert settings.source is not None
        self.pipeline = pipeline
        self.run_id = run_id
        self.source_name = settings.source.name
        self.format = settings.batch.format
        r_blocks = [b for b, spec in pipeline.blocks.items() if spec.language == "r"]
        if r_blocks:
            raise CairnError(Problem(
                "stream-block-language", f"streaming pipeline {pipeline.name} has R blocks: "
                f"{', '.join(r_blocks)}", file=str(pipeline.folder),
                hint="transformers of a stream are Python or SQL blocks"))
        sql = any(spec.language == "sql" for spec in pipeline.blocks.values())
        self.batch_sql = BatchSQL() if sql else None
        if graph.problems:
            raise CairnError(graph.problems)
        self.order = [block for layer in graph.layers() for block in layer]
        # Where a block's print output and logging go while it runs.
        self.capture: Callable[[BlockName], AbstractContextManager[None]] = (
            lambda block: nullcontext())

    def checked_output(self, name: str | None, sink: str) -> str:
        """The output a sink writes: `name` (its `from`), else the last block's main
        output, else the batch itself when there are no blocks. Refused unless defined:
        a sink writing nothing would drop every message in silence."""
        defined = {self.source_name}.union(
            *(_outputs(spec) for spec in self.pipeline.blocks.values()))
        chosen = name or self._main_output()
        if chosen not in defined:
            raise CairnError(Problem(
                "unknown-output", f"sink {sink!r} writes {chosen!r}, which no block of "
                f"{self.pipeline.name} defines",
                file=str(self.pipeline.folder / "pipeline.yaml"),
                hint="a function-style block needs `@block` (from cairn import block); or "
                     f"name the output with `from:` (defined: {', '.join(sorted(defined))})"))
        return chosen

    def _main_output(self) -> str:
        if not self.order:
            return self.source_name
        spec = self.pipeline.blocks[self.order[-1]]
        outputs = _outputs(spec)
        return outputs[0] if len(outputs) == 1 else str(spec.name)

    def close(self) -> None:
        if self.batch_sql is not None:
            self.batch_sql.close()

    def run(self, messages: Sequence[Message]) -> BatchResult:
        """Transform the batch at once; if a block raises, again message by message, so
        only the messages it raises on are set aside."""
        started = time.perf_counter()
        try:
            outputs = self._outputs(messages)
            return BatchResult(outputs, seconds=time.perf_counter() - started)
        except _BlockFailed as failed:
            if len(messages) == 1:
                return BatchResult({}, [DeadLetter(messages[0], failed.block, failed.failure)],
                                   time.perf_counter() - started)
        merged: dict[str, list[Any]] = {}
        dead = []
        for message in messages:
            try:
                outputs = self._outputs([message])
            except _BlockFailed as failed:
                dead.append(DeadLetter(message, failed.block, failed.failure))
                continue
            for name, value in outputs.items():
                merged.setdefault(name, []).append(value)
        combined = {name: _concatenate(values) for name, values in merged.items()}
        return BatchResult(combined, dead, time.perf_counter() - started)

    def _outputs(self, messages: Sequence[Message]) -> dict[str, Any]:
        available: dict[str, Any] = {**self.pipeline.variables,
                                     self.source_name: batch_value(messages, self.format)}
        now = datetime.now(UTC).replace(tzinfo=None)
        for block in self.order:
            spec = self.pipeline.blocks[block]
            context = RunContext(self.run_id, self.pipeline.name, block, now,
                                 self.pipeline.variables)
            try:
                with self.capture(block):
                    if spec.language == "sql":
                        assert self.batch_sql is not None
                        available.update(self.batch_sql.run(spec, available))
                    else:
                        available.update(run_python(spec, available, context))
            except Exception as error:  # the block's own failure, whatever it raised
                raise _BlockFailed(block, describe_failure(error, str(spec.file))) from error
        return available


def _outputs(spec: BlockSpec) -> list[str]:
    return [str(name) for name in spec.defines]


def _concatenate(values: list[Any]) -> Any:
    """One value from each message's: lists joined, frames and tables concatenated."""
    present = [value for value in values if value is not None]
    if not present:
        return None
    first = present[0]
    if isinstance(first, list | tuple):
        return [item for value in present for item in value]
    if hasattr(first, "num_rows"):
        import pyarrow as pa

        return pa.concat_tables(present, promote_options="default")
    if type(first).__module__.startswith("polars"):
        import polars as pl

        return pl.concat(present, how="diagonal")
    if hasattr(first, "iloc"):
        import pandas as pd

        return pd.concat(present, ignore_index=True)
    return present[-1]  # a scalar: the last message's
