"""The notebook's worker process: it runs blocks of one pipeline with the same Runner as
`cairn run`, keeps their values in memory between runs (the live store), and reports what
happens as events over a pipe. The server never runs user code itself."""

from __future__ import annotations

import contextlib
import hashlib
import signal
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cairn import service
from cairn.blocks.project_code import forget_changed_modules
from cairn.errors import CairnError, Problem
from cairn.graph.build import Graph
from cairn.ids import BlockName, RunId
from cairn.io.api import active_connections
from cairn.io.config import load_connections
from cairn.io.pool import Databases
from cairn.notebook.preview import PAGE_ROWS, describe, page
from cairn.notebook.recorded import Recorded, RecordedRuns, iso
from cairn.project.config import Project, find_project
from cairn.project.pipeline import Pipeline
from cairn.runtime.capture import routed_output
from cairn.runtime.runner import Outcome, Runner
from cairn.runtime.variable_store import StoredOutputs, VariableStore

NOTEBOOK_RUN = RunId("notebook")
_LOG_LINES = 500
Send = Callable[[dict[str, Any]], None]


class _History:
    """Stands in for the run history: notebook runs are not pipeline runs."""

    def __init__(self) -> None:
        self._next = 0

    def start_block(self, *_: Any, **__: Any) -> int:
        self._next += 1
        return self._next

    def finish_block(self, *_: Any, **__: Any) -> None:
        pass

    def record_block(self, *_: Any) -> None:
        pass

    def latest_success(self, *_: Any) -> None:
        return None

    def successful_items(self, *_: Any) -> dict[str, str]:
        return {}

    def checkpoint_values(self, *_: Any) -> dict[str, Any]:
        return {}  # the notebook starts from scratch and never moves a pipeline's checkpoints


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Notebook:
    """The live state of one pipeline's notebook."""

    def __init__(self, project: Project, pipeline: str, send: Send) -> None:
        self.project = project
        self.name = pipeline
        self.send = send
        self.databases = Databases(load_connections(project))
        self.state: dict[str, dict[str, Any]] = {}
        self.version: dict[str, int] = {}  # bumped on each successful run of a block
        self.ran_with: dict[str, tuple[str, dict[str, int | None]]] = {}  # hash, inputs
        # The current run's blocks' file hashes, and its graph.
        self.running_with: tuple[dict[BlockName, str], Graph | None] = ({}, None)
        self.runner: Runner | None = None
        self.job: threading.Thread | None = None
        self.sample: dict[str, Any] | None = None  # a stream's variables with its sample
        self.recorded = RecordedRuns(project, pipeline, self.databases)
        self.at: dict[str, datetime] = {}  # when each block's own state last ended
        self.shown: dict[str, Recorded] = {}  # blocks whose card shows a pipeline run's

    # -- state ---------------------------------------------------------------------------
    def _plan(self) -> tuple[Pipeline, Graph]:
        return service.plan(self.project, self.name)

    def _block_state(self, block: str) -> dict[str, Any]:
        return self.state.setdefault(block, {
            "status": "never", "stale": True, "duration_s": None, "outputs": [],
            "error": None, "logs": [], "origin": None})

    def _ended(self, block: str) -> None:
        self.at[block] = service.utc_now()
        self._block_state(block)["origin"] = {"kind": "notebook", "at": iso(self.at[block])}

    def _newer(self, block: BlockName, pipeline: Pipeline,
               recorded: dict[BlockName, Recorded]) -> dict[str, Any] | None:
        """The state of the block's latest pipeline run when it is newer than what the
        notebook did with it (its own run going on always wins)."""
        record = recorded.get(block)
        own = self._block_state(block)
        mine = self.at.get(block)
        if (record is None or own["status"] in ("queued", "running")
                or (mine is not None and mine >= record.at)):
            self.shown.pop(block, None)
            return None
        self.shown[block] = record
        changed = datetime.fromtimestamp(pipeline.blocks[block].file.stat().st_mtime, UTC)
        finished = record.state["status"] not in ("queued", "running")
        return {**record.state,
                "stale": finished and changed.replace(tzinfo=None) > record.at}

    def _stale(self, pipeline: Pipeline, graph: Graph) -> dict[str, bool]:
        stale: dict[str, bool] = {}
        for layer in graph.layers() if not graph.problems else [graph.order]:
            for block in layer:
                ran = self.ran_with.get(block)
                upstream = graph.upstream[block]
                stale[block] = (
                    ran is None
                    or ran[0] != _hash(pipeline.blocks[block].file)
                    or any(self.version.get(u) != ran[1].get(u) or stale.get(u, True)
                           for u in upstream)
                )
        return stale

    def snapshot(self) -> dict[str, Any]:
        pipeline, graph = self._plan()
        stale = self._stale(pipeline, graph)
        try:
            recorded = self.recorded.latest()
        finally:
            if (self.job is None or not self.job.is_alive()
                    or self.job is threading.current_thread()):
                self.databases.close()  # let `cairn run` have the DuckDB file
        blocks: dict[str, dict[str, Any]] = {}
        for block in graph.order:
            state = self._block_state(block)
            state["stale"] = stale[block]
            blocks[block] = self._newer(block, pipeline, recorded) or state
            for unit, unit_state in self.state.items():  # the items of a mapped block
                if unit.startswith(f"{block}[") and unit.endswith("]"):
                    blocks[unit] = unit_state
        running = None
        if self.runner is not None and self.runner.running:
            running = next(iter(self.runner.running))
        # The run's own last message is sent from its thread, as it ends.
        busy = (self.job is not None and self.job.is_alive()
                and self.job is not threading.current_thread())
        return {"worker": "running" if busy else "idle", "running": running, "blocks": blocks}

    # -- running -------------------------------------------------------------------------
    def _selection(self, block: str | None, mode: str, graph: Graph,
                   stale: dict[str, bool]) -> list[BlockName]:
        if mode == "all" or block is None:
            return list(graph.order)
        chosen = {BlockName(block)}
        if mode == "downstream":
            chosen |= graph.closure(chosen, "downstream")
        needed = graph.closure(chosen, "upstream") - chosen
        chosen |= {b for b in needed if stale[b]}  # stale or missing upstreams run first
        return [b for b in graph.order if b in chosen]

    def _variables(self, pipeline: Pipeline) -> dict[str, Any]:
        """The pipeline's variables; a stream's blocks also get a sample batch of its
        source's newest messages, taken once per notebook session."""
        if pipeline.settings.source is None:
            return pipeline.variables
        if self.sample is None:
            from cairn.stream.sample import sample_variables

            self.sample = sample_variables(self.project, pipeline)
        return {**self.sample, **pipeline.variables}

    def run(self, block: str | None, mode: str, item: int | None = None) -> None:
        """Run a block (with its stale upstreams), its downstream too, or all; `item` runs
        one item of a mapped block again, its other items keeping their outputs."""
        if self.job is not None and self.job.is_alive():
            raise CairnError(Problem("busy", "a run is going on in this notebook",
                                     hint="wait for it, or interrupt it"))
        pipeline, graph = self._plan()
        if graph.problems:
            raise CairnError(graph.problems)
        if block is not None:
            service.check_blocks(pipeline, [block])
        variables = self._variables(pipeline)
        if item is None:
            selected = self._selection(block, mode, graph, self._stale(pipeline, graph))
            units = [f"{name}[" for name in selected]  # a mapped block's items of a run before
        else:
            selected = [self._check_item(pipeline, block, item)]
            units = [f"{block}[{item}]"]
        # What each block runs with, noted as it succeeds (see `block_finished`).
        self.running_with = ({b: _hash(pipeline.blocks[b].file) for b in selected}, graph)
        for name in selected:
            self._block_state(name).update(status="queued")
        for unit in [u for u in self.state if u.startswith(tuple(units))]:
            del self.state[unit]
        runner = self._runner(pipeline, graph)

        def work() -> None:
            # The project's modules edited since the last run are imported afresh.
            forget_changed_modules(self.project.root)
            try:
                with (routed_output(), contextlib.chdir(self.project.root),
                      active_connections(self.databases,
                                         self.project.settings.default_connection)):
                    runner.run(NOTEBOOK_RUN, selected, variables, service.utc_now(),
                               set(), only_items=None if item is None else {selected[0]: item})
            except Exception as error:  # Cairn's fault, not a block's: say so, stay usable
                self._stopped(selected, error)
            finally:
                # DuckDB lets one process hold a database file: let `cairn run` have it.
                self.databases.close()
                forget_changed_modules(self.project.root)  # notes the modules it imported
            self.send({"type": "state", "state": self.snapshot()})

        self.job = threading.Thread(target=work, name="cairn-notebook-run", daemon=True)
        self.job.start()

    def _stopped(self, selected: list[BlockName], error: Exception) -> None:
        """The blocks a broken run left waiting fail with what stopped it."""
        failure = {"message": f"the run stopped: {type(error).__name__}: {error}",
                   "line": None, "file": None, "traceback": traceback.format_exc()}
        for name in selected:
            state = self._block_state(name)
            if state["status"] in ("queued", "running"):
                state.update(status="failed", error=failure)
                self._ended(name)

    def _check_item(self, pipeline: Pipeline, block: str | None, item: int) -> BlockName:
        if block is None or not pipeline.block_settings[BlockName(block)].map:
            raise CairnError(Problem("not-mapped", f"{block} is not a mapped block: only a "
                                     "mapped block's items can be run one by one"))
        earlier = self.runner.mapped.get(BlockName(block)) if self.runner else None
        if earlier is None:
            raise CairnError(Problem("no-items", f"{block} has not run in this notebook yet",
                                     hint="run the whole block first, then one of its items"))
        if not 0 <= item < earlier.total:
            raise CairnError(Problem("no-such-item", f"{block} has items 0 to "
                                     f"{earlier.total - 1}, not {item}"))
        return BlockName(block)

    def _runner(self, pipeline: Pipeline, graph: Graph) -> Runner:
        """One Runner for the notebook's life: its values are the live store."""
        if self.runner is None:
            store = VariableStore(self.project.state_dir / "notebook" / self.name)
            self.runner = Runner(pipeline, graph, _History(), store,  # type: ignore[arg-type]
                                 self.databases, self, self.project.settings.max_parallel)
        self.runner.pipeline, self.runner.graph = pipeline, graph
        return self.runner

    def interrupt(self) -> None:
        if self.runner is not None:
            self.runner.interrupt()

    def page(self, block: str, name: str, offset: int, limit: int) -> dict[str, Any]:
        record = self.shown.get(block)
        if record is not None:  # the card shows a pipeline run's outputs
            outputs: Any = self.recorded.values(record, BlockName(block))
        else:
            outputs = self.runner.values.get(BlockName(block)) if self.runner else None
        if isinstance(outputs, StoredOutputs):  # a mapped block's lists
            outputs = {name: outputs.get(name)} if name in outputs.names() else None
        if outputs is None or name not in outputs:
            raise KeyError(f"block {block} has no output {name!r} in this notebook")
        try:
            return page(outputs[name], self.databases, offset, limit)
        finally:
            if self.job is None or not self.job.is_alive():
                self.databases.close()

    # -- the Runner's observer -----------------------------------------------------------
    def block_started(self, block: BlockName, attempt: int) -> None:
        state = self._block_state(block)
        state.update(status="running", error=None, logs=[], outputs=[])
        self.send({"type": "started", "block": block, "attempt": attempt})

    def block_output(self, block: BlockName, stream: str, line: str) -> None:
        logs = self._block_state(block)["logs"]
        logs.append({"stream": stream, "line": line})
        del logs[:-_LOG_LINES]
        self.send({"type": "output", "block": block, "stream": stream, "line": line})

    def block_finished(self, block: BlockName, outcome: Outcome) -> None:
        state = self._block_state(block)
        state.update(status=outcome.status, duration_s=round(outcome.duration_s, 4))
        self._ended(block)
        if outcome.status == "success":
            self.version[block] = self.version.get(block, 0) + 1
            hashes, graph = self.running_with
            if graph is not None and block in hashes:  # a block, not an item: fresh now
                self.ran_with[block] = (hashes[block], {
                    str(u): self.version.get(u) for u in graph.upstream[block]})
            outputs = outcome.outputs
            collected = self.runner.values.get(block) if self.runner else None
            if isinstance(collected, StoredOutputs):  # a mapped block: read its lists
                outputs = {name: collected.get(name) for name in collected.names()}
            state["outputs"] = [describe(name, value, self.databases)
                                for name, value in outputs.items()]
        if outcome.failure is not None:
            failure = outcome.failure
            state["error"] = {"message": failure.message, "line": failure.line,
                              "file": failure.file, "traceback": failure.traceback}
        self.send({"type": "finished", "block": block, "state": state})


