"""Execute an R block with `Rscript` in a subprocess, its output streamed into the logs."""

from __future__ import annotations

import atexit
import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.blocks.r_analysis import rscript
from cairn.blocks.r_exchange import read_table, write_table
from cairn.blocks.spec import BlockSpec
from cairn.errors import BlockError, CairnError
from cairn.runtime.capture import copy_child_output
from cairn.runtime.context import RunContext
from cairn.runtime.values import table_kind

_RUNNER = Path(__file__).parent / "r" / "run.R"
# Starts each line of a `message()` on R's stderr: those are logged as information, the
# rest of stderr (warnings, R's own complaints) as it comes.
_MESSAGE_MARK = "\x1ecairn-message\x1f"
_messages = logging.getLogger("R")
_LIVE: set[subprocess.Popen[bytes]] = set()  # R processes running now


@atexit.register
def _kill_live() -> None:
    """Kill R processes still running as Python exits: a block past its timeout may not
    have been stopped yet, and its thread dies with the interpreter."""
    for process in list(_LIVE):
        process.kill()


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


def _stderr_line(line: str) -> None:
    """R's stderr: `message()` lines to the log as information, the others to the block's
    stderr."""
    if line.startswith(_MESSAGE_MARK):
        _messages.info("%s", line.removeprefix(_MESSAGE_MARK))
    else:
        sys.stderr.write(line + "\n")


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
            "message_mark": _MESSAGE_MARK,
            "inputs": _describe_inputs(inputs, folder),
            "outputs": list(spec.defines),
            "context": {"run_id": context.run_id, "pipeline": context.pipeline,
                        "block": context.block, "attempt": context.attempt,
                        "execution_date": context.execution_date.isoformat(),
                        "variables": context.variables},
            # JSON texts, so R rebuilds each value whole (a list stays a list).
            "checkpoints": {name: json.dumps(value) for name, value in (
                context.load_checkpoints().items() if "checkpoint" in spec.source else ())},
        }
        (folder / "spec.json").write_text(json.dumps(document, default=str))
        with subprocess.Popen([program, "--vanilla", str(_RUNNER), work],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
            _LIVE.add(process)
            try:
                copy_child_output(process, _stderr_line)
            finally:
                if process.poll() is None:  # interrupted (timeout): do not leave R running
                    process.kill()
                _LIVE.discard(process)
            status = process.wait()
        error_file = folder / "error.json"
        if error_file.exists():
            reported = json.loads(error_file.read_text())
            raise BlockError(str(reported["message"]), file=str(spec.file),
                             line=reported.get("line"))
        if status != 0:
            raise BlockError(f"Rscript ended with status {status}; see the block's log",
                             file=str(spec.file))
        staged = json.loads((folder / "checkpoints.json").read_text()) or {}
        for name, value in staged.items():
            context.set_checkpoint(name, json.loads(value))
        return _outputs(folder)
