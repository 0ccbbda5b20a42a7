"""The threads that raise and deliver alerts: one in a run's process, one in a scheduler.

Neither can fail or slow what it watches: they have their own database connections, send
from daemon threads, and report their own errors on stderr only."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cairn.io.secrets import redact
from cairn.monitor.delivery import deliver_pending
from cairn.monitor.incidents import check_sla, raise_run_end
from cairn.project.pipeline import PipelineSettings

if TYPE_CHECKING:
    from cairn.project.config import Project
    from cairn.store.metadata import MetadataStore

# How long a run's process waits at its end for alerts in flight; the scheduler (or the
# next run) sends what is left.
EXIT_GRACE_SECONDS = 3.0


def _now() -> datetime:
    from cairn.store.metadata import utcnow

    return utcnow()


def _guarded(what: str, action: Callable[[], None]) -> None:
    try:
        action()
    except Exception as error:  # alerts must never take down what they watch
        print(f"cairn alerts: {what}: {type(error).__name__}: {redact(str(error))}",
              file=sys.__stderr__, flush=True)


class _Loop:
    """A daemon thread that runs `step` whenever woken or when the time it returns comes."""

    def __init__(self, project: Project, name: str) -> None:
        from cairn.store.metadata import MetadataStore

        self.project = project
        self.store: MetadataStore = MetadataStore(project.metadata_url)
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def step(self, now: datetime) -> datetime | None:
        raise NotImplementedError

    def wake(self) -> None:
        self._wake.set()

    def close(self, grace: float = EXIT_GRACE_SECONDS) -> None:
        """Stop after a last pass, waiting for it at most `grace` seconds."""
        self._closing.set()
        self._wake.set()
        self._thread.join(grace)
        if not self._thread.is_alive():
            self.store.close()

    def _run(self) -> None:
        while True:
            self._wake.clear()
            next_at: datetime | None = None

            def once() -> None:
                nonlocal next_at
                next_at = self.step(_now())

            _guarded("watching", once)
            if self._closing.is_set() and (next_at is None or next_at > _now()):
                return
            timeout = None if next_at is None else max(0.0, (next_at - _now()).total_seconds())
            self._wake.wait(timeout)


class RunAlerts(_Loop):
    """In a run's process: raises its SLA miss the moment a limit passes, its end's
    incident once its status is written, and delivers them while the process lives."""

    def __init__(self, project: Project, pipeline: PipelineSettings, run_id: str) -> None:
        self.pipeline = pipeline
        self.run_id = run_id
        self._sla_open = True
        super().__init__(project, "cairn-alerts")

    def step(self, now: datetime) -> datetime | None:
        wake = []
        if self._sla_open:
            run = self.store.find_run(self.run_id)
            limit, next_limit = check_sla(self.project, self.store, run, self.pipeline, now)
            self._sla_open = limit is None and next_limit is not None
            if next_limit is not None:
                wake.append(next_limit)
        due = deliver_pending(self.project, self.store, now, self.run_id)
        if due is not None:
            wake.append(due)
        return min(wake) if wake else None

    def finished(self) -> None:
        """The run's status is written: raise the incident of its end (and of a limit it
        passed just before it ended), then send them."""
        def finish() -> None:
            run = self.store.find_run(self.run_id)
            check_sla(self.project, self.store, run, self.pipeline, _now())
            raise_run_end(self.project, self.store, self.run_id)

        self._sla_open = False
        _guarded("raising the run's alert", finish)
        self.wake()


class SchedulerAlerts(_Loop):
    """In a scheduler: SLA misses of runs whose process may hang (or that wait in the
    queue past their deadline), failures of runs whose process died, and every incident
    still to deliver. Woken each tick with the pipelines' settings."""

    def __init__(self, project: Project) -> None:
        self.pipelines: dict[str, PipelineSettings] = {}
        self._since = _now()
        self._seen: set[str] = set()  # runs whose SLA miss or failure is raised
        super().__init__(project, "cairn-scheduler-alerts")

    def tick(self, pipelines: dict[str, PipelineSettings]) -> None:
        self.pipelines = pipelines
        self.wake()

    def step(self, now: datetime) -> datetime | None:
        for run in self.store.queued_runs() + self.store.active_runs():
            settings = self.pipelines.get(run.pipeline)
            if settings is not None and run.id not in self._seen:
                limit, _ = check_sla(self.project, self.store, run, settings, now)
                if limit is not None:
                    self._seen.add(run.id)
        # Failed by this scheduler, or by the process itself (the key makes that one).
        for run in self.store.failed_runs_since(self._since):
            if f"end:{run.id}" not in self._seen:
                raise_run_end(self.project, self.store, run.id)
                self._seen.add(f"end:{run.id}")
        self._since = max(self._since, now - timedelta(minutes=5))  # older ones are done
        return deliver_pending(self.project, self.store, now)


def watch_scheduler(project: Project) -> SchedulerAlerts | None:
    if not project.settings.alerts.routes:
        return None
    return SchedulerAlerts(project)


def alert_dead_runs(project: Project, store: MetadataStore, run_ids: list[str]) -> None:
    """The failure alerts of runs whose process died, found (and failed) by this command:
    raised and sent now, since no process of theirs is left to do it. A scheduler would
    send what fails here, and the incident's key keeps a second finder from alerting twice."""
    if not project.settings.alerts.routes:
        return
    for run_id in run_ids:
        def alert(run_id: str = run_id) -> None:
            raise_run_end(project, store, run_id)
            deliver_pending(project, store, _now(), run_id)

        _guarded(f"alerting the failure of run {run_id}", alert)
