"""Run a pipeline's blocks in dependency order, independent ones side by side.

Blocks run in threads of this process (starting a process per block would cost more than
most blocks take). The main thread alone decides what runs next and writes the history;
a worker thread runs one attempt of one block and hands back its outcome.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import queue
import resource
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from graphlib import TopologicalSorter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from cairn.blocks.spec import BlockSpec
from cairn.errors import BlockError
from cairn.graph.build import Graph
from cairn.ids import BlockName, RunId, VariableName
from cairn.io.duckdb_share import warehouse_user
from cairn.io.secrets import redact
from cairn.project.conditions import evaluate, gate
from cairn.project.pipeline import Pipeline, SensorSettings
from cairn.runtime.capture import block_output
from cairn.runtime.context import RunContext
from cairn.runtime.failure import Failure, describe_failure
from cairn.runtime.values import StoredOutput, TableRef, table_kind
from cairn.runtime.variable_store import StoredOutputs, VariableStore
from cairn.store.metadata import utcnow

if TYPE_CHECKING:
    from cairn.io.database import SQLResult
    from cairn.io.pool import Databases
    from cairn.store.metadata import MetadataStore


class RunObserver(Protocol):
    """Told what happens during a run, to show it (CLI progress, the notebook)."""

    def block_started(self, block: BlockName, attempt: int) -> None: ...
    def block_output(self, block: BlockName, stream: str, line: str) -> None: ...
    def block_finished(self, block: BlockName, outcome: Outcome) -> None: ...


@dataclass
class Outcome:
    block: BlockName
    attempt: int
    status: str
    outputs: dict[str, Any] = field(default_factory=dict)
    stored: list[StoredOutput] = field(default_factory=list)
    failure: Failure | None = None
    rows_in: int | None = None  # rows of the tables among its inputs
    rows_out: int | None = None
    peak_memory_bytes: int | None = None
    cpu_seconds: float | None = None  # of its thread, plus its R process
    duration_s: float = 0.0
    profile: list[dict[str, Any]] | None = None  # SQL blocks: per statement
    checkpoints: dict[str, Any] = field(default_factory=dict)  # committed if it succeeded

    @property
    def output_bytes(self) -> int:
        return sum(o.bytes for o in self.stored)


@dataclass
class _Executed:
    outputs: dict[str, Any]
    sql: SQLResult | None
    rows_in: int | None
    checkpoints: dict[str, Any]


def _table_rows(values: Mapping[str, Any]) -> int | None:
    """Rows of the tables among `values`; None when there are none."""
    rows = [value.num_rows if kind == "arrow" else len(value)
            for value in values.values() if (kind := table_kind(value)) is not None]
    return sum(rows) if rows else None


@dataclass
class _Attempt:
    block: BlockName
    number: int  # within this process, for the retry budget
    recorded: int  # in the run's history, which a resumed run continues
    block_run_id: int
    deadline: float | None
    thread: threading.Thread | None = None
    unit: str = ""  # what is recorded: the block, or `block[i]` for an item of a mapped block
    item: dict[str, Any] | None = None  # a mapped block's item: the fan-out parents' values
    started: float = field(default_factory=time.perf_counter)  # for a timed-out one's duration


@dataclass
class _Mapped:
    """The items of a mapped block in this run: where each one's outputs are stored, once
    it is done. Their values stay on disk: 10,000 items' outputs never sit in memory."""

    total: int
    stored: dict[int, list[StoredOutput]] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)


