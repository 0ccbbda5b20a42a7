"""What a user can do with a project, as plain functions: the CLI and the server call these."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cairn.atomic import remove_orphaned_temporaries
from cairn.errors import CairnError, Problem, closest
from cairn.graph.build import Graph, build_graph
from cairn.ids import BlockName, RunId, item_of
from cairn.project.config import Project
from cairn.project.pipeline import Pipeline, load_pipeline
from cairn.runtime.capture import routed_output
from cairn.runtime.runner import Runner, RunObserver
from cairn.runtime.values import StoredOutput, TableRef
from cairn.runtime.variable_store import VariableStore

if TYPE_CHECKING:  # SQLAlchemy loads only for commands that read or write history
    from cairn.monitor.watch import RunAlerts
    from cairn.store.metadata import MetadataStore


def plan(project: Project, name: str, variables: Mapping[str, Any] | None = None,
         sources: Mapping[str, str] | None = None) -> tuple[Pipeline, Graph]:
    """Load a pipeline and infer its graph; every problem found is in `graph.problems`.
    `sources` are unsaved versions of some blocks to infer with instead of their files."""
    pipeline = load_pipeline(project, name, variables, sources)
    explicit = {b: s.upstream for b, s in pipeline.block_settings.items() if s.upstream}
    provided = list(pipeline.variables)
    if pipeline.settings.source is not None:  # a stream gives its blocks each micro-batch
        provided.append(pipeline.settings.source.name)
    graph = build_graph(list(pipeline.blocks.values()), explicit, provided)
    graph.problems[:0] = pipeline.problems
    listed = [b for b in pipeline.blocks if b in {s.name for s in pipeline.settings.blocks}]
    if len(listed) < len(pipeline.blocks):  # blocks not under `blocks:` follow in DAG order
        graph.order = graph.dag_order(listed)
        pipeline.blocks = {b: pipeline.blocks[b] for b in graph.order}
    return pipeline, graph


def checked_plan(project: Project, name: str, variables: Mapping[str, Any] | None = None,
                 ) -> tuple[Pipeline, Graph]:
    pipeline, graph = plan(project, name, variables)
    if graph.problems:
        raise CairnError(graph.problems)
    return pipeline, graph


def block_notes(project: Project, pipeline: Pipeline) -> dict[BlockName, dict[str, object]]:
    """What decides whether and how often each block runs, where it is not the default, and
    the number of items of mapped blocks in the latest run."""
    mapping = any(s.map for s in pipeline.block_settings.values())
    items = _latest_item_counts(project, pipeline.name) if mapping else {}
    shown: dict[BlockName, dict[str, object]] = {}
    for block, settings in pipeline.block_settings.items():
        decided: dict[str, object] = {}
        if settings.fan_out:
            decided["fan_out"] = True
        if settings.map:
            decided["map"] = settings.map
            if block in items:
                decided["items"] = items[block]
        if settings.run_if is not None:
            decided["run_if"] = settings.run_if
        if settings.condition:
            decided["condition"] = True
        if settings.trigger_rule != "all_success":
            decided["trigger_rule"] = settings.trigger_rule
        if decided:
            shown[block] = decided
    return shown


def _latest_item_counts(project: Project, pipeline: str) -> dict[str, int]:
    metadata = open_metadata(project)
    try:
        latest = metadata.latest_run(pipeline)
        units = {r.block for r in metadata.block_runs(latest.id)} if latest else set()
    finally:
        metadata.close()
    counts: dict[str, int] = {}
    for unit in units:
        if (block := item_of(unit)) is not None:
            counts[block] = counts.get(block, 0) + 1
    return counts


def list_checkpoints(project: Project, pipeline: str | None, history: bool = False,
                     ) -> list[Any]:
    """Current checkpoints (of one pipeline, or all), or with `history` every version."""
    if pipeline is not None:
        load_pipeline(project, pipeline)  # an unknown pipeline is an error, not "none"
    metadata = open_metadata(project)
    try:
        current = metadata.current_checkpoints(pipeline)
        if not history:
            return current
        return [version for row in current for version in
                metadata.checkpoint_versions(row.pipeline, row.block, row.name)]
    finally:
        metadata.close()


def reset_checkpoints(project: Project, pipeline: str, block: str | None,
                      to_version: int | None, to_value: str | None, note: str,
                      ) -> list[tuple[str, str, int]]:
    """Reset a pipeline's (or a block's) checkpoints: to no value (the next run processes
    everything), to an earlier version's value, or to a JSON value. Recorded as versions."""
    if block is not None:
        check_blocks(load_pipeline(project, pipeline), [block])
    else:
        load_pipeline(project, pipeline)
    metadata = open_metadata(project)
    try:
        return metadata.reset_checkpoints(pipeline, block, to_version, to_value, note)
    finally:
        metadata.close()