def main(connection: Connection, root: str, profile: str, pipeline: str) -> None:
    """The worker process: answer the server's requests until the pipe closes."""
    # Ctrl-C on `cairn serve` reaches every process of its group: the server stops its
    # workers itself (and a block is interrupted by a request), so a worker must not die
    # of it with a traceback on the server's terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    lock = threading.Lock()

    def send(message: dict[str, Any]) -> None:
        with lock:
            connection.send(message)

    notebook = Notebook(find_project(Path(root), profile=profile), pipeline, send)
    send({"type": "worker", "worker": "idle", "message": None})
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        reply: dict[str, Any] = {"type": "reply", "id": request.get("id")}
        try:
            command = request["command"]
            if command == "state":
                reply["result"] = notebook.snapshot()
            elif command == "run":
                notebook.run(request.get("block"), request.get("mode", "block"),
                             request.get("item"))
                reply["result"] = notebook.snapshot()
            elif command == "interrupt":
                notebook.interrupt()
            elif command == "page":
                reply["result"] = notebook.page(request["block"], request["name"],
                                                request.get("offset", 0),
                                                request.get("limit", PAGE_ROWS))
        except CairnError as error:
            reply["problems"] = [p.to_dict() for p in error.problems]
        except Exception as error:  # a bad request must not end the worker
            reply["error"] = f"{type(error).__name__}: {error}"
        send(reply)
