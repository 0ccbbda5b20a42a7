"""Cairn benchmarks: whole `cairn` processes on generated projects, plus in-process planning
and PostgreSQL loading.

Usage: python bench/run.py [--repeat N]
                           [--only w1|w2|w3|plan|help|pushdown|load|r|notebook|scheduler|
                                   fan_out|incremental|streaming|warehouse]
                           [--keep]
                           [--postgres URL]
Prints figures and a table; never judges timings by failing.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pg_admin
import projects
import r_exchange
import scheduler
import streaming
from measure import MIB, BenchError, Series, run_once, run_series

WORKLOADS = ("w1", "w2", "w3", "plan", "help", "pushdown", "load", "r", "notebook",
             "scheduler", "fan_out", "incremental", "streaming", "warehouse")
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
LOAD_TARGET = 5.0  # Cairn's bulk load at least this many times faster than to_sql
# Whole-process figures from other tools on this kind of machine (median).
REFERENCES = {
    "w2": "Hamilton 0.77 s; Dagster 9 s; Prefect 10.6 s; Mage `mage run` 348 s",
    "w3": "plain Python 0.76 s at 410 MiB (reference machine)",
}


@dataclass
class Row:
    """One line of the final table."""

    name: str
    value: str
    target: str = ""
    verdict: str = ""
    reference: str = ""


def cairn_command() -> str:
    """The `cairn` next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "cairn"
    found = str(beside) if beside.exists() else shutil.which("cairn")
    if found is None:
        raise BenchError("no `cairn` command found next to the interpreter or on PATH")
    return found


def seconds(value: float) -> str:
    return f"{value:.3f} s"


def mib(value: float) -> str:
    return f"{value / MIB:.0f} MiB"


def check(value: float, limit: float) -> str:
    return "met" if value < limit else "MISSED"


def clear_runs(project: Path) -> Callable[[], None]:
    """Delete earlier runs' output files (not the history), so repeats do not fill the disk."""
    return lambda: shutil.rmtree(project / ".cairn" / "runs", ignore_errors=True)


def cairn_once(project: Path, *arguments: str) -> float:
    """One `cairn` command on a project (a step around the measured runs): its wall time."""
    return run_once([cairn_command(), *arguments, "--project", str(project)],
                    cwd=project).wall_s


def cairn_run(project: Path, pipeline: str, repeat: int) -> Series:
    command = [cairn_command(), "run", pipeline, "--quiet", "--project", str(project)]
    return run_series(command, repeat, cwd=project, before_each=clear_runs(project))


def report(label: str, series: Series) -> None:
    print(f"  {label}: median {seconds(series.wall_s)} (warm-up {seconds(series.warmup.wall_s)}),"
          f" peak RSS {mib(series.peak_rss_bytes)}", flush=True)


# -- workloads -------------------------------------------------------------------------
def bench_w1(work: Path, repeat: int) -> list[Row]:
    project = projects.w1_project(work / "w1")
    series = cairn_run(project, "w1", repeat)
    if not (project / "output" / "orders.csv").is_file():
        raise BenchError("W1 did not write its CSV")
    report("W1 cairn run", series)
    return [Row("W1 wall (3 blocks, 100-row DataFrame -> CSV)", seconds(series.wall_s)),
            Row("W1 peak RSS", mib(series.peak_rss_bytes))]


def bench_w2(work: Path, repeat: int) -> list[Row]:
    project = projects.w2_project(work / "w2")
    series = cairn_run(project, "w2", repeat)
    report("W2 cairn run", series)
    return [Row("W2 wall (50 blocks, 10 layers x 5, full fan-in)", seconds(series.wall_s),
                "< 1 s", check(series.wall_s, 1.0), REFERENCES["w2"]),
            Row("W2 peak RSS", mib(series.peak_rss_bytes))]


