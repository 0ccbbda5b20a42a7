"""Execute an R block with `Rscript` in a subprocess, its output streamed into the logs."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from cairn.blocks.r_analysis import rscript
from cairn.blocks.r_exchange import read_table, write_table
from cairn.blocks.spec import BlockSpec
from cairn.errors import BlockError, CairnError
from cairn.runtime.context import RunContext
from cairn.runtime.values import table_kind

_RUNNER = Path(__file__).parent / "r" / "run.R"


def _as_arrow(value: Any) -> Any:
    from cairn.io.arrow_sql import as_arrow

    return as_arrow(value)


def _describe_inputs(inputs: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    described: dict[str, Any] = {}
    for index, (name, value) in enumerate(inputs.items(), start=1):
        if table_kind(value) is not None:
            described[name] = write_table(_as_arrow(value), folder, f"in.{index}")
        else:
            described[name] = {"kind": "json", "json": json.dumps(value, default=str)}
    return described


def _stream(process: subprocess.Popen[bytes]) -> None:
    """Copy the process's stdout and stderr, line by line, to this block's logs."""
    assert process.stdout is not None and process.stderr is not None
    targets: dict[IO[bytes], Any] = {process.stdout: sys.stdout, process.stderr: sys.stderr}
    with selectors.DefaultSelector() as selector:
        for stream in targets:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            for key, _ in selector.select():
                pipe: IO[bytes] = key.fileobj  # type: ignore[assignment]
                line = pipe.readline()
                if line:
                    targets[pipe].write(line.decode("utf-8", "replace"))
                else:
                    selector.unregister(pipe)


def _outputs(folder: Path) -> dict[str, Any]:
    import pandas as pd
    import pyarrow as pa

    nullable = {pa.int32(): pd.Int32Dtype(), pa.bool_(): pd.BooleanDtype()}
    written = json.loads((folder / "outputs.json").read_text()) or {}
    outputs: dict[str, Any] = {}
    for name, item in written.items():
        if item["kind"] == "table":
            outputs[name] = read_table(folder, item).to_pandas(types_mapper=nullable.get)
        else:
            outputs[name] = json.loads(item["json"])
    return outputs


def run_r(spec: BlockSpec, inputs: Mapping[str, Any], context: RunContext) -> dict[str, Any]:
    """Run the block in a fresh R process; R data frames come back as pandas DataFrames."""
    try:
        program = rscript(str(spec.file))
    except CairnError as error:
        raise BlockError(str(error), file=str(spec.file)) from None
    with tempfile.TemporaryDirectory(prefix="cairn-r-") as work:
        folder = Path(work)
        document = {
            "file": str(spec.file),
            "inputs": _describe_inputs(inputs, folder),
            "outputs": list(spec.defines),
            "context": {"run_id": context.run_id, "pipeline": context.pipeline,
                        "block": context.block, "attempt": context.attempt,
                        "execution_date": context.execution_date.isoformat(),
                        "variables": context.variables},
        }
        (folder / "spec.json").write_text(json.dumps(document, default=str))
        process = subprocess.Popen([program, "--vanilla", str(_RUNNER), work],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _stream(process)
            status = process.wait()
        finally:
            if process.poll() is None:  # interrupted (timeout): do not leave R running
                process.kill()
                process.wait()
        error_file = folder / "error.json"
        if error_file.exists():
            reported = json.loads(error_file.read_text())
            raise BlockError(str(reported["message"]), file=str(spec.file),
                             line=reported.get("line"))
        if status != 0:
            raise BlockError(f"Rscript ended with status {status}; see the block's log",
                             file=str(spec.file))
        return _outputs(folder)
