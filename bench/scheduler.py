"""The `scheduler` workload: how late scheduled runs start, and how fast one scheduler makes
runs for many due triggers.

As a module: writes the two projects (stdlib only, so the driver stays small). As a script,
run by run.py as a child like load_timing.py:
    python bench/scheduler.py latency ROOT SECONDS TICK FLOOR_RUNS
runs `cairn scheduler --project ROOT --tick TICK` for SECONDS on a pipeline with a 1 s
interval trigger, stops it, waits for the started runs to end and prints JSON with, per run,
the time from its due time (`runs.scheduled_for`) to its first block starting
(`block_runs.started_at`), split at the moment the `cairn run` process took the run over
(`runs.started_at`, set by `adopt_run`); then, FLOOR_RUNS times, the time from starting
`cairn run` by hand, as the scheduler starts it, to its first block: the run process's
own share of the latency;
    python bench/scheduler.py throughput ROOT REPEAT
loads the project's many 1 s interval triggers into one `Scheduler` and prints JSON with the
time one `_fire` takes to create one run for each of them (every trigger has exactly one
due time), the time of one idle `tick()` (nothing due), the SQL statements each makes, and
where a profiled `_fire` spends its time.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import projects

PIPELINE = "tick"
LATENCY_SECONDS = 10.0
LATENCY_TICK = 0.2
MANY_PIPELINES = 100
TRIGGERS_EACH = 10  # 100 x 10 = 1,000 triggers

# Where a profiled `_fire` spends its time: (label, file name ends with, function).
_PARTS = [
    ("create_scheduled_run (INSERT, a transaction each)", "metadata.py", "create_scheduled_run"),
    ("active_runs (SELECT per new run, for on_overlap)", "metadata.py", "active_runs"),
    ("save_trigger_state (SELECT + UPDATE, a transaction each)", "metadata.py",
     "save_trigger_state"),
    ("trigger_states (SELECT per pipeline)", "metadata.py", "trigger_states"),
    ("fire_times (the due times)", "triggers.py", "fire_times"),
    ("new_run_id", "service.py", "new_run_id"),
]

# Whose code a profiled `_fire` runs (self time): (label, test on file and function name).
_PACKAGES: list[tuple[str, Callable[[str, str], bool]]] = [
    ("sqlite3 (C: execute, commit, fetch)", lambda file, name: "sqlite3" in name),
    ("SQLAlchemy (Python)", lambda file, name: "/sqlalchemy/" in file),
    ("cairn", lambda file, name: "/cairn/" in file),
    ("other (builtins, stdlib)", lambda file, name: True),
]


# -- the projects -----------------------------------------------------------------------------
def latency_project(root: Path) -> Path:
    """One pipeline, a trivial block, a 1 s interval trigger (catch-up `latest`)."""
    return projects.write_project(root, PIPELINE, {"stamp.py": "stamp = 1\n"},
                                  "triggers:\n  - name: every_second\n    interval: 1s\n")


def many_triggers_project(root: Path, pipelines: int = MANY_PIPELINES,
                          each: int = TRIGGERS_EACH) -> Path:
    """`pipelines` pipelines of one trivial block and `each` 1 s interval triggers."""
    (root / "pipelines").mkdir(parents=True, exist_ok=True)
    (root / "cairn.yaml").write_text(f"name: {root.name}\n")
    triggers = "".join(f"  - name: t{k:02d}\n    interval: 1s\n" for k in range(each))
    for index in range(pipelines):
        folder = root / "pipelines" / f"p{index:03d}"
        folder.mkdir(exist_ok=True)
        (folder / "stamp.py").write_text("stamp = 1\n")
        (folder / "pipeline.yaml").write_text("triggers:\n" + triggers)
    return root


# -- latency: due time -> first block started ---------------------------------------------------
def _cairn() -> list[str]:
    beside = Path(sys.executable).parent / "cairn"
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "cairn"]


def _launch_to_block(root: Path, store: Any) -> float:
    """Seconds from starting `cairn run` as the scheduler does to its first block starting:
    the part of the latency that is the run process's own start."""
    from cairn.service import utc_now

    launched = utc_now()
    subprocess.run([sys.executable, "-m", "cairn", "run", PIPELINE, "--project", str(root),
                    "--quiet"], stdin=subprocess.DEVNULL, capture_output=True, check=True)
    run = store.list_runs(PIPELINE, 1)[0]
    return float((store.block_runs(run.id)[0].started_at - launched).total_seconds())


def latency(root: Path, seconds: float, tick: float, floor_runs: int) -> dict[str, Any]:
    from cairn.project.config import find_project
    from cairn.store.metadata import MetadataStore

    command = [*_cairn(), "scheduler", "--project", str(root), "--tick", f"{tick:g}"]
    log_path = root.parent / f"{root.name}-scheduler.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=root, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            time.sleep(seconds)
        finally:
            process.send_signal(signal.SIGTERM)  # runs already started go on to their end
            code = process.wait(timeout=30)
    if code != 0:
        raise SystemExit(f"cairn scheduler exited with {code}:\n"
                         f"{log_path.read_text(errors='replace')[-2000:]}")
    store = MetadataStore(find_project(root).metadata_url)
    try:
        deadline = time.monotonic() + 60
        while store.active_runs(PIPELINE) and time.monotonic() < deadline:
            time.sleep(0.2)
        runs = [r for r in store.list_runs(PIPELINE, 10_000) if r.scheduled_for is not None]
        to_block, to_adopt, adopt_to_block, statuses = [], [], [], []
        for run in sorted(runs, key=lambda r: r.scheduled_for):
            statuses.append(run.status)
            blocks = store.block_runs(run.id)
            if not blocks or blocks[0].started_at is None:
                continue  # still queued when the scheduler stopped
            first = blocks[0].started_at
            to_block.append((first - run.scheduled_for).total_seconds())
            to_adopt.append((run.started_at - run.scheduled_for).total_seconds())
            adopt_to_block.append((first - run.started_at).total_seconds())
        floor = [_launch_to_block(root, store) for _ in range(floor_runs)]
    finally:
        store.close()
    if not to_block:
        raise SystemExit(f"no scheduled run started a block; statuses {statuses}")
    return {"runs": len(runs), "started": len(to_block),
            "floor_median_s": statistics.median(floor),
            "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
            "latency_s": to_block, "median_s": statistics.median(to_block),
            "max_s": max(to_block), "to_adopt_median_s": statistics.median(to_adopt),
            "adopt_to_block_median_s": statistics.median(adopt_to_block)}