def bench_w3(work: Path, repeat: int, rows: int) -> list[Row]:
    project = projects.w3_project(work / "w3", rows)
    script = projects.w3_plain_script(work / "w3_plain", rows)
    cairn = cairn_run(project, "w3", repeat)
    if not (project / "output" / "totals.parquet").is_file():
        raise BenchError("W3 did not write its Parquet file")
    report("W3 cairn run", cairn)
    plain = run_series([sys.executable, str(script)], repeat, cwd=script.parent)
    report("W3 plain script", plain)
    frame_bytes = int(plain.stdout.strip().splitlines()[-1])
    print(f"  W3 DataFrame size {mib(frame_bytes)}", flush=True)
    memory_ratio = cairn.peak_rss_bytes / frame_bytes
    return [
        Row(f"W3 wall, cairn ({rows:,} rows -> group-by -> Parquet)", seconds(cairn.wall_s)),
        Row("W3 wall, plain Python script", seconds(plain.wall_s), reference="0.76 s"),
        Row("W3 wall ratio cairn / plain", f"{cairn.wall_s / plain.wall_s:.2f}x"),
        Row("W3 peak RSS, cairn", mib(cairn.peak_rss_bytes)),
        Row("W3 peak RSS, plain Python script", mib(plain.peak_rss_bytes),
            reference="410 MiB"),
        Row("W3 peak RSS ratio cairn / plain",
            f"{cairn.peak_rss_bytes / plain.peak_rss_bytes:.2f}x"),
        Row("W3 DataFrame size (memory_usage deep)", mib(frame_bytes)),
        Row("W3 cairn peak RSS / DataFrame size", f"{memory_ratio:.2f}x", "< 2x",
            check(memory_ratio, 2.0)),
        Row("W3 plain peak RSS / DataFrame size",
            f"{plain.peak_rss_bytes / frame_bytes:.2f}x"),
    ]


def bench_plan(work: Path, repeat: int) -> list[Row]:
    root = projects.plan_project(work / "plan")
    timing = Path(__file__).with_name("plan_timing.py")
    inner = run_once([sys.executable, str(timing), str(root), "big", str(repeat)], cwd=root)
    found = json.loads(inner.stdout)
    if found["problems"] or found["blocks"] != projects.PLAN_GROUPS * 10:
        raise BenchError(f"the 1,000-block plan is wrong: {found['problems']}")
    plan_s, layers_s = found["plan_s"], found["layers_s"]
    total = plan_s + layers_s
    print(f"  plan: {found['blocks']} blocks, {found['edges']} edges, {found['layers']} layers;"
          f" in-process plan() {seconds(plan_s)} (first {seconds(found['first_plan_s'])}),"
          f" layers() {seconds(layers_s)}", flush=True)
    command = [cairn_command(), "graph", "big", "--format", "json", "--project", str(root)]
    process = run_series(command, repeat, cwd=root)
    report("cairn graph --format json", process)
    return [
        Row("plan 1,000 blocks in-process: plan() + layers()", seconds(total), "< 1 s",
            check(total, 1.0)),
        Row("  of which service.plan() (parse + infer + graph)", seconds(plan_s)),
        Row("  of which graph.layers()", seconds(layers_s)),
        Row("`cairn graph big --format json` process, 1,000 blocks", seconds(process.wall_s)),
        Row("  its peak RSS", mib(process.peak_rss_bytes)),
    ]


def bench_help(work: Path, repeat: int) -> list[Row]:
    cairn = run_series([cairn_command(), "--help"], repeat, cwd=work)
    report("cairn --help", cairn)
    floor = run_series([sys.executable, "-c", "pass"], repeat, cwd=work)
    report("python -c pass", floor)
    return [Row("`cairn --help` start-up", seconds(cairn.wall_s), "< 0.3 s",
                check(cairn.wall_s, 0.3)),
            Row("  floor: `python -c pass` (wall, peak RSS)",
                f"{seconds(floor.wall_s)}, {mib(floor.peak_rss_bytes)}")]


# -- PostgreSQL workloads ------------------------------------------------------------------
def postgres(url: str, *arguments: str) -> str:
    """Run a pg_admin.py command as a child; its output, stripped."""
    script = Path(__file__).with_name("pg_admin.py")
    return run_once([sys.executable, str(script), url, *arguments]).stdout.strip()


