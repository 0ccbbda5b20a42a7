"""SLA misses: alerted while the run is still going, by its own process or by a scheduler
(for a run that hangs or waits in the queue), once; triggers override the pipeline."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from alert_receivers import HTTPReceiver
from support import ProjectFolder, RecordingObserver

from cairn.ids import RunId
from cairn.monitor.sla import effective_sla, limits, missed
from cairn.monitor.watch import SchedulerAlerts
from cairn.project.config import find_project
from cairn.project.pipeline import PipelineSettings
from cairn.service import run_pipeline, utc_now
from cairn.store.metadata import MetadataStore
from cairn.store.schema import runs


def route_sla_misses(project: ProjectFolder, http: HTTPReceiver) -> None:
    (project.root / "cairn.yaml").write_text(textwrap.dedent(f"""
        name: test
        alerts:
          channels:
            hook: {{kind: webhook, url: "{http.url}/hook"}}
          routes:
            - events: [sla_miss, success]
              channels: [hook]
    """))


def test_a_miss_is_alerted_while_the_run_is_still_going(project: ProjectFolder,
                                                        http: HTTPReceiver) -> None:
    route_sla_misses(project, http)
    project.pipeline("p", {"slow.py": "import time\ntime.sleep(4)\ndone = True\n"},
                     "sla: {max_duration: 1s}\n")
    store = MetadataStore(find_project(project.root).metadata_url)

    def run_status() -> str | None:
        latest = store.latest_run("p")
        return latest.status if latest else None

    http.on_request = run_status
    try:
        result = run_pipeline(find_project(project.root), "p", RecordingObserver())
        incidents = store.list_incidents()
    finally:
        store.close()
    assert result.status == "success"
    miss, success = sorted(http.at("/hook"), key=lambda r: r.json()["event"])
    assert miss.seen == "running"  # it arrived before the run ended
    data = miss.json()
    assert (data["event"], data["run_id"]) == ("sla_miss", result.run_id)
    assert data["facts"]["SLA"] == "max_duration 1s"
    assert success.json()["event"] == "success"
    assert sorted(i.event for i in incidents) == ["sla_miss", "success"]


def test_a_scheduler_alerts_runs_that_hang_or_wait_past_their_deadline(
        project: ProjectFolder, http: HTTPReceiver) -> None:
    route_sla_misses(project, http)
    project.pipeline("p", {"a.py": "a = 1\n"}, "sla: {max_duration: 1m}\n")
    loaded = find_project(project.root)
    pipelines = {"p": PipelineSettings.model_validate({
        "sla": {"max_duration": "1m"},
        "triggers": [{"name": "nightly", "schedule": "0 2 * * *",
                      "sla": {"deadline": "30m"}}]})}
    store = MetadataStore(loaded.metadata_url)
    now = utc_now()
    try:
        # Queued since 02:00 and 40 minutes late: its deadline has passed.
        store.create_scheduled_run(RunId("queued-late"), "p", "nightly", "k1",
                                   now - timedelta(minutes=40), {}, "queued")
        store.create_scheduled_run(RunId("queued-fine"), "p", "nightly", "k2",
                                   now - timedelta(minutes=5), {}, "queued")
        # Running for two minutes, its process silent: max_duration has passed.
        store.create_run(RunId("hung"), "p", ["a"], {}, now)
        with store.engine.begin() as connection:
            connection.execute(sa.update(runs).where(runs.c.id == "hung")
                               .values(started_at=now - timedelta(minutes=2)))
        alerts = SchedulerAlerts(loaded)
        try:
            alerts.tick(pipelines)
            received = http.wait_for("/hook", 2)
            alerts.tick(pipelines)  # seen again: no second alert
        finally:
            alerts.close(5)
        incidents = store.list_incidents()
    finally:
        store.close()
    rules = {r.json()["run_id"]: r.json()["facts"]["SLA"] for r in received}
    slot = now - timedelta(minutes=40)
    assert rules == {"queued-late": f"deadline 30m after {slot:%Y-%m-%d %H:%M:%S} UTC",
                     "hung": "max_duration 1m"}
    assert sorted(i.run_id for i in incidents) == ["hung", "queued-late"]
    assert len(http.at("/hook")) == 2


class Run:
    def __init__(self, status: str, started_at: datetime, scheduled_for: datetime | None,
                 trigger: str | None = None) -> None:
        self.status, self.started_at = status, started_at
        self.scheduled_for, self.trigger = scheduled_for, trigger


T0 = datetime(2026, 1, 1, 2, 0)
SETTINGS = PipelineSettings.model_validate({
    "sla": {"max_duration": "45m", "deadline": "2h"},
    "triggers": [{"name": "nightly", "schedule": "0 2 * * *", "sla": {"deadline": "1h"}},
                 {"name": "hourly", "interval": "1h"}]})


@pytest.mark.parametrize(("trigger", "run", "now", "expected"), [
    # max_duration from the start, the deadline from the scheduled time.
    (None, Run("running", T0, None), T0 + timedelta(minutes=44), None),
    (None, Run("running", T0, None), T0 + timedelta(minutes=46), "max_duration 45m"),
    # The trigger's deadline replaces the pipeline's; its max_duration is inherited.
    ("nightly", Run("running", T0 + timedelta(minutes=30), T0), T0 + timedelta(minutes=61),
     "deadline 1h after 2026-01-01 02:00:00 UTC"),
    ("nightly", Run("running", T0 + timedelta(minutes=5), T0), T0 + timedelta(minutes=51),
     "max_duration 45m"),
    ("hourly", Run("running", T0, T0), T0 + timedelta(minutes=30), None),
    # A queued run has not started: only its deadline counts.
    ("nightly", Run("queued", T0, T0), T0 + timedelta(minutes=50), None),
    ("nightly", Run("queued", T0, T0), T0 + timedelta(minutes=70),
     "deadline 1h after 2026-01-01 02:00:00 UTC"),
])
def test_limits(trigger: str | None, run: Run, now: datetime, expected: str | None) -> None:
    run.trigger = trigger
    limit = missed(limits(effective_sla(SETTINGS, trigger), run), None, now)
    assert (limit.rule if limit else None) == expected