def check_blocks(pipeline: Pipeline, names: Sequence[str]) -> list[BlockName]:
    for name in names:
        if name not in pipeline.blocks:
            raise CairnError(
                Problem("unknown-block", f"pipeline {pipeline.name} has no block {name!r}",
                        hint=closest(name, pipeline.blocks))
            )
    return [BlockName(n) for n in names]


def select_blocks(pipeline: Pipeline, graph: Graph, blocks: Sequence[str],
                  downstream: bool = False, upstream: bool = False) -> list[BlockName]:
    """The blocks a run covers, in display order."""
    if not blocks:
        return list(graph.order)
    chosen = set(check_blocks(pipeline, blocks))
    if downstream:
        chosen |= graph.closure(chosen, "downstream")
    if upstream:
        chosen |= graph.closure(chosen, "upstream")
    return [b for b in graph.order if b in chosen]


def open_metadata(project: Project) -> MetadataStore:
    from cairn.store.metadata import MetadataStore

    store = MetadataStore(project.metadata_url)
    dead = store.mark_dead_runs()
    if dead:
        from cairn.monitor.watch import alert_dead_runs

        alert_dead_runs(project, store, list(dead))
    return store


def variable_store(project: Project) -> VariableStore:
    return VariableStore(project.state_dir / "runs")


def utc_now() -> datetime:
    """Now, in UTC without a zone: how the history stores times."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id() -> RunId:
    return RunId(time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3))


@dataclass
class RunResult:
    run_id: RunId
    status: str
    blocks: dict[BlockName, str]
    resumed: bool


def run_pipeline(
    project: Project,
    name: str,
    observer: RunObserver,
    variables: Mapping[str, Any] | None = None,
    blocks: Sequence[str] = (),
    downstream: bool = False,
    upstream: bool = False,
    resume: str | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Run a pipeline (or some of its blocks), or resume an earlier run where it stopped."""
    from cairn.io.api import active_connections
    from cairn.io.config import load_connections
    from cairn.io.pool import Databases

    metadata = open_metadata(project)
    # Output writes of runs whose process was killed may have left temporaries behind.
    remove_orphaned_temporaries(project.state_dir / "runs")
    databases = Databases(load_connections(project))
    alerts: RunAlerts | None = None
    try:
        if resume is not None:
            record = (metadata.latest_run(name) if resume == "latest"
                      else metadata.find_run(resume, name))
            if record is None:
                raise CairnError(Problem("unknown-run", f"pipeline {name} has no run to resume"))
            if record.status == "success":
                raise CairnError(Problem("nothing-to-resume",
                                         f"run {record.id} already succeeded"))
            if record.status == "running":
                raise CairnError(Problem("run-in-progress", f"run {record.id} is still running",
                                         hint="wait for it, or stop its process first"))
            run_variables = json.loads(record.variables)
            pipeline, graph = checked_plan(project, name, run_variables)
            selected = [b for b in json.loads(record.blocks) if b in pipeline.blocks]
            done = {BlockName(b) for b in selected
                    if metadata.latest_success(name, b, record.id) is not None}
            run_id, execution_date = RunId(record.id), record.execution_date
            attempts_before = {BlockName(b.block): b.attempt for b in metadata.block_runs(run_id)}
            metadata.reopen_run(run_id)
        else:
            pipeline, graph = checked_plan(project, name, variables)
            if pipeline.settings.source is not None:  # a stream's blocks, on a sample batch
                from cairn.stream.sample import sample_variables

                pipeline.variables = sample_variables(project, pipeline)
            selected = select_blocks(pipeline, graph, blocks, downstream, upstream)
            done, attempts_before = set(), {}
            run_id = RunId(run_id) if run_id else new_run_id()
            execution_date = utc_now()
            # A run the scheduler queued is taken over; its execution date is its slot.
            if metadata.adopt_run(run_id, selected, pipeline.variables):
                execution_date = metadata.find_run(run_id).execution_date
            else:
                metadata.create_run(run_id, name, selected, pipeline.variables, execution_date)

        runner = Runner(pipeline, graph, metadata, variable_store(project), databases,
                        observer, project.settings.max_parallel)
        if project.settings.alerts.routes:  # SLA misses as they happen, then the end
            from cairn.monitor.watch import RunAlerts

            alerts = RunAlerts(project, pipeline.settings, run_id)
        try:
            with (routed_output(), contextlib.chdir(project.root),
                  active_connections(databases, project.settings.default_connection),
                  heartbeat(project, run_id)):
                # Relative paths in blocks are relative to the project, wherever cairn started.
                statuses = runner.run(run_id, [BlockName(b) for b in selected],
                                      pipeline.variables, execution_date, done,
                                      attempts_before)
        except KeyboardInterrupt:
            # Ctrl-C: the user stopped it. The run and its running blocks are `cancelled`
            # (resumable), and the caller reports it like any other end.
            metadata.interrupt_run(run_id, "cancelled by the user (Ctrl-C)", status="cancelled")
            cancelled = {BlockName(unit): "cancelled" for unit in runner.running}
            return RunResult(run_id, "cancelled", {**runner.status, **cancelled},
                             resume is not None)
        failed = sorted(b for b, s in statuses.items() if s not in ("success", "skipped"))
        status = "failed" if failed else "success"
        metadata.finish_run(run_id, status, f"blocks not successful: {', '.join(failed)}"
                            if failed else None)
        if alerts is not None:  # only now: sending can never delay the run's status
            alerts.finished()
        return RunResult(run_id, status, statuses, resume is not None)
    finally:
        if alerts is not None:
            alerts.close()
        databases.close()
        metadata.close()