def server_version(url: str) -> str | None:
    try:
        return postgres(url, "check")
    except BenchError as error:
        print(f"  PostgreSQL not reachable at {url}: {error.args[0].splitlines()[-1]}",
              flush=True)
        return None


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new, empty schema `bench_<random>`, dropped (with all in it) at the end."""
    schema = f"bench_{secrets.token_hex(4)}"
    postgres(url, "schema", schema)
    try:
        yield schema
    finally:
        postgres(url, "drop", schema)


def skipped(name: str, url: str) -> list[Row]:
    return [Row(f"{name}: skipped", f"no PostgreSQL at {url}")]


def bench_pushdown(work: Path, repeat: int, url: str, rows: int) -> list[Row]:
    version = server_version(url)
    if version is None:
        return skipped("pushdown", url)
    keys = pg_admin.BIG_KEYS
    with fresh_schema(url) as schema:
        print(f"  PostgreSQL {version}, schema {schema}: creating table big, {rows:,} rows"
              " (untimed)", flush=True)
        started = time.perf_counter()
        postgres(url, "big", schema, str(rows))
        print(f"  created and vacuumed in {seconds(time.perf_counter() - started)}", flush=True)
        project = projects.pushdown_project(work / "pushdown", url, schema, rows, keys)
        in_place = cairn_run(project, "pushdown_sql", repeat)
        if postgres(url, "count", f"{schema}.totals_sql") != str(keys):
            raise BenchError(f"pushdown: table totals_sql does not have {keys} rows")
        report("pushdown, SQL block GROUP BY in PostgreSQL", in_place)
        # The block asserts its own result: 1,000 groups counting every row.
        pandas = cairn_run(project, "pushdown_pandas", repeat)
        report("pushdown, Python block pandas.read_sql + groupby", pandas)
    return [
        Row(f"pushdown wall, SQL block aggregating {rows:,} rows in place",
            seconds(in_place.wall_s)),
        Row("pushdown wall, Python block: pandas.read_sql of the table + groupby",
            seconds(pandas.wall_s)),
        Row("pushdown ratio pandas / in place", f"{pandas.wall_s / in_place.wall_s:.1f}x"),
        Row("pushdown peak RSS, SQL block / pandas block",
            f"{mib(in_place.peak_rss_bytes)} / {mib(pandas.peak_rss_bytes)}"),
    ]


def bench_load(work: Path, repeat: int, url: str, rows: int) -> list[Row]:
    version = server_version(url)
    if version is None:
        return skipped("load", url)
    with fresh_schema(url) as schema:
        print(f"  PostgreSQL {version}, schema {schema}", flush=True)
        project = projects.load_project(work / "load", url, schema, rows)
        floor = cairn_run(project, "load_frame", repeat)
        report("cairn run load_frame (the Python block alone)", floor)
        whole = cairn_run(project, "load", repeat)
        if postgres(url, "count", f"{schema}.copied") != str(rows):
            raise BenchError(f"load: table copied does not have {rows:,} rows")
        report("cairn run load (Python block -> SQL block SELECT * FROM frame)", whole)
        timing = Path(__file__).with_name("load_timing.py")
        inner = run_once([sys.executable, str(timing), url, schema, str(rows), str(repeat)])
    found = json.loads(inner.stdout)
    cairn_s, to_sql_s = found["cairn_s"], found["to_sql_s"]
    speedup = to_sql_s / cairn_s
    print(f"  in-process: Cairn {seconds(cairn_s)} (first {seconds(found['first_cairn_s'])}),"
          f" to_sql {seconds(to_sql_s)} (first {seconds(found['first_to_sql_s'])});"
          f" DataFrame {mib(found['frame_bytes'])}, CSV {mib(found['csv_bytes'])};"
          f" columns {found['columns']}", flush=True)
    return [
        Row(f"load in-process, Cairn COPY path ({rows:,} rows -> committed table)",
            seconds(cairn_s)),
        Row("load in-process, DataFrame.to_sql(name, engine), pandas defaults",
            seconds(to_sql_s)),
        Row("load speed-up to_sql / Cairn", f"{speedup:.1f}x", f">= {LOAD_TARGET:g}x",
            "met" if speedup >= LOAD_TARGET else "MISSED"),
        Row("  Cairn path: pandas -> Arrow (as_arrow)", seconds(found["arrow_s"])),
        Row(f"  Cairn path: pyarrow writes the CSV ({mib(found['csv_bytes'])})",
            seconds(found["csv_s"])),
        Row("  Cairn path: COPY of the ready CSV (with CREATE TABLE, commit)",
            seconds(found["copy_s"])),
        Row("`cairn run load` process (Python block -> SQL block)", seconds(whole.wall_s)),
        Row("  `cairn run load_frame` (the Python block alone)", seconds(floor.wall_s)),
        Row("  peak RSS of `cairn run load` / `load_frame`",
            f"{mib(whole.peak_rss_bytes)} / {mib(floor.peak_rss_bytes)}"),
    ]


# -- R -----------------------------------------------------------------------------------
def bench_r(work: Path, repeat: int, rows: int) -> list[Row]:
    project = r_exchange.project(work / "r", rows)
    whole = cairn_run(project, r_exchange.PIPELINE, repeat)  # `check` asserts the copy
    report("cairn run r (make -> copy.R -> check)", whole)
    blocks = r_exchange.durations(project)
    print("  block durations (history): " + ", ".join(
        f"{name} {seconds(value)}" for name, value in blocks.items()), flush=True)
    script = Path(__file__).with_name("r_exchange.py")
    found = json.loads(run_once([sys.executable, str(script), str(rows), str(repeat)]).stdout)
    cairn = [found["cairn_write_s"], found["cairn_r_s"], found["cairn_read_s"]]
    csv = [found["to_csv_s"], found["csv_r_s"], found["read_csv_s"]]
    print(f"  in-process: Cairn {seconds(sum(cairn))}, CSV {seconds(sum(csv))}; DataFrame "
          f"{mib(found['frame_bytes'])}, columns {found['columns']}; read_csv gives "
          f"{found['csv_types_back']}", flush=True)
    return [
        Row(f"r: `cairn run r` process ({rows:,} rows x 5, make -> copy.R -> check)",
            seconds(whole.wall_s)),
        Row("  copy.R block duration (run history: block_runs.duration_s)",
            seconds(blocks["copy"])),
        Row("  make / check block durations", f"{seconds(blocks['make'])} / "
            f"{seconds(blocks['check'])}"),
        Row("  peak RSS", mib(whole.peak_rss_bytes)),
        Row("r in-process round trip, Cairn exchange", seconds(sum(cairn))),
        Row("  as_arrow + write_table (column files "
            f"{mib(found['exchange_bytes'])})", seconds(cairn[0])),
        Row("  Rscript run.R: start, read, `copy <- frame`, write", seconds(cairn[1])),
        Row("  read back into pandas", seconds(cairn[2])),
        Row("r in-process round trip, CSV", seconds(sum(csv))),
        Row(f"  DataFrame.to_csv ({mib(found['csv_bytes'])})", seconds(csv[0])),
        Row(f"  Rscript fread + fwrite (inside R: {seconds(found['fread_s'])} + "
            f"{seconds(found['fwrite_s'])}, {found['fread_threads']} thread)", seconds(csv[1])),
        Row("  pandas.read_csv", seconds(csv[2])),
        Row("r ratio CSV / Cairn", f"{sum(csv) / sum(cairn):.1f}x"),
        Row("  per step: write, R, read",
            ", ".join(f"{c / k:.1f}x" for c, k in zip(csv, cairn, strict=True))),
        Row("  floor: `Rscript --vanilla -e 'invisible(0)'`", seconds(found["r_floor_s"])),
        Row("  CSV trip: doubles changed (fwrite writes 15 digits)",
            f"{found['csv_doubles_changed']:,}"),
    ]


# -- the notebook in a browser ---------------------------------------------------------------
def bench_notebook(repeat: int) -> list[Row]:
    if not Path("/usr/bin/chromium").exists():
        return [Row("notebook", "skipped: /usr/bin/chromium is not installed")]
    # Playwright runs in a child, so that the driver stays small (see the RSS floor).
    script = Path(__file__).with_name("notebook.py")
    found = json.loads(run_once([sys.executable, str(script), str(max(repeat, 10))]).stdout)
    return [
        Row("notebook: click on Run -> output painted, trivial block (median)",
            f"{found['click_ms']:.0f} ms", "< 150 ms", check(found["click_ms"], 150)),
        Row("notebook: load a 200-block pipeline until every block shows (median)",
            f"{found['load_ms']:.0f} ms", "< 2000 ms", check(found["load_ms"], 2000)),
    ]


# -- the scheduler ---------------------------------------------------------------------------
def bench_scheduler(work: Path, repeat: int) -> list[Row]:
    script = Path(__file__).with_name("scheduler.py")
    root = scheduler.latency_project(work / "scheduler")
    window, tick = scheduler.LATENCY_SECONDS, scheduler.LATENCY_TICK
    print(f"  `cairn scheduler --tick {tick:g}` for {window:g} s, a 1 s interval trigger",
          flush=True)
    late = json.loads(run_once([sys.executable, str(script), "latency", str(root),
                                str(window), str(tick), str(max(repeat, 3))]).stdout)
    print(f"  {late['runs']} runs {late['statuses']}, {late['started']} started; due -> first"
          " block: " + ", ".join(f"{s:.3f}" for s in late["latency_s"]) + " s", flush=True)
    many = scheduler.many_triggers_project(work / "scheduler_many")
    found = json.loads(run_once([sys.executable, str(script), "throughput", str(many),
                                 str(repeat)]).stdout)
    triggers = found["triggers"]
    print(f"  {found['pipelines']} pipelines, {triggers:,} triggers: _fire "
          f"{seconds(found['fire_s'])} (warm-up {seconds(found['fire_warmup_s'])}) for "
          f"{found['fire_runs']:,} runs, {found['fire_statements']:,} SQL statements; idle tick "
          f"{seconds(found['idle_tick_s'])}, {found['idle_tick_statements']} statements",
          flush=True)
    print("  profiled _fire, largest self times: " + ", ".join(
        f"{where} {share:.0%}" for where, share in found["top_self_s"]), flush=True)
    idle_note = (f" ({found['idle_ticks_that_fired']} of the ticks found something due)"
                 if found["idle_ticks_that_fired"] else "")
    return [
        Row(f"scheduler: due time -> first block started, 1 s interval, --tick {tick:g} "
            f"(median of {late['started']} runs)", seconds(late["median_s"]), "< 1 s",
            check(late["median_s"], 1.0)),
        Row("  max", seconds(late["max_s"])),
        Row("  of which due -> `cairn run` took the run over (tick, claim, process start)",
            seconds(late["to_adopt_median_s"])),
        Row("  of which took over -> first block", seconds(late["adopt_to_block_median_s"])),
        Row("  floor: `python -m cairn run` started by hand -> first block",
            seconds(late["floor_median_s"])),
        Row(f"scheduler: one _fire making a run for each of {triggers:,} due triggers "
            f"({found['pipelines']} pipelines x {triggers // found['pipelines']})",
            seconds(found["fire_s"])),
        Row("  due triggers turned into runs per second", f"{found['triggers_per_s']:,.0f} /s"),
        Row("  SQL statements per due trigger",
            f"{found['fire_statements'] / triggers:.1f}"),
        *[Row(f"  share of a profiled _fire: {label}", f"{share:.0%}")
          for label, share in found["parts"] if share >= 0.01],
        *[Row(f"  self time of a profiled _fire in {label}", f"{share:.0%}")
          for label, share in found["self_by_package"]],
        Row(f"  first _fire: {triggers:,} trigger states created, nothing due",
            seconds(found["first_fire_s"])),
        Row(f"scheduler: idle tick(), {triggers:,} triggers, nothing due{idle_note}",
            seconds(found["idle_tick_s"])),
        Row("  its SQL statements", str(found["idle_tick_statements"])),
        Row(f"  reading the {found['pipelines']} pipeline.yaml files (first pipelines())",
            seconds(found["load_s"])),
    ]


# -- output --------------------------------------------------------------------------------
# -- fan-out ---------------------------------------------------------------------------------
def bench_fan_out(work: Path, repeat: int) -> list[Row]:
    """Cost per item of a mapped block (against the same pipeline with one item), and the
    peak memory of items whose outputs, held together, would take 400 MiB."""
    items = projects.FAN_OUT_ITEMS
    one = cairn_run(projects.fan_out_project(work / "fan_out_1", 1), "fan_out", repeat)
    many = cairn_run(projects.fan_out_project(work / "fan_out_n", items), "fan_out", repeat)
    blobs = projects.FAN_OUT_BLOB_ITEMS
    blob = cairn_run(projects.fan_out_project(work / "fan_out_blob", blobs, blob=True),
                     "fan_out", max(1, repeat // 2))
    per_item = (many.wall_s - one.wall_s) / (items - 1)
    report("fan-out, 1 item", one)
    report(f"fan-out, {items:,} items", many)
    report(f"fan-out, {blobs} items of 1 MiB", blob)
    return [
        Row(f"fan-out: {items:,} trivial items, whole run", seconds(many.wall_s)),
        Row("fan-out: overhead per item (vs 1 item)", f"{per_item * 1000:.2f} ms"),
        Row(f"fan-out: peak RSS, {items:,} items / 1 item",
            f"{mib(many.peak_rss_bytes)} / {mib(one.peak_rss_bytes)}"),
        Row(f"fan-out: peak RSS, {blobs} items returning 1 MiB each",
            mib(blob.peak_rss_bytes), f"< {blobs} MiB (not all held)",
            check(blob.peak_rss_bytes, blobs * MIB)),
    ]


# -- incremental -----------------------------------------------------------------------------
def bench_incremental(work: Path, repeat: int, rows: int) -> list[Row]:
    """A run that writes out only the rows changed since the last one (hash strategy)
    against one that rewrites every row, over a table of which 1% changed."""
    project = projects.incremental_project(work / "incremental", rows)

    made = cairn_once(project, "run", "incremental_data", "--quiet")
    # Every row new: its hashes become checkpoint version 1.
    first = cairn_once(project, "run", "incremental", "--quiet")
    made += cairn_once(project, "run", "incremental_data", "--quiet", "--var", "changed=1")
    new, changed, deleted = projects.incremental_changes(rows)
    print(f"  {rows:,}-row table and its changed version written in {seconds(made)} "
          f"(untimed); {new:,} new, {changed:,} changed, {deleted:,} deleted rows", flush=True)
    full = cairn_run(project, "full", repeat)
    report("full run, every row rewritten", full)

    def from_first_version() -> None:  # each run compares with the first version again
        cairn_once(project, "checkpoints", "reset", "incremental", "copy_changes", "--to", "v1")
        clear_runs(project)()

    command = [cairn_command(), "run", "incremental", "--quiet", "--project", str(project)]
    incremental = run_series(command, repeat, cwd=project, before_each=from_first_version)
    report("incremental run (the block checks the counts)", incremental)
    return [*bench_watermark(work, repeat, rows),
        Row(f"incremental: full run, rewrites all {rows:,} rows", seconds(full.wall_s)),
        Row(f"incremental: hash-diff run, {(new + changed + deleted) / rows:.0%} changed "
            "-> writes only those", seconds(incremental.wall_s)),
        Row("incremental: speed-up full / incremental",
            f"{full.wall_s / incremental.wall_s:.1f}x"),
        Row("  first hash-diff run, every row new (one run)", seconds(first)),
        Row("  peak RSS, full / incremental",
            f"{mib(full.peak_rss_bytes)} / {mib(incremental.peak_rss_bytes)}"),
    ]


def bench_watermark(work: Path, repeat: int, rows: int) -> list[Row]:
    """A SQL block taking only the rows past its watermark against one copying every row,
    in the DuckDB warehouse, after 1% of the rows were updated."""
    project = projects.watermark_project(work / "watermark", rows)

    made = cairn_once(project, "run", "events_data", "--quiet")
    # Every row: its watermark becomes checkpoint version 1.
    first = cairn_once(project, "run", "wm_incremental", "--quiet")
    made += cairn_once(project, "run", "touch", "--quiet")
    print(f"  {rows:,}-row table written and 1% of it updated in {seconds(made)} (untimed)",
          flush=True)
    full = cairn_run(project, "wm_full", repeat)
    report("watermark: full run, every row copied", full)

    def from_first_version() -> None:  # each run takes the same 1% again
        cairn_once(project, "checkpoints", "reset", "wm_incremental", "new_events", "--to", "v1")

    command = [cairn_command(), "run", "wm_incremental", "--quiet", "--project", str(project)]
    incremental = run_series(command, repeat, cwd=project, before_each=from_first_version)
    report("watermark: incremental run", incremental)
    return [
        Row(f"incremental (SQL watermark, DuckDB): full run, copies all {rows:,} rows",
            seconds(full.wall_s)),
        Row("incremental (SQL watermark, DuckDB): run taking the 1% updated",
            seconds(incremental.wall_s)),
        Row("incremental (SQL watermark): speed-up full / incremental",
            f"{full.wall_s / incremental.wall_s:.1f}x"),
        Row("  first watermark run, every row (one run)", seconds(first)),
    ]


# -- streaming -------------------------------------------------------------------------------
def bench_streaming(work: Path, url: str, events: int, rate: float) -> list[Row]:
    """Events per second from each broker through one Python block into PostgreSQL, and
    their latency, beside the broker's raw consume rate in the same run."""
    version = server_version(url)
    if version is None:
        return skipped("streaming", url)
    script = Path(__file__).with_name("streaming.py")
    window = streaming.LATENCY_SECONDS
    rows: list[Row] = []
    for broker in streaming.BROKER_KINDS:
        with fresh_schema(url) as schema:
            print(f"  {broker}: {events:,} events, then {rate:,.0f}/s for {window:g} s; "
                  f"PostgreSQL {version}, schema {schema}", flush=True)
            found = json.loads(run_once([
                sys.executable, str(script), broker, url, schema,
                str(work / f"streaming_{broker}"), str(events), f"{rate:g}", f"{window:g}",
            ]).stdout)
        if "skipped" in found:
            print(f"  {found['skipped']}", flush=True)
            rows.append(Row(f"streaming ({broker}): skipped", found["skipped"]))
            continue
        print(f"  raw {found['raw_rate']:,.0f}/s, cairn {found['process_rate']:,.0f}/s "
              f"(wall {seconds(found['wall_s'])}, with no events "
              f"{seconds(found['empty_wall_s'])})", flush=True)
        rows += streaming_rows(broker, found, rate)
    return rows


