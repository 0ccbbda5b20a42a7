"""Run a Python block in a process of its own (`isolation: process`).

Blocks normally share the run's process, so one that ends the interpreter (`os._exit`, a
crashing C extension) ends the run. Isolated, it can only end its own process: the block
fails with the reason and its siblings go on. The exchange goes through files: the parent
pickles the block's inputs and context, the child (`python -m cairn.runtime.isolation`)
pickles back its outputs and checkpoints, or its failure. Its stdout and stderr are streamed
into the block's log as they come; its logging arrives as the block's log lines.
"""

from __future__ import annotations

import atexit
import json
import logging
import pickle
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.blocks.project_code import project_root_of, use_project_code
from cairn.blocks.spec import BlockSpec
from cairn.errors import BlockError
from cairn.runtime.capture import copy_child_output, log_line
from cairn.runtime.context import RunContext

# Starts a line of the child's stderr that is a logging record, not printed text.
_LOG_MARK = "\x1ecairn-log\x1f"
_LIVE: set[subprocess.Popen[bytes]] = set()  # block processes running now


@atexit.register
def _kill_live() -> None:
    """A block process outlives nothing: one past its timeout may still run as we exit."""
    for process in list(_LIVE):
        process.kill()


def run_isolated(spec: BlockSpec, inputs: Mapping[str, Any],
                 context: RunContext) -> dict[str, Any]:
    """Run the block in a new Python process; its outputs, as `run_python` returns them."""
    root = project_root_of(spec.file)
    if root is not None:  # its outputs may be of the project's classes, unpickled here
        use_project_code(root)
    with tempfile.TemporaryDirectory(prefix="cairn-block-") as work:
        folder = Path(work)
        # Apart from the request: the child needs the path to unpickle the inputs.
        (folder / "sys_path.json").write_text(json.dumps(sys.path))
        request = {
            "spec": spec, "inputs": dict(inputs),
            "context": {"run_id": context.run_id, "pipeline": context.pipeline,
                        "block": context.block, "execution_date": context.execution_date,
                        "variables": context.variables, "attempt": context.attempt},
            "checkpoints": dict(context.load_checkpoints()) if "checkpoint" in spec.source
            else {},
        }
        try:
            (folder / "request.pickle").write_bytes(pickle.dumps(request))
        except Exception as error:  # an input that cannot cross to another process
            raise BlockError(f"an input of {spec.name} cannot be passed to its own process "
                             f"(isolation: process): {type(error).__name__}: {error}",
                             file=str(spec.file)) from None
        with subprocess.Popen([sys.executable, "-m", "cairn.runtime.isolation", work],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL) as process:
            _LIVE.add(process)
            try:
                copy_child_output(process, _stderr_line)
            finally:
                if process.poll() is None:  # timed out or cancelled: stop it with the block
                    process.kill()
                _LIVE.discard(process)
            status = process.wait()
        result_file = folder / "result.pickle"
        if not result_file.exists():
            raise BlockError(_death(status), file=str(spec.file),
                             detail="its process ended before the block finished; the "
                             "rest of the run went on")
        result = pickle.loads(result_file.read_bytes())
    failure = result.get("failure")
    if failure is not None:
        raise BlockError(failure.message, failure.file, failure.line, failure.traceback)
    context.new_checkpoints.update(result["checkpoints"])
    outputs: dict[str, Any] = result["outputs"]
    return outputs


def _death(status: int) -> str:
    """Why a block's process ended without a result, from its exit status."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"the block's process was killed by {name}"
    return (f"the block's process exited with status {status} before the block finished "
            "(os._exit, or a library ending the interpreter)")


def _stderr_line(line: str) -> None:
    """The child's stderr: its marked lines are logging records, the rest is stderr."""
    if line.startswith(_LOG_MARK):
        log_line(line.removeprefix(_LOG_MARK))
    else:
        sys.stderr.write(line + "\n")


class _MarkedLogHandler(logging.Handler):
    """In the child: logging records to stderr, marked, formatted as the run formats them."""

    def emit(self, record: logging.LogRecord) -> None:
        for line in self.format(record).split("\n"):
            sys.__stderr__.write(_LOG_MARK + line + "\n")  # type: ignore[union-attr]
        sys.__stderr__.flush()  # type: ignore[union-attr]


def _child(work: Path) -> None:
    from cairn.blocks.python_run import run_python
    from cairn.runtime.failure import Failure, describe_failure

    sys.path[:] = json.loads((work / "sys_path.json").read_text())
    request = pickle.loads((work / "request.pickle").read_bytes())
    handler = _MarkedLogHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    spec: BlockSpec = request["spec"]
    checkpoints = request["checkpoints"]
    context = RunContext(**request["context"], load_checkpoints=lambda: checkpoints)
    try:
        outputs = run_python(spec, request["inputs"], context)
    except (Exception, SystemExit) as error:
        result = pickle.dumps({"failure": describe_failure(error, str(spec.file))})
    else:
        try:
            result = pickle.dumps({"outputs": outputs, "checkpoints": context.new_checkpoints})
        except Exception as error:  # an open file, a lock: it lives in this process only
            result = pickle.dumps({"failure": Failure(
                f"an output of {spec.name} cannot be passed back from its own process "
                f"(isolation: process): {type(error).__name__}: {error}", str(spec.file),
                None, "")})
    sys.stdout.flush()
    sys.stderr.flush()
    temporary = work / "result.pickle.tmp"
    temporary.write_bytes(result)
    temporary.replace(work / "result.pickle")


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