HEARTBEAT_SECONDS = 2.0


@contextlib.contextmanager
def heartbeat(project: Project, run_id: RunId) -> Iterator[None]:
    """Tell the history this run's process is alive, so a dead one is noticed in time."""
    from cairn.store.metadata import MetadataStore

    stop = threading.Event()
    store = MetadataStore(project.metadata_url)  # its own connections, for its own thread

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(Exception):  # a missed beat is retried at the next one
                store.heartbeat(run_id)

    thread = threading.Thread(target=beat, name="cairn-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        store.close()


def read_output(project: Project, pipeline_name: str, block: str,
                run_id: str | None = None, output: str | None = None,
                limit: int | None = None) -> dict[str, Any]:
    """A block's outputs from its latest successful run (or from the given run): the one
    named `output`, else the one named after the block, else all of them. `block` may
    also be the name of an output: the block that defines it is read. Tables kept in a
    database come back as pandas DataFrames of at most `limit` rows."""
    pipeline = load_pipeline(project, pipeline_name)
    if block not in pipeline.blocks:
        definers = [name for name, spec in pipeline.blocks.items() if block in spec.defines]
        if len(definers) == 1 and output in (None, block):
            block, output = definers[0], block
    check_blocks(pipeline, [block])
    metadata = open_metadata(project)
    try:
        if run_id:
            run_id = metadata.find_run(run_id, pipeline_name).id
        record = metadata.latest_success(pipeline_name, block, run_id)
    finally:
        metadata.close()
    if record is None:
        where = f"in run {run_id}" if run_id else "yet"
        raise CairnError(Problem("no-output", f"block {block} has no successful run {where}",
                                 hint=f"run it with `cairn run {pipeline_name} --block {block}`"))
    store = variable_store(project)
    outputs = [StoredOutput(**o) for o in json.loads(record.outputs)]
    wanted = output or (block if any(o.name == block for o in outputs) else None)
    if wanted is not None:
        if not any(o.name == wanted for o in outputs):
            raise CairnError(Problem("unknown-output", f"block {block} has no output {wanted!r}",
                                     hint=closest(wanted, [o.name for o in outputs])))
        outputs = [o for o in outputs if o.name == wanted]
    values: dict[str, Any] = {}
    for stored in outputs:
        value = store.load(RunId(record.run_id), BlockName(block), stored) if (
            stored.file or stored.kind == "table") else None
        if isinstance(value, TableRef):
            value = read_table(project, value, limit)
        values[stored.name] = value
    return values


def read_table(project: Project, table: TableRef, limit: int | None = None) -> Any:
    """A table of a block, read from its connection as a pandas DataFrame."""
    from cairn.io.config import load_connections
    from cairn.io.numbers import to_pandas
    from cairn.io.pool import Databases

    databases = Databases(load_connections(project))
    try:
        return to_pandas(databases.get(table.connection).read(table.name, limit))
    finally:
        databases.close()