def streaming_rows(broker: str, found: dict[str, Any], rate: float) -> list[Row]:
    events, late, steps = found["events"], found["latency"], found["steps"]
    raw = ("XREADGROUP COUNT 1000 + XACK" if broker == "redis"
           else "pull consumer, fetch 1000 + ack")
    name = f"streaming ({broker})"
    return [
        Row(f"{name}: raw consume, plain client loop ({raw})",
            f"{found['raw_rate']:,.0f} events/s"),
        Row(f"{name}: cairn stream, source -> 1 Python block -> PostgreSQL, {events:,} events",
            f"{found['process_rate']:,.0f} events/s"),
        Row("  ratio cairn / raw", f"{found['process_rate'] / found['raw_rate']:.2f}x"),
        Row("  first row -> last row written (inserted_at)",
            f"{found['span_rate']:,.0f} events/s"),
        Row(f"  process wall with {events:,} events / with none (start, 1 s idle, stop)",
            f"{seconds(found['wall_s'])} / {seconds(found['empty_wall_s'])}"),
        Row("  batches (mean size)",
            f"{found['batches']:,} ({events / found['batches']:,.0f})"),
        Row("  peak RSS of the stream process", mib(found["peak_rss_bytes"])),
        Row(f"{name}: latency at {rate:,.0f} events/s, publish -> row written, p50 / p99",
            f"{late['p50_ms']:.0f} / {late['p99_ms']:.0f} ms"),
        Row("  as the stream records it (broker time -> acknowledged), p50 / p99",
            f"{late['stream_p50_ms']:.0f} / {late['stream_p99_ms']:.0f} ms"),
        Row("  events published, max latency",
            f"{late['published']:,}, {late['max_ms']:.0f} ms"),
        Row(f"  in-process run, each step timed ({steps['events']:,} events, after a warm-up)",
            f"{steps['rate']:,.0f} events/s"),
        *[Row(f"  share of its loop: {label}", f"{share:.0%}")
          for label, share in steps["parts"]],
    ]