# -- throughput: 1,000 due triggers -> runs -----------------------------------------------------
def _sleep_into_second(latest_fraction: float) -> None:
    """Return at most `latest_fraction` of a second after a whole (UTC) second."""
    fraction = time.time() % 1.0
    if fraction > latest_fraction:
        time.sleep(1.0 - fraction + 0.005)


def throughput(root: Path, repeat: int) -> dict[str, Any]:
    from datetime import timedelta

    from sqlalchemy import delete, event, func, select, update

    from cairn.project.config import find_project
    from cairn.schedule.scheduler import Scheduler
    from cairn.service import utc_now
    from cairn.store.schema import runs, trigger_state

    scheduler = Scheduler(find_project(root))
    engine = scheduler.metadata.engine
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", count)

    started = time.perf_counter()
    pipelines = scheduler.pipelines()
    load_s = time.perf_counter() - started
    triggers = sum(len(settings.triggers) for settings in pipelines.values())
    started = time.perf_counter()
    scheduler._fire(pipelines, utc_now())  # no state yet: each is created, nothing fires
    first_fire_s = time.perf_counter() - started

    def set_fired_until(moment: Any) -> None:
        """Every trigger handled up to `moment` (one UPDATE: the bench may move it back)."""
        with engine.begin() as connection:
            connection.execute(update(trigger_state).values(fired_until=moment))

    def made() -> int:
        with engine.begin() as connection:
            found = connection.execute(select(func.count()).select_from(runs)).scalar_one()
            connection.execute(delete(runs))  # so every round starts from the same table
        return int(found)

    def due_fire(wrap: Callable[[Callable[[], None]], None] | None = None,
                 ) -> tuple[float, int, int]:
        """Seconds of one `_fire` with exactly one due time per trigger (the current whole
        second S: handled up to S - 0.5 s), the runs it made and its SQL statements."""
        now = utc_now()
        set_fired_until(now.replace(microsecond=0) - timedelta(seconds=0.5))
        before = statements[0]

        def call() -> None:
            scheduler._fire(pipelines, now)

        started = time.perf_counter()
        if wrap is None:
            call()
        else:
            wrap(call)
        elapsed = time.perf_counter() - started
        return elapsed, made(), statements[0] - before

    fires = [due_fire() for _ in range(repeat + 1)]
    wrong = [created for _, created, _ in fires if created != triggers]
    if wrong:
        raise SystemExit(f"_fire made {wrong} runs, not {triggers}")
    fire_s = statistics.median(s for s, _, _ in fires[1:])

    def idle_tick() -> tuple[float, int, int]:
        """Seconds of one `tick()` with nothing due: every trigger handled up to the whole
        second just begun (and no queued runs, no children)."""
        _sleep_into_second(0.05)
        set_fired_until(utc_now().replace(microsecond=0))
        before = statements[0]
        started = time.perf_counter()
        scheduler.tick()
        return time.perf_counter() - started, made(), statements[0] - before

    ticks = [idle_tick() for _ in range(repeat + 1)]
    busy_ticks = sum(1 for _, created, _ in ticks if created)

    profile = cProfile.Profile()
    profiled_s, _, _ = due_fire(lambda call: profile.runcall(call))
    stats = pstats.Stats(profile)
    parts = []
    entries: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    for label, filename, function in _PARTS:
        cumulative = sum(entry[3] for (file, _, name), entry in entries.items()
                         if file.endswith(filename) and name == function)
        parts.append([label, cumulative / profiled_s])
    top = sorted(((entry[2], f"{Path(file).name}:{name}") for (file, _, name), entry
                  in entries.items()), reverse=True)[:8]
    by_package: dict[str, float] = {}
    for (file, _, name), entry in entries.items():
        package = next(label for label, found in _PACKAGES if found(file, name))
        by_package[package] = by_package.get(package, 0.0) + entry[2] / profiled_s
    scheduler.metadata.close()
    return {
        "pipelines": len(pipelines), "triggers": triggers, "load_s": load_s,
        "first_fire_s": first_fire_s,
        "fire_s": fire_s, "fire_warmup_s": fires[0][0], "fire_runs": fires[-1][1],
        "fire_statements": fires[-1][2], "triggers_per_s": triggers / fire_s,
        "idle_tick_s": statistics.median(s for s, _, _ in ticks[1:]),
        "idle_tick_statements": ticks[-1][2], "idle_ticks_that_fired": busy_ticks,
        "profiled_fire_s": profiled_s, "parts": parts,
        "top_self_s": [[where, seconds / profiled_s] for seconds, where in top],
        "self_by_package": sorted(by_package.items(), key=lambda item: -item[1]),
    }


if __name__ == "__main__":
    mode, folder = sys.argv[1], Path(sys.argv[2])
    if mode == "latency":
        found = latency(folder, float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    elif mode == "throughput":
        found = throughput(folder, int(sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode!r}: latency or throughput")
    print(json.dumps(found))