class LogSink:
    """Collects a block's output into whole lines for its log file and the observer."""

    def __init__(self, path: Path, block: BlockName, attempt: int, observer: RunObserver) -> None:
        self.path = path
        self.block = block
        self.attempt = attempt
        self.observer = observer
        self.file: TextIO | None = None  # opened on the first line: most blocks print nothing
        self.partial: dict[str, str] = {}

    def __call__(self, stream: str, text: str) -> None:
        pending = self.partial.get(stream, "") + text
        *lines, self.partial[stream] = pending.split("\n")
        for line in lines:
            self._emit(stream, line)

    def _emit(self, stream: str, line: str) -> None:
        line = redact(line)
        if self.file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            if self.attempt > 1:
                self.file.write(f"--- attempt {self.attempt} ---\n")
        self.file.write(line + "\n" if stream == "stdout" else f"[{stream}] {line}\n")
        self.observer.block_output(self.block, stream, line)

    def close(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self._emit(stream, rest)
        if self.file is not None:
            self.file.close()


def _interrupt_thread(thread: threading.Thread,
                      error: type[BaseException] = TimeoutError) -> None:
    """Raise `error` inside a thread at its next Python instruction."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(error)
        )


def _sleep(seconds: float) -> None:
    """Sleep in short steps: `_interrupt_thread` (timeout, interrupt) is only noticed
    between Python instructions, never inside a long `time.sleep`."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.05))


class Runner:
    """One run of a set of blocks of one pipeline."""

    def __init__(
        self,
        pipeline: Pipeline,
        graph: Graph,
        metadata: MetadataStore,
        store: VariableStore,
        databases: Databases,
        observer: RunObserver,
        max_parallel: int,
    ) -> None:
        self.pipeline = pipeline
        self.graph = graph
        self.metadata = metadata
        self.store = store
        self.databases = databases
        self.observer = observer
        self.max_parallel = max_parallel
        self.values: dict[BlockName, dict[str, Any] | StoredOutputs] = {}
        self.status: dict[BlockName, str] = {}
        self.running: dict[str, _Attempt] = {}
        self.results: queue.Queue[tuple[_Attempt, Outcome]] = queue.Queue()
        self.queued_at: dict[str, datetime] = {}  # unit -> when it became ready to run
        self.mapped: dict[BlockName, _Mapped] = {}  # of the last run of each mapped block

    # -- the main loop -------------------------------------------------------------------
    def run(
        self,
        run_id: RunId,
        selected: list[BlockName],
        variables: Mapping[str, Any],
        execution_date: datetime,
        already_done: set[BlockName] = frozenset(),  # type: ignore[assignment]
        attempts_before: Mapping[BlockName, int] | None = None,
        only_items: Mapping[BlockName, int] | None = None,
    ) -> dict[BlockName, str]:
        """Run `selected` (skipping `already_done`); return each block's final status.
        `only_items` runs one item of a mapped block; its other items keep the outputs of
        the block's previous run by this Runner (the notebook's live store)."""
        self.run_id = run_id
        self.status = {}  # a runner may serve several runs (the notebook keeps one)
        self.closed: set[BlockName] = set()  # condition blocks whose answer was false
        self.attempts_before = dict(attempts_before or {})
        self.variables = dict(variables)
        self.execution_date = execution_date
        chosen = set(selected)
        position = {b: i for i, b in enumerate(self.graph.order)}
        sorter = TopologicalSorter(
            {b: [u for u in self.graph.upstream[b] if u in chosen] for b in selected}
        )
        sorter.prepare()
        ready: deque[BlockName] = deque()
        items: deque[tuple[BlockName, str, dict[str, Any]]] = deque()  # of mapped blocks
        running: dict[str, _Attempt] = {}
        self.running = running
        self.only_items = dict(only_items or {})
        while sorter.is_active():
            now_ready = sorted(sorter.get_ready(), key=position.__getitem__)
            self.queued_at.update(dict.fromkeys(now_ready, utcnow()))
            ready.extend(now_ready)
            while (ready or items) and len(running) < self.max_parallel:
                if items:
                    block, unit, item = items.popleft()
                    running[unit] = self._start(block, 1, unit, item)
                    continue
                block = ready.popleft()
                if block in already_done:
                    self.status[block] = "success"
                    self._reopen_gate(block)
                    sorter.done(block)
                elif (verdict := self._verdict(block)) is not None:
                    self._record_not_run(block, *verdict)
                    sorter.done(block)
                elif self.pipeline.block_settings[block].map:
                    try:
                        todo = self._items(block)
                    except BlockError as error:
                        self._record_not_run(block, "failed", error.message)
                        sorter.done(block)
                        continue
                    items.extend(todo)
                    self.queued_at.update(dict.fromkeys((unit for _, unit, _ in todo), utcnow()))
                    if not todo:  # no items, or all done before a resume
                        self._finish_mapped(block)
                        sorter.done(block)
                else:
                    running[block] = self._start(block, 1)
            if not running:
                continue
            attempt, outcome = self._next_outcome(running)
            del running[attempt.unit]
            self._finish(attempt, outcome)
            retries = self.pipeline.policies[attempt.block].retries
            if outcome.status == "failed" and attempt.number <= retries:
                running[attempt.unit] = self._start(attempt.block, attempt.number + 1,
                                                    attempt.unit, attempt.item)
            elif attempt.item is None:
                self.status[attempt.block] = outcome.status
                sorter.done(attempt.block)
            elif self._item_done(attempt, outcome):
                sorter.done(attempt.block)
        return self.status

    # -- mapped blocks ---------------------------------------------------------------------
    def _items(self, block: BlockName) -> list[tuple[BlockName, str, dict[str, Any]]]:
        """One unit per item of the fan-out parents (zipped, or crossed when asked), but for
        items a resumed run already finished."""
        self._ensure_upstream_values(block)
        parents = [u for u in self.graph.upstream[block]
                   if self.pipeline.block_settings[u].fan_out]
        spec = self.pipeline.blocks[block]
        if not parents:
            raise BlockError(f"block {block} is mapped but no upstream block has fan_out: true",
                             file=str(spec.file))
        lists = [self._fan_out_items(parent, spec) for parent in parents]
        if self.pipeline.block_settings[block].map == "cross":
            combinations = list(itertools.product(*lists))
        elif len({len(values) for values in lists}) > 1:
            sizes = ", ".join(f"{p}: {len(v)}" for p, v in zip(parents, lists, strict=True))
            raise BlockError(f"the fan-out parents of {block} have different numbers of items "
                             f"({sizes}); they are zipped (set `map: cross` to combine them)",
                             file=str(spec.file))
        else:
            combinations = list(zip(*lists, strict=True))
        earlier = self.mapped.get(block)
        mapped = self.mapped[block] = _Mapped(len(combinations))
        if block in self.only_items:
            chosen = self._keep_other_items(block, mapped, earlier)
        else:  # items a resumed run already finished
            done = self.metadata.successful_items(self.run_id, block)
            mapped.stored = {index: [StoredOutput(**o) for o in json.loads(done[unit])]
                             for index in range(mapped.total)
                             if (unit := f"{block}[{index}]") in done}
        return [(block, f"{block}[{index}]", dict(zip(parents, combination, strict=True)))
                for index, combination in enumerate(combinations)
                if index not in mapped.stored and index not in mapped.failed
                and (block not in self.only_items or index == chosen)]

    def _keep_other_items(self, block: BlockName, mapped: _Mapped,
                          earlier: _Mapped | None) -> int:
        """For a run of one item: the others keep their results of the previous run."""
        chosen = self.only_items[block]
        if earlier is None or earlier.total != mapped.total:
            raise BlockError(f"run the whole of {block} first: one item can be run again "
                             "only after a run of all its items, with as many items as now",
                             file=str(self.pipeline.blocks[block].file))
        if not 0 <= chosen < mapped.total:
            raise BlockError(f"{block} has items 0 to {mapped.total - 1}, not {chosen}",
                             file=str(self.pipeline.blocks[block].file))
        mapped.stored = {i: s for i, s in earlier.stored.items() if i != chosen}
        mapped.failed = earlier.failed - {chosen}
        return chosen

    def _fan_out_items(self, parent: BlockName, child: BlockSpec) -> list[Any]:
        """A fan-out block's items: its list (or iterator), or its table in partitions."""
        value = self._value(parent, parent, for_sql=False)
        kind = table_kind(value)
        if kind is not None:
            size = self.pipeline.block_settings[parent].partition_rows
            rows = len(value) if kind != "arrow" else value.num_rows
            if kind == "pandas":
                return [value.iloc[start : start + size] for start in range(0, rows, size)]
            return [value.slice(start, size) for start in range(0, rows, size)]
        if isinstance(value, str | bytes | dict):
            raise BlockError(f"fan-out block {parent} must return a list of items or a table, "
                             f"not {type(value).__name__}", file=str(child.file))
        return list(value)

    def _item_done(self, attempt: _Attempt, outcome: Outcome) -> bool:
        """Record an item's result; True once every item of its block is done."""
        mapped = self.mapped[attempt.block]
        index = int(attempt.unit[len(attempt.block) + 1 : -1])
        if outcome.status == "success":
            mapped.stored[index] = outcome.stored
        else:
            mapped.failed.add(index)
        outcome.outputs.clear()  # stored and seen by the observer: free the values
        if len(mapped.stored) + len(mapped.failed) < mapped.total:
            return False
        self._finish_mapped(attempt.block)
        return True

    def _finish_mapped(self, block: BlockName) -> None:
        """The block's outputs become the ordered lists of its items' outputs, read from
        the items' files when a downstream block (a collect block) asks for them."""
        mapped = self.mapped[block]
        block_run_id = self.metadata.start_block(self.run_id, self.pipeline.name, block, 1)
        if mapped.failed:
            failures = ", ".join(f"{block}[{i}]" for i in sorted(mapped.failed))
            outcome = Outcome(block, 1, "failed", failure=Failure(
                f"{len(mapped.failed)} of {mapped.total} items failed: {failures}", None, None,
                ""))
        else:
            stored = self.store.save_items(self.run_id, block, {
                f"{block}[{i}]": mapped.stored[i] for i in sorted(mapped.stored)})
            self.values[block] = StoredOutputs(self.store, self.run_id, block, stored)
            outcome = Outcome(block, 1, "success", stored=stored)
        self.status[block] = outcome.status
        self._finish(_Attempt(block, 1, 1, block_run_id, None, unit=block), outcome)

    def interrupt(self) -> None:
        """Stop the blocks running now: each ends `cancelled` (a KeyboardInterrupt in its
        thread), and what depends on them does not run."""
        for attempt in list(self.running.values()):
            if attempt.thread is not None:
                _interrupt_thread(attempt.thread, KeyboardInterrupt)

    def _reopen_gate(self, block: BlockName) -> None:
        """A condition block a resumed run already finished keeps its answer: if it was
        false, its downstream stay skipped as they were before the run stopped."""
        if not self.pipeline.block_settings[block].condition:
            return
        record = self.metadata.latest_success(self.pipeline.name, block, self.run_id)
        if record is None:
            return
        stored = [StoredOutput(**o) for o in json.loads(record.outputs)]
        outputs = StoredOutputs(self.store, record.run_id, block, stored)
        self.values[block] = outputs
        if not outputs.get(block):
            self.closed.add(block)

    def _verdict(self, block: BlockName) -> tuple[str, str] | None:
        """None if the block runs now, else its status and why (main thread)."""
        settings = self.pipeline.block_settings[block]
        parents: dict[str, str] = {}
        for parent in self.graph.upstream[block]:
            status = self.status.get(parent, "success")  # not in this run: ran before
            parents[parent] = "skipped" if parent in self.closed else status
        decided = gate(settings.trigger_rule, parents, self.closed)
        if decided is not None or settings.run_if is None:
            return decided
        self._ensure_upstream_values(block)
        try:
            if evaluate(settings.run_if, self._lookup):
                return None
        except Exception as error:  # a name missing, a type mismatch: the block fails
            return "failed", f"run_if `{settings.run_if}` failed: {type(error).__name__}: {error}"
        return "skipped", f"not run: run_if `{settings.run_if}` is false"

    def _lookup(self, name: str) -> Any:
        """A run variable or an upstream output, by name, for `run_if`."""
        source = self.graph.definitions.get(VariableName(name))
        if source is not None:
            return self._value(source, name, for_sql=False)
        if name in self.variables:
            return self.variables[name]
        raise NameError(f"{name!r} is neither a run variable nor an output of a block")

    def _record_not_run(self, block: BlockName, status: str, reason: str) -> None:
        self.status[block] = status
        self.metadata.record_block(self.run_id, self.pipeline.name, block, status, reason)
        self.observer.block_finished(block, Outcome(block, 0, status,
                                                    failure=Failure(reason, None, None, "")))

    def _start(self, block: BlockName, number: int, unit: str | None = None,
               item: dict[str, Any] | None = None) -> _Attempt:
        self._ensure_upstream_values(block)
        unit = unit or block
        policy = self.pipeline.policies[block]
        delay = policy.delay_before(number)
        deadline = time.monotonic() + delay + policy.timeout if policy.timeout else None
        recorded = number + self.attempts_before.get(BlockName(unit), 0)
        block_run_id = self.metadata.start_block(self.run_id, self.pipeline.name,
                                                 BlockName(unit), recorded,
                                                 queued_at=self.queued_at.pop(unit, None))
        attempt = _Attempt(block, number, recorded, block_run_id, deadline, unit=unit,
                           item=item)
        attempt.thread = threading.Thread(
            target=self._work, args=(attempt, delay), name=f"cairn-{unit}", daemon=True
        )
        self.observer.block_started(BlockName(unit), recorded)
        attempt.thread.start()
        return attempt

    def _next_outcome(self, running: dict[str, _Attempt]) -> tuple[_Attempt, Outcome]:
        while True:
            deadlines = [a.deadline for a in running.values() if a.deadline is not None]
            wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            try:
                attempt, outcome = self.results.get(timeout=wait)
            except queue.Empty:
                late = min((a for a in running.values() if a.deadline is not None),
                           key=lambda a: a.deadline or 0.0)
                assert late.thread is not None
                _interrupt_thread(late.thread)
                timeout = self.pipeline.policies[late.block].timeout
                failure = Failure(f"timed out after {timeout:g} s", None, None, "")
                return late, Outcome(late.block, late.recorded, "failed", failure=failure,
                                     duration_s=time.perf_counter() - late.started)
            if running.get(attempt.unit) is attempt:
                return attempt, outcome
            # else: the late result of an attempt that already timed out; ignore it

    def _finish(self, attempt: _Attempt, outcome: Outcome) -> None:
        if outcome.status == "success" and attempt.unit == attempt.block and (
                not self.pipeline.block_settings[attempt.block].map):  # else: _finish_mapped
            self.values[attempt.block] = outcome.outputs
            if (self.pipeline.block_settings[attempt.block].condition
                    and not outcome.outputs.get(attempt.block)):
                self.closed.add(attempt.block)  # its downstream see it as skipped
        self.metadata.finish_block(
            attempt.block_run_id,
            outcome.status,
            rows_in=outcome.rows_in,
            rows_out=outcome.rows_out,
            output_bytes=outcome.output_bytes,
            peak_memory_bytes=outcome.peak_memory_bytes,
            cpu_seconds=outcome.cpu_seconds,
            error=outcome.failure.describe() if outcome.failure else None,
            outputs=[o.to_dict() for o in outcome.stored],
            profile=outcome.profile,
            checkpoints=outcome.checkpoints,
        )
        self.observer.block_finished(BlockName(attempt.unit), outcome)

    # -- inputs --------------------------------------------------------------------------
    def _ensure_upstream_values(self, block: BlockName) -> None:
        """Find outputs of upstream blocks that did not run in this process (main thread)."""
        for upstream in self.graph.upstream[block]:
            if upstream in self.values or not self._succeeded(upstream):
                continue
            record = self.metadata.latest_success(self.pipeline.name, upstream, self.run_id)
            record = record or self.metadata.latest_success(self.pipeline.name, upstream)
            if record is not None:
                stored = [StoredOutput(**o) for o in json.loads(record.outputs)]
                self.values[upstream] = StoredOutputs(self.store, record.run_id, upstream, stored)

    def _succeeded(self, block: BlockName) -> bool:
        """False for a block that was skipped or failed in this run: its outputs are absent
        (None) to a block that runs anyway (`none_failed`, `all_done`), never an earlier
        run's. A block outside this run counts: its latest successful run is read."""
        return self.status.get(block, "success") == "success"

    def _value(self, block: BlockName, name: str, for_sql: bool) -> Any:
        if not self._succeeded(block):
            return None
        outputs = self.values.get(block)
        if outputs is None:
            raise BlockError(
                f"upstream block {block} has not run successfully yet, so {name!r} is missing",
                detail="hint: run it first, or add --upstream to run this block's upstream too",
            )
        value = outputs.get(name) if isinstance(outputs, StoredOutputs) else outputs[name]
        if isinstance(value, TableRef) and not for_sql:
            from cairn.io.numbers import to_pandas

            return to_pandas(self.databases.get(value.connection).read(value.name))
        return value

    def _inputs(self, spec: BlockSpec) -> dict[str, Any]:
        for_sql = spec.language == "sql"
        inputs: dict[str, Any] = {}
        for name in spec.references:
            source = self.graph.definitions.get(name)
            if source is not None and source != spec.name:
                inputs[name] = self._value(source, name, for_sql)
            elif (block := BlockName(name)) in self.pipeline.blocks and block != spec.name:
                # A parameter naming a script-style block gets all its outputs as a dict.
                if not self._succeeded(block):
                    inputs[name] = None
                    continue
                outputs = self.values.get(block)
                names = outputs.names() if isinstance(outputs, StoredOutputs) else list(
                    outputs or {})
                inputs[name] = {n: self._value(block, n, for_sql) for n in names}
            elif name in self.variables:
                inputs[name] = self.variables[name]
        return inputs

    # -- one attempt, in a worker thread ---------------------------------------------------
    def _work(self, attempt: _Attempt, delay: float) -> None:
        block, unit = attempt.block, BlockName(attempt.unit)
        spec = self.pipeline.blocks[block]
        sink = LogSink(self.store.log_path(self.run_id, unit), unit, attempt.recorded,
                        self.observer)
        sensor = self.pipeline.block_settings[block].sensor
        # Named to other processes waiting for a DuckDB file this block holds.
        warehouse_user.set(f"block {unit} of run {self.run_id} ({self.pipeline.name})")
        started = time.perf_counter()
        _sleep(delay)
        cpu_started = time.thread_time()
        children_started = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            with block_output(sink):
                done = (self._poll(spec, attempt.recorded, sensor, sink) if sensor
                        else self._execute(spec, attempt.recorded, attempt.item))
                stored = self.store.save(self.run_id, unit, done.outputs)
            rows = [o.rows for o in stored if o.rows is not None]
            sql = done.sql
            if done.checkpoints and attempt.item is not None:
                raise BlockError("the items of a mapped block cannot set checkpoints: set "
                                 "them in the fan-out block or in one after the collect block",
                                 file=str(spec.file))
            outcome = Outcome(block, attempt.recorded, "success", done.outputs, stored,
                              rows_in=done.rows_in,
                              rows_out=sql.rows if sql else (sum(rows) if rows else None),
                              profile=[asdict(p) for p in sql.profile] if sql else None,
                              checkpoints=done.checkpoints)
        except KeyboardInterrupt:  # interrupt(): the user stopped it, nothing went wrong
            outcome = Outcome(block, attempt.recorded, "cancelled",
                              failure=Failure("cancelled by the user", None, None, ""))
        except (Exception, SystemExit) as error:
            outcome = Outcome(block, attempt.recorded, "failed",
                              failure=describe_failure(error, str(spec.file)))
        finally:
            sink.close()
        outcome.duration_s = time.perf_counter() - started
        outcome.cpu_seconds = time.thread_time() - cpu_started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if spec.language == "r" or self._isolated(spec):
            # Its process, once waited for (such blocks may overlap: an estimate then).
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            outcome.cpu_seconds += (children.ru_utime + children.ru_stime
                                    - children_started.ru_utime - children_started.ru_stime)
            peak = max(peak, children.ru_maxrss)
        outcome.peak_memory_bytes = peak * 1024
        self.results.put((attempt, outcome))

    def _poll(self, spec: BlockSpec, attempt: int, sensor: SensorSettings, sink: LogSink,
              ) -> _Executed:
        """Execute a sensor block until its main output is truthy; fail after its timeout."""
        give_up = time.monotonic() + sensor.timeout
        poll = 1
        while True:
            done = self._execute(spec, attempt)
            if spec.name not in done.outputs:
                raise BlockError(f"sensor {spec.name} defines no {spec.name!r}, whose value "
                                 "says whether it is satisfied", file=str(spec.file))
            if done.outputs[spec.name]:
                return done
            left = give_up - time.monotonic()
            if left <= 0:
                raise BlockError(f"sensor {spec.name} was not satisfied within "
                                 f"{sensor.timeout:g} s", file=str(spec.file))
            wait = min(sensor.interval, left)  # the last poll comes as the timeout ends
            sink("log", f"sensor not satisfied yet (poll {poll}), next in {round(wait, 2):g} s\n")
            _sleep(wait)
            poll += 1

    def _isolated(self, spec: BlockSpec) -> bool:
        """A Python block with `isolation: process` (R blocks have a process anyway; a SQL
        block's work happens in its database)."""
        return (spec.language == "python"
                and self.pipeline.policies[spec.name].isolation == "process")

    def _execute(self, spec: BlockSpec, attempt: int, item: dict[str, Any] | None = None,
                 ) -> _Executed:
        inputs = {**self._inputs(spec), **(item or {})}  # an item replaces its parents' lists
        rows_in = _table_rows(inputs)
        context = RunContext(self.run_id, self.pipeline.name, spec.name, self.execution_date,
                             self.variables, attempt, load_checkpoints=partial(
                                 self.metadata.checkpoint_values, self.pipeline.name, spec.name))
        if spec.language == "sql":
            from cairn.blocks.sql_run import run_sql

            settings = self.pipeline.block_settings[spec.name]
            materialize = settings.materialize or spec.header.get("materialize", "table")
            policy = settings.write or spec.header.get("write", "replace")
            outputs, sql = run_sql(spec, inputs, self.variables, self.databases,
                                   materialize, policy,  # type: ignore[arg-type]
                                   context, settings.checkpoints, settings.key)
            return _Executed(outputs, sql, rows_in, context.new_checkpoints)
        if spec.language == "r":
            from cairn.blocks.r_run import run_r

            outputs = run_r(spec, inputs, context)
        elif self._isolated(spec):
            from cairn.runtime.isolation import run_isolated

            outputs = run_isolated(spec, inputs, context)
        else:
            from cairn.blocks.python_run import run_python

            outputs = run_python(spec, inputs, context)
        return _Executed(outputs, None, rows_in, context.new_checkpoints)