# -- processes sharing the DuckDB warehouse ---------------------------------------------------
def bench_warehouse(work: Path, repeat: int) -> list[Row]:
    script = Path(__file__).with_name("warehouse.py")
    uses = 20 * max(repeat, 5)
    found = json.loads(run_once([sys.executable, str(script), str(work / "warehouse"),
                                 str(uses)]).stdout)
    rows = [
        Row("warehouse: SQL block's work, connection kept open, no lock (median)",
            f"{found['raw_ms']:.2f} ms"),
        Row("warehouse: the same through the inter-process lock, one process (median)",
            f"{found['solo_ms']:.2f} ms ({found['solo_ms'] - found['raw_ms']:+.2f})"),
    ]
    for contended in found["contended"]:
        k = contended["processes"]
        rows += [
            Row(f"warehouse: {k} processes at once, a block's latency median / p95",
                f"{contended['median_ms']:.1f} / {contended['p95_ms']:.0f} ms"),
            Row(f"warehouse: {k} processes at once, wall per block (all blocks served)",
                f"{contended['per_use_ms']:.2f} ms "
                f"({contended['per_use_ms'] / found['solo_ms']:.1f}x one process)"),
        ]
    return rows


def machine() -> str:
    """What the figures were measured on."""
    import os
    import platform
    from importlib.metadata import version

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip() or "?"
    return (f"cairn {version('cairn')} @ {commit}; Python {platform.python_version()}; "
            f"{os.cpu_count()} CPUs; {memory / 2**30:.1f} GiB RAM; {platform.platform()}")


