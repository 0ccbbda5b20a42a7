"""The scheduler: fire due triggers, start queued runs in worker processes, and notice runs
whose process died. Its state is the metadata database, so several schedulers may share it.

Each tick:
1. a run is created for every due (trigger, time) not handled yet, under a unique key, so a
   second scheduler or a restart after a crash can try again without making a duplicate;
   the trigger's catch-up policy bounds how many missed times fire after downtime;
2. queued runs are claimed one by one with a conditional update (one scheduler wins each)
   and started as `cairn run` processes, within the global and per-pipeline limits;
3. runs whose process ended without finishing, or whose heartbeat stopped, are failed;
4. streaming pipelines' processes are started, restarted or stopped (`cairn.stream.supervisor`).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cairn.errors import CairnError
from cairn.ids import RunId
from cairn.project.config import Project
from cairn.project.pipeline import PIPELINE_FILE, PipelineSettings
from cairn.project.triggers import TriggerSettings
from cairn.project.yaml_file import validate
from cairn.schedule import announce
from cairn.service import HEARTBEAT_SECONDS, new_run_id, open_metadata, utc_now

# Text or JSON lines, as the `cairn` command sets up (cairn.yaml `log_format`).
log = logging.getLogger("cairn.scheduler")

# At most this many missed times of one trigger are created at once (catch_up: all).
MAX_CATCH_UP = 1000
RETENTION_SECONDS = 3600.0  # between two retention passes


@dataclass
class _Cached:
    mtime: float
    settings: PipelineSettings | None


@dataclass
class Scheduler:
    """One scheduler process (or thread of `cairn serve`) of a project."""

    project: Project
    max_runs: int = 4  # runs this scheduler keeps going at once, over all pipelines
    tick_seconds: float = 0.5
    silence_seconds: float = 5 * HEARTBEAT_SECONDS  # no heartbeat this long: the run died
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _settings: dict[str, _Cached] = field(default_factory=dict)
    _active: dict[str, int] = field(default_factory=dict)
    _next_clean: float = 0.0  # monotonic time of the next retention pass

    def __post_init__(self) -> None:
        from cairn.monitor.watch import watch_scheduler
        from cairn.stream.supervisor import Supervisor

        self.metadata = open_metadata(self.project)
        self.streams = Supervisor(self.project, self.metadata)
        # SLA misses and failures it sees, and alerts left to deliver: in its own thread.
        self.alerts = watch_scheduler(self.project)

    # -- configuration -------------------------------------------------------------------
    def pipelines(self) -> dict[str, PipelineSettings]:
        """Every pipeline's settings, re-read only when its pipeline.yaml changes."""
        found = {}
        for name in self.project.pipeline_names():
            path = self.project.pipelines_dir / name / PIPELINE_FILE
            mtime = path.stat().st_mtime if path.is_file() else 0.0
            cached = self._settings.get(name)
            if cached is None or cached.mtime != mtime:
                try:
                    settings = validate(PipelineSettings, path) if mtime else PipelineSettings()
                except CairnError as error:  # a broken file must not stop the others
                    log.warning("%s", error)
                    settings = None
                cached = self._settings[name] = _Cached(mtime, settings)
            if cached.settings is not None:
                found[name] = cached.settings
        return found

    # -- one tick --------------------------------------------------------------------------
    def tick(self) -> None:
        pipelines = self.pipelines()
        self.streams.tick(pipelines)
        self._collect_finished()
        self._fail_silent()
        # Runs going per pipeline, read once a tick (queued runs do not count).
        self._active = {}
        for run in self.metadata.active_runs():
            self._active[run.pipeline] = self._active.get(run.pipeline, 0) + 1
        self._fire(pipelines, utc_now())
        self._dispatch(pipelines)
        self._apply_retention()
        if self.alerts is not None:
            self.alerts.tick(pipelines)

    def _fire(self, pipelines: dict[str, PipelineSettings], now: datetime) -> None:
        for pipeline, settings in pipelines.items():
            if not settings.triggers:
                continue
            states = self.metadata.trigger_states(pipeline)
            for trigger in settings.triggers:
                state = states.get(trigger.name)
                if trigger.kind == "api" or (state is not None and state.paused):
                    continue  # API triggers fire from the server, when called
                definition = trigger.definition()
                if state is None or state.fired_until is None:
                    # A new trigger fires from now on, not for all of its past.
                    self.metadata.save_trigger_state(pipeline, trigger.name, fired_until=now,
                                                     definition=definition)
                    continue
                since = state.fired_until
                if state.definition != definition:
                    since = self._redefined(pipeline, trigger.name, state, definition, now)
                fire = {"schedule": self._due_times, "event": self._new_files,
                        "after": self._upstream_successes}[trigger.kind]
                fired_until = fire(pipeline, settings, trigger, since, now)
                if fired_until is not None:
                    self.metadata.save_trigger_state(pipeline, trigger.name,
                                                     fired_until=fired_until)

    def _redefined(self, pipeline: str, trigger: str, state: Any, definition: str,
                   now: datetime) -> datetime:
        """An edited trigger starts again from its edit, as a new one does from its
        creation: times of the new definition before the edit were never missed. Those
        after it (the scheduler being down since) are caught up as usual. The edit's time
        is pipeline.yaml's."""
        self.metadata.save_trigger_state(pipeline, trigger, definition=definition)
        if state.definition is None:  # kept before definitions were recorded: unknown
            return state.fired_until  # type: ignore[no-any-return]
        cached = self._settings.get(pipeline)
        edited = now if cached is None else min(now, datetime.fromtimestamp(
            cached.mtime, UTC).replace(tzinfo=None))
        since = max(state.fired_until, edited)
        self.metadata.save_trigger_state(pipeline, trigger, fired_until=since)
        return since  # type: ignore[no-any-return]

    def _create(self, pipeline: str, settings: PipelineSettings, trigger: TriggerSettings,
                key: str, moment: datetime, variables: dict[str, Any]) -> None:
        busy = self._active.get(pipeline, 0) >= settings.max_concurrent_runs
        status = "skipped" if busy and settings.on_overlap == "skip" else "queued"
        self.metadata.create_scheduled_run(new_run_id(), pipeline, trigger.name, key, moment,
                                           {**trigger.variables, **variables}, status)

    def _due_times(self, pipeline: str, settings: PipelineSettings, trigger: TriggerSettings,
                   since: datetime, now: datetime) -> datetime | None:
        due = trigger.fire_times(since, now, MAX_CATCH_UP)
        if not due:
            return None
        chosen = due
        if trigger.catch_up == "latest":
            chosen = due[-1:]
        elif trigger.catch_up == "none":
            grace = timedelta(seconds=max(2 * self.tick_seconds, 1.0))
            chosen = [moment for moment in due if now - moment <= grace]
        for moment in chosen:
            self._create(pipeline, settings, trigger, moment.isoformat(), moment, {})
        return due[-1]

    def _new_files(self, pipeline: str, settings: PipelineSettings, trigger: TriggerSettings,
                   since: datetime, now: datetime) -> datetime | None:
        """Files modified after `since`; the file's URL is the run's key, so a file seen by
        two schedulers still runs once."""
        from cairn.schedule.events import changed_files

        assert trigger.event is not None
        newest = None
        for url, modified in changed_files(trigger.event, self.project.root, since):
            self._create(pipeline, settings, trigger, url, modified, {"file": url})
            newest = max(newest or modified, modified)
        return newest

    def _upstream_successes(self, pipeline: str, settings: PipelineSettings,
                            trigger: TriggerSettings, since: datetime,
                            now: datetime) -> datetime | None:
        newest = None
        for upstream in self.metadata.succeeded_since(str(trigger.after), since):
            self._create(pipeline, settings, trigger, f"run:{upstream.id}", upstream.ended_at,
                         {"upstream_run": upstream.id})
            newest = upstream.ended_at
        return newest

    def _dispatch(self, pipelines: dict[str, PipelineSettings]) -> None:
        for run in self.metadata.queued_runs():
            if len(self.children) >= self.max_runs:
                return
            settings = pipelines.get(run.pipeline)
            if settings is None:
                continue
            if self._active.get(run.pipeline, 0) >= settings.max_concurrent_runs:
                continue  # it stays queued until a slot frees
            if self.metadata.claim_run(run.id):
                self.children[run.id] = self._launch(run)
                self._active[run.pipeline] = self._active.get(run.pipeline, 0) + 1
                announce.run_started(run)

    def _launch(self, run: Any) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "cairn", "--profile", self.project.profile, "run",
                   run.pipeline, "--project", str(self.project.root), "--quiet",
                   "--run-id", run.id]
        for key, value in json.loads(run.variables).items():
            command += ["--var", f"{key}={json.dumps(value)}"]
        # A run is a process of its own: a misbehaving block cannot take the scheduler down.
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    def _collect_finished(self) -> None:
        for run_id, process in list(self.children.items()):
            code = process.poll()
            if code is None:
                continue
            del self.children[run_id]
            record = self.metadata.find_run(run_id)
            if record.status in ("starting", "running"):
                self.metadata.interrupt_run(
                    RunId(run_id), f"the run's process ended with exit code {code} before the run "
                    "finished", status="failed",
                    block_message="the process died while this block was running")
            announce.run_ended(self.metadata, run_id)

    def _fail_silent(self) -> None:
        cutoff = utc_now() - timedelta(seconds=self.silence_seconds)
        for run in self.metadata.silent_runs(cutoff):
            process = self.children.pop(run.id, None)
            if process is not None and process.poll() is None:
                process.kill()
            self.metadata.interrupt_run(
                run.id, f"no heartbeat from the run's process for {self.silence_seconds:g} s: "
                "it died or hangs", status="failed",
                block_message="the process died or hung while this block was running")
            if process is not None:
                announce.run_ended(self.metadata, run.id)

    def _apply_retention(self) -> None:
        """Clean old runs' files (cairn.yaml `retention`) at most once an hour."""
        if time.monotonic() < self._next_clean:
            return
        self._next_clean = time.monotonic() + RETENTION_SECONDS
        from cairn.monitor.retention import clean

        report = clean(self.project, self.metadata)
        if report.removals:
            log.info("retention cleaned %d runs (%s bytes freed)", len(report.removals),
                     f"{report.freed_bytes:,}")

    # -- the loop --------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Tick until `stop` is set; runs already started go on to their end, streams stop
        (they start again with the next scheduler)."""
        try:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    self.tick()
                except Exception as error:  # a database hiccup must not end the scheduler
                    log.warning("tick failed: %s: %s", type(error).__name__, error)
                stop.wait(max(0.0, self.tick_seconds - (time.monotonic() - started)))
        finally:
            self.streams.shutdown()
        if self.alerts is not None:
            self.alerts.close(HEARTBEAT_SECONDS)
        self.metadata.close()
