"""The `streaming` workload: events per second and end-to-end latency of a stream from a
broker through one Python block into PostgreSQL, beside the broker's raw consume rate.

As a script, run by run.py as a child (it imports the broker clients and Cairn itself):
    python bench/streaming.py BROKER POSTGRES_URL SCHEMA ROOT EVENTS RATE SECONDS
BROKER is `redis` or `nats`. Prints JSON with: the raw rate (a plain client loop consuming
EVENTS pre-published events: fetch 1,000, acknowledge them); the wall time of `cairn stream
--stop-when-idle 1` with no event (start-up, idle tail, stop) and with EVENTS pre-published
ones, and the first-row-to-last-row span of the sink table; end-to-end latencies of events
published at RATE per second for SECONDS while a stream runs (PostgreSQL's `inserted_at`,
set when the row is written, minus the publisher's clock in the event) and those the stream
recorded itself; and the time each step of the loop takes in an in-process run.
"""

from __future__ import annotations

import json
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import projects
from measure import run_once

if TYPE_CHECKING:  # the driver imports this module for its defaults: it stays small
    from stream_brokers import Broker

PIPELINE = "events"
EVENTS = 100_000
BROKER_KINDS = ("redis", "nats")
LATENCY_RATE = 2_000  # events per second
LATENCY_SECONDS = 10.0
EMPTY_RUNS = 2  # measured runs with no event, after one warm-up
STEP_EVENTS = 20_000
IDLE_S = 1.0  # --stop-when-idle of the measured runs
_WAIT_S = 120.0  # longest wait for rows to arrive; a bench that waits longer has failed

_BLOCK = """
    from cairn import block


    @block
    def rows(messages):
        return [{"id": m["id"], "amount": m["amount"] * 2, "sent_at": m["sent_at"]}
                for m in messages]
"""

# The steps of the loop timed in process: (label, module, owner in it or "" for the module
# itself, attribute). Labels starting with spaces are parts of the step above them.
_LOOP, _FETCH, _IDLE = "the whole loop", "source fetch (broker read, Message objects)", "idle"
_STEPS = [
    (_LOOP, "cairn.stream.loop", "StreamLoop", "run"),
    (_FETCH, "cairn.stream.{broker}", "SOURCE", "fetch"),
    ("transform", "cairn.stream.transform", "Transformer", "run"),
    ("  of which JSON decoding of the batch", "cairn.stream.transform", "", "batch_value"),
    ("  of which the block itself", "cairn.stream.transform", "", "run_python"),
    ("sink write", "cairn.stream.table_sink", "TableSink", "write"),
    ("  of which rows -> Arrow table", "cairn.stream.message", "Rows", "table"),
    ("  of which the database write (transaction, COPY, commit)",
     "cairn.io.alchemy_database", "AlchemyDatabase", "write"),
    ("source commit (acknowledgements)", "cairn.stream.{broker}", "SOURCE", "commit"),
    ("position checkpoint (metadata DB)", "cairn.stream.recording", "StreamRecord",
     "record_position"),
    ("status report (streams row, lag)", "cairn.stream.loop", "StreamLoop", "_report"),
]
_WARM_UP_EVENTS = 1_000


def stream_project(root: Path, broker: Broker, postgres_url: str, schema: str) -> Path:
    """Pipeline `events`: the broker's topic -> block `rows` -> table `events` of `schema`."""
    sink = projects.sqlalchemy_url(postgres_url)
    root.mkdir(parents=True, exist_ok=True)
    (root / "io_config.yaml").write_text(
        "default:\n"
        f"  broker:\n    kind: {broker.kind}\n    url: {broker.url}\n"
        f"  sink:\n    kind: postgres\n    url: {sink}\n    schema: {schema}\n")
    settings = f"""
        type: streaming
        source:
          kind: {broker.kind}
          connection: broker
          topic: {broker.topic}
        batch:
          max_messages: 1000
          max_wait: 0.2
        sinks:
          - connection: sink
            table: events
    """
    return projects.write_project(root, PIPELINE, {"rows.py": _BLOCK}, settings)