def print_table(rows: list[Row]) -> None:
    header = Row("measure", "result", "target", "verdict", "reference (other tools)")
    cells = [[r.name, r.value, r.target, r.verdict, r.reference] for r in [header, *rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(4)]
    for index, line in enumerate(cells):
        text = "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        print((text + "  " + line[4]).rstrip())
        if index == 0:
            print("-" * (sum(widths) + 8 + len(header.reference)))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark Cairn (prints figures only).")
    parser.add_argument("--repeat", type=int, default=5, help="measured runs after 1 warm-up")
    parser.add_argument("--only", choices=WORKLOADS, action="append",
                        help="run only this workload (repeatable)")
    parser.add_argument("--w3-rows", type=int, default=projects.W3_ROWS,
                        help="rows of the W3 DataFrame")
    parser.add_argument("--postgres", default=POSTGRES, metavar="URL",
                        help="libpq URL of the server for pushdown and load (default %(default)s)")
    parser.add_argument("--pushdown-rows", type=int, default=projects.PUSHDOWN_ROWS,
                        help="rows of the pushdown table")
    parser.add_argument("--load-rows", type=int, default=projects.LOAD_ROWS,
                        help="rows of the load DataFrame")
    parser.add_argument("--r-rows", type=int, default=r_exchange.ROWS,
                        help="rows of the table sent to R and back")
    parser.add_argument("--incremental-rows", type=int, default=projects.INCREMENTAL_ROWS,
                        help="rows of the table the incremental workload diffs")
    parser.add_argument("--stream-events", type=int, default=streaming.EVENTS,
                        help="events each broker's stream drains (and the raw loop consumes)")
    parser.add_argument("--stream-rate", type=float, default=streaming.LATENCY_RATE,
                        help="events per second published during the latency phase")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated projects (PostgreSQL schemas are dropped)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = args.only or list(WORKLOADS)
    work = Path(tempfile.mkdtemp(prefix="cairn-bench-"))
    benches: dict[str, Callable[[], list[Row]]] = {
        "w1": lambda: bench_w1(work, args.repeat),
        "w2": lambda: bench_w2(work, args.repeat),
        "w3": lambda: bench_w3(work, args.repeat, args.w3_rows),
        "plan": lambda: bench_plan(work, args.repeat),
        "help": lambda: bench_help(work, args.repeat),
        "pushdown": lambda: bench_pushdown(work, args.repeat, args.postgres,
                                           args.pushdown_rows),
        "load": lambda: bench_load(work, args.repeat, args.postgres, args.load_rows),
        "r": lambda: bench_r(work, args.repeat, args.r_rows),
        "notebook": lambda: bench_notebook(args.repeat),
        "scheduler": lambda: bench_scheduler(work, args.repeat),
        "fan_out": lambda: bench_fan_out(work, args.repeat),
        "incremental": lambda: bench_incremental(work, args.repeat, args.incremental_rows),
        "streaming": lambda: bench_streaming(work, args.postgres, args.stream_events,
                                             args.stream_rate),
        "warehouse": lambda: bench_warehouse(work, args.repeat),
    }
    print(f"cairn benchmarks: {args.repeat} repeats after 1 warm-up, projects in {work}")
    print(machine())
    rows: list[Row] = []
    try:
        for name in WORKLOADS:
            if name in chosen:
                print(f"[{name}]", flush=True)
                rows += benches[name]()
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print_table(rows)
    print("\nWall: median of the repeats. Peak RSS: highest ru_maxrss of the child (wait4) "
          "over the repeats;\nit includes the driver's own size at spawn, see the "
          "`python -c pass` floor.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