def event(number: int, sent_at: float) -> bytes:
    return json.dumps({"id": number, "amount": number, "sent_at": sent_at}).encode()


def events(first: int, count: int) -> Iterator[bytes]:
    now = time.time()
    return (event(number, now) for number in range(first, first + count))


# -- the sink table --------------------------------------------------------------------------
class Table:
    """The sink table, made before the stream starts so that each row gets `inserted_at`."""

    def __init__(self, url: str, schema: str) -> None:
        import psycopg

        self.connection = psycopg.connect(url, autocommit=True)
        self.name = f'"{schema}".events'
        self.connection.execute(
            f"CREATE TABLE {self.name} (id bigint, amount bigint, sent_at double precision, "
            "inserted_at timestamptz NOT NULL DEFAULT clock_timestamp())")

    def one(self, sql: str) -> Any:
        found = self.connection.execute(sql.format(table=self.name)).fetchone()
        assert found is not None
        return found[0]

    def count(self) -> int:
        return int(self.one("SELECT count(*) FROM {table}"))

    def wait_for(self, rows: int) -> None:
        deadline = time.monotonic() + _WAIT_S
        while (found := self.count()) < rows:
            if time.monotonic() > deadline:
                raise SystemExit(f"the sink table has {found:,} rows, not {rows:,}")
            time.sleep(0.05)

    def checked(self, rows: int) -> None:
        """Exactly `rows` rows, each event once (nothing lost, nothing twice)."""
        found = self.one("SELECT count(DISTINCT id) || '/' || count(*) FROM {table}")
        if found != f"{rows}/{rows}":
            raise SystemExit(f"the sink table has {found} distinct/all rows, not {rows}")

    def span_s(self) -> float:
        return float(self.one(
            "SELECT extract(epoch FROM max(inserted_at) - min(inserted_at)) FROM {table}"))

    def latencies_ms(self) -> list[float]:
        found = self.connection.execute(
            f"SELECT (extract(epoch FROM inserted_at)::float8 - sent_at) * 1000 "
            f"FROM {self.name} WHERE id >= 0").fetchall()
        return [row[0] for row in found]

    def truncate(self) -> None:
        self.connection.execute(f"TRUNCATE {self.name}")


# -- Cairn: whole `cairn stream` processes -------------------------------------------------------
def _cairn() -> list[str]:
    beside = Path(sys.executable).parent / "cairn"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "cairn"]


def drain(root: Path) -> tuple[float, int]:
    """Wall time and peak RSS of `cairn stream` consuming until idle for IDLE_S."""
    sample = run_once([*_cairn(), "stream", PIPELINE, "--project", str(root),
                       "--stop-when-idle", f"{IDLE_S:g}"], cwd=root)
    return sample.wall_s, sample.peak_rss_bytes


def stream_state(root: Path) -> Any:
    """The `streams` row the last stream process left (its counters, its latencies)."""
    from cairn.project.config import find_project
    from cairn.store.metadata import MetadataStore
    from cairn.store.stream_state import StreamStates

    store = MetadataStore(find_project(root).metadata_url)
    try:
        state = StreamStates(store).get(PIPELINE)
    finally:
        store.close()
    if state is None:
        raise SystemExit(f"stream {PIPELINE} left no row in `streams`")
    return state


def throughput(root: Path, broker: Broker, table: Table, count: int) -> dict[str, Any]:
    drain(root)  # warm-up: creates the history database and the consumer group
    empty = statistics.median(drain(root)[0] for _ in range(EMPTY_RUNS))
    broker.publish(broker.topic, events(0, count))
    wall_s, peak = drain(root)
    table.checked(count)
    span = table.span_s()
    state = stream_state(root)
    return {"empty_wall_s": empty, "wall_s": wall_s, "peak_rss_bytes": peak,
            "process_rate": count / (wall_s - empty), "span_s": span,
            "span_rate": count / span, "batches": state.batches}


def latency(root: Path, broker: Broker, table: Table, rate: float,
            seconds: float) -> dict[str, Any]:
    """Events published at `rate` while one stream runs; the rows' latencies, and the
    stream's own p50/p99 (from its `streams` row)."""
    table.truncate()
    log_path = root.parent / f"{root.name}-stream.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([*_cairn(), "stream", PIPELINE, "--project", str(root)],
                                   cwd=root, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            broker.publish(broker.topic, iter([event(-1, time.time())]))  # consuming yet?
            table.wait_for(1)
            published, took = broker.publish_paced(broker.topic, rate, seconds, event)
            table.wait_for(1 + published)
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
    if code != 0:
        raise SystemExit(f"cairn stream exited with {code}:\n"
                         f"{log_path.read_text(errors='replace')[-2000:]}")
    table.checked(1 + published)
    latencies = table.latencies_ms()
    cuts = statistics.quantiles(latencies, n=100)
    state = stream_state(root)
    return {"published": published, "publish_rate": published / took, "p50_ms": cuts[49],
            "p99_ms": cuts[98], "max_ms": max(latencies),
            "stream_p50_ms": state.latency_p50_ms, "stream_p99_ms": state.latency_p99_ms}


def steps(root: Path, broker: Broker, table: Table, count: int) -> dict[str, Any]:
    """`run_stream` in this process draining `count` events, each step of its loop timed
    (after a warm-up run that pays the first batch's imports): seconds per step."""
    import importlib

    from cairn.project.config import find_project
    from cairn.stream.process import run_stream

    table.truncate()
    project = find_project(root)
    broker.publish(broker.topic, events(10_000_000, _WARM_UP_EVENTS))
    run_stream(project, PIPELINE, IDLE_S)
    broker.publish(broker.topic, events(20_000_000, count))
    seconds: dict[str, float] = dict.fromkeys([label for label, *_ in _STEPS] + [_IDLE], 0.0)
    patched = []
    for label, module_name, owner_name, attribute in _STEPS:
        module = importlib.import_module(module_name.format(broker=broker.kind))
        owner = getattr(module, owner_name) if owner_name else module
        original = getattr(owner, attribute)
        setattr(owner, attribute, _timed(seconds, label, original))
        patched.append((owner, attribute, original))
    try:
        run_stream(project, PIPELINE, IDLE_S)
    finally:
        for owner, attribute, original in patched:
            setattr(owner, attribute, original)
    table.checked(_WARM_UP_EVENTS + count)
    busy = seconds.pop(_LOOP) - seconds.pop(_IDLE)
    return {"events": count, "busy_s": busy, "rate": count / busy,
            "parts": [[label, value / busy] for label, value in seconds.items()]}


def _timed(seconds: dict[str, float], label: str, function: Any) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = function(*args, **kwargs)
        # A fetch that returns nothing was the idle tail's wait, not work.
        step = _IDLE if label == _FETCH and not result else label
        seconds[step] += time.perf_counter() - started
        return result

    return timed


def main(kind: str, url: str, schema: str, root: Path, count: int, rate: float,
         seconds: float) -> dict[str, Any]:
    from stream_brokers import BROKERS

    broker = BROKERS[kind](f"cairn-bench-{secrets.token_hex(4)}")
    reason = broker.unreachable()
    if reason:
        return {"skipped": reason}
    try:
        broker.prepare()
        broker.publish(broker.raw_topic, events(0, count))
        raw_s = broker.raw_consume(count)
        stream_project(root, broker, url, schema)
        table = Table(url, schema)
        found = {"broker": kind, "events": count, "raw_s": raw_s, "raw_rate": count / raw_s,
                 **throughput(root, broker, table, count),
                 "latency": latency(root, broker, table, rate, seconds),
                 "steps": steps(root, broker, table, min(count, STEP_EVENTS))}
    finally:
        broker.clean_up()
    return found


if __name__ == "__main__":
    result = main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]), int(sys.argv[5]),
                  float(sys.argv[6]), float(sys.argv[7]))
    print(json.dumps(result))
