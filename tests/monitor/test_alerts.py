"""Alerts end to end: real runs, a real SMTP server and a real HTTP receiver for every
webhook kind; one alert per incident, recovery and opt-in success, failing channels."""

from __future__ import annotations

import hashlib
import hmac
import json
import textwrap
from email.message import Message
from pathlib import Path
from typing import Any

from alert_receivers import HTTPReceiver, SMTPReceiver
from support import (
    ProjectFolder,
    RecordingObserver,
    cairn,
    free_port,
    kill_run_mid_block,
    waiting_block,
)

from cairn.ids import RunId
from cairn.monitor.delivery import deliver_pending
from cairn.monitor.watch import SchedulerAlerts
from cairn.project.config import find_project
from cairn.service import run_pipeline, utc_now
from cairn.store.metadata import MetadataStore

HOOK_SECRET = "hook-secret-5e1f"
FAILING = {"load.py": """
    print("reading the source")
    print("row 17 looks odd")
    raise ValueError("the source said no to " + "hook-secret-5e1f")
"""}


def configure(project: ProjectFolder, alerts: str) -> None:
    (project.root / "cairn.yaml").write_text(
        "name: test\nalerts:\n" + textwrap.indent(textwrap.dedent(alerts).strip(), "  ") + "\n")


def hook_alerts(http: HTTPReceiver, routes: str, extra: str = "") -> str:
    """Two webhook channels on the receiver (`hook` signed, `other` not), quick retries."""
    return "\n".join([
        "ui_url: http://ui.test:8686",
        "retry_delay: 0.2s",
        extra,
        "channels:",
        f'  hook: {{kind: webhook, url: "{http.url}/hook", secret: "{HOOK_SECRET}"}}',
        f'  other: {{kind: webhook, url: "{http.url}/other"}}',
        "routes:",
        textwrap.indent(textwrap.dedent(routes).strip(), "  "),
    ])


def run(project: ProjectFolder, name: str = "p", **options: Any) -> Any:
    return run_pipeline(find_project(project.root), name, RecordingObserver(), **options)


def incidents(project: ProjectFolder) -> list[Any]:
    store = MetadataStore(find_project(project.root).metadata_url)
    try:
        return list(reversed(store.list_incidents(limit=100)))
    finally:
        store.close()


def deliveries(project: ProjectFolder, incident_id: int) -> list[Any]:
    store = MetadataStore(find_project(project.root).metadata_url)
    try:
        return store.deliveries([incident_id])
    finally:
        store.close()


def test_a_failure_reaches_every_kind_of_channel_once(
        project: ProjectFolder, http: HTTPReceiver, smtp: SMTPReceiver) -> None:
    (project.root / "secrets.yaml").write_text(f"HOOK_SECRET: {HOOK_SECRET}\n"
                                               "PD_KEY: pd-routing-key-77\n")
    configure(project, f"""
        ui_url: http://ui.test:8686
        channels:
          mail: {{kind: email, host: 127.0.0.1, port: {smtp.port}, from: cairn@example.com,
                  to: [data@example.com, oncall@example.com]}}
          slack: {{kind: slack, url: "{http.url}/slack"}}
          teams: {{kind: teams, url: "{http.url}/teams"}}
          discord: {{kind: discord, url: "{http.url}/discord"}}
          pager: {{kind: pagerduty, routing_key: "{{{{ secret('PD_KEY') }}}}",
                   url: "{http.url}/pagerduty"}}
          hook: {{kind: webhook, url: "{http.url}/hook", secret: "{{{{ secret('HOOK_SECRET') }}}}"}}
        routes:
          - pipelines: ["p*"]
            channels: [mail, slack, teams, discord, pager, hook]
    """)
    project.pipeline("p", FAILING)
    result = run(project)
    assert result.status == "failed"
    link = f"http://ui.test:8686/#/runs/{result.run_id}"

    [incident] = incidents(project)
    assert (incident.event, incident.key, incident.done) == ("failure", result.run_id, True)
    assert {d.channel: d.status for d in deliveries(project, incident.id)} == dict.fromkeys(
        ["mail", "slack", "teams", "discord", "pager", "hook"], "sent")

    [mail] = smtp.messages
    assert isinstance(mail, Message)
    assert mail["To"] == "data@example.com, oncall@example.com"
    assert f"p failed at block load (run {result.run_id})" in mail["Subject"]
    body = mail.get_payload()
    assert isinstance(body, str)
    for expected in ("failed block: load", "ValueError: the source said no to ***",
                     "row 17 looks odd", link):
        assert expected in body

    [slack] = http.at("/slack")
    payload = slack.json()
    assert payload["text"].startswith("p failed at block load")
    text = json.dumps(payload["blocks"])
    assert "row 17 looks odd" in text and "the source said no to ***" in text
    assert payload["blocks"][-1]["elements"][0]["url"] == link

    [teams] = http.at("/teams")
    card = teams.json()
    assert card["@type"] == "MessageCard" and card["title"] == "p failed"
    assert {"name": "failed block", "value": "load"} in card["sections"][0]["facts"]
    assert card["potentialAction"][0]["targets"][0]["uri"] == link

    [discord] = http.at("/discord")
    embed = discord.json()["embeds"][0]
    assert discord.json()["content"].startswith("p failed")
    assert embed["url"] == link and "the source said no to ***" in embed["description"]
    assert any(f["name"] == "log" and "row 17" in f["value"] for f in embed["fields"])

    [pager] = http.at("/pagerduty")
    event = pager.json()
    assert (event["routing_key"], event["event_action"], event["dedup_key"]) == (
        "pd-routing-key-77", "trigger", "cairn/p")
    assert event["payload"]["severity"] == "error" and event["payload"]["source"] == "cairn"
    assert event["payload"]["custom_details"]["block"] == "load"
    assert event["links"][0]["href"] == link

    [hook] = http.at("/hook")
    expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["X-Cairn-Signature"] == expected
    data = hook.json()
    assert (data["event"], data["pipeline"], data["run_id"], data["block"], data["link"]) == (
        "failure", "p", result.run_id, "load", link)
    assert "row 17 looks odd" in data["log"]
    # No payload anywhere gives the secrets away.
    for request in http.requests:
        assert HOOK_SECRET.encode() not in request.body
    assert HOOK_SECRET not in body


def test_block_retries_and_resumes_raise_one_incident(project: ProjectFolder,
                                                      http: HTTPReceiver) -> None:
    configure(project, hook_alerts(http, "- channels: [hook]"))
    project.pipeline("p", FAILING, "blocks:\n  - name: load\n    retries: 2\n")
    first = run(project)
    assert first.status == "failed"
    again = run(project, resume=first.run_id)
    assert again.run_id == first.run_id and again.status == "failed"
    [incident] = incidents(project)
    assert incident.event == "failure"
    assert len(http.at("/hook")) == 1


def test_recovery_after_a_failure_and_success_only_where_opted_in(
        project: ProjectFolder, http: HTTPReceiver) -> None:
    configure(project, hook_alerts(http, """
        - pipelines: [p]
          events: [failure, recovery]
          channels: [hook]
        - pipelines: [q*]
          events: [success]
          channels: [other]
    """))
    flag = project.root / "broken"
    flag.touch()
    project.pipeline("p", {"load.py": f"""
        import pathlib
        assert not pathlib.Path({str(flag)!r}).exists(), "still broken"
    """})
    project.pipeline("q1", {"ok.py": "value = 1\n"})
    assert run(project).status == "failed"
    flag.unlink()
    recovered = run(project)
    assert recovered.status == "success"
    assert run(project).status == "success"  # a success after a success: p has no opt-in
    done = run(project, "q1")

    assert [(i.pipeline, i.event) for i in incidents(project)] == [
        ("p", "failure"), ("p", "recovery"), ("q1", "success")]
    assert [r.json()["event"] for r in http.at("/hook")] == ["failure", "recovery"]
    assert http.at("/hook")[1].json()["run_id"] == recovered.run_id
    [success] = http.at("/other")
    assert success.json()["run_id"] == done.run_id
    assert "X-Cairn-Signature" not in success.headers  # that channel has no secret


def test_a_failing_channel_is_retried_with_backoff_then_gives_up(
        project: ProjectFolder, http: HTTPReceiver) -> None:
    http.status["/other"] = 503
    configure(project, hook_alerts(http, "- channels: [hook, other]", "max_attempts: 3"))
    project.pipeline("p", FAILING)
    assert run(project).status == "failed"
    [incident] = incidents(project)
    # The run's process made the first attempts; the rest are made by whoever passes next.
    loaded = find_project(project.root)
    store = MetadataStore(loaded.metadata_url)
    try:
        while store.open_incidents():
            deliver_pending(loaded, store, utc_now())
    finally:
        store.close()
    attempts = deliveries(project, incident.id)
    assert [(d.channel, d.attempt, d.status) for d in attempts if d.channel == "hook"] == [
        ("hook", 1, "sent")]
    other = [d for d in attempts if d.channel == "other"]
    assert [(d.attempt, d.status) for d in other] == [(1, "failed"), (2, "failed"),
                                                      (3, "gave_up")]
    assert all("HTTP 503" in d.error for d in other)
    assert "giving up" in other[-1].error
    # 0.2 s after the first failure, then 0.4 s after the second: never sooner.
    assert (other[1].at - other[0].at).total_seconds() >= 0.2
    assert (other[2].at - other[1].at).total_seconds() >= 0.4
    assert len(http.at("/other")) == 3 and len(http.at("/hook")) == 1
    assert incidents(project)[0].done


def test_two_senders_never_send_the_same_attempt(project: ProjectFolder) -> None:
    store = MetadataStore(find_project(project.root).metadata_url)
    try:
        incident = store.create_incident("p", "failure", "run-1", None, "{}", ["hook"])
        assert incident is not None
        assert store.create_incident("p", "failure", "run-1", None, "{}", ["hook"]) is None
        mine = store.claim_delivery(incident, "hook", 1)
        assert mine is not None
        assert store.claim_delivery(incident, "hook", 1) is None  # the other sender
        assert [d.id for d in store.deliveries([incident])] == [mine]
    finally:
        store.close()


def test_an_unreachable_channel_neither_fails_nor_delays_the_run(
        project: ProjectFolder) -> None:
    closed = f"http://127.0.0.1:{free_port()}/hook"
    configure(project, f"""
        channels:
          down: {{kind: webhook, url: "{closed}"}}
          mail: {{kind: email, host: 127.0.0.1, port: {free_port()}, from: a@b.c, to: [d@e.f]}}
        routes:
          - events: [success]
            channels: [down, mail]
    """)
    project.pipeline("p", {"ok.py": "value = 1\n"})
    result = run(project)
    assert result.status == "success"
    store = MetadataStore(find_project(project.root).metadata_url)
    try:
        record = store.find_run(result.run_id)
        [incident] = store.list_incidents()
        attempts = store.deliveries([incident.id])
    finally:
        store.close()
    assert not incident.done
    assert {(d.channel, d.status) for d in attempts} == {("down", "failed"),
                                                         ("mail", "failed")}
    assert all("refused" in d.error.lower() for d in attempts)
    # The run's end was written before any attempt was made.
    assert all(record.ended_at <= d.at for d in attempts)


def test_a_scheduler_alerts_runs_whose_process_died(project: ProjectFolder,
                                                    http: HTTPReceiver) -> None:
    configure(project, hook_alerts(http, "- channels: [hook]"))
    project.pipeline("p", {"a.py": "a = 1\n"})
    loaded = find_project(project.root)
    store = MetadataStore(loaded.metadata_url)
    alerts = SchedulerAlerts(loaded)
    try:
        store.create_run(RunId("lost"), "p", ["a"], {}, utc_now())
        # What the scheduler records when a run's process stops beating.
        store.interrupt_run(RunId("lost"), "no heartbeat from the run's process for 10 s",
                            status="failed")
        alerts.tick({})
        [request] = http.wait_for("/hook")
    finally:
        alerts.close(5)
        store.close()
    data = request.json()
    assert (data["event"], data["run_id"]) == ("failure", "lost")
    assert "no heartbeat" in data["error"]


def test_a_killed_run_is_failed_naming_its_running_block_and_alerted_once(
        project: ProjectFolder, http: HTTPReceiver, tmp_path: Path) -> None:
    started = tmp_path / "started"
    configure(project, hook_alerts(http, "- channels: [hook]"))
    project.pipeline("p", {
        "quick.py": "quick = 1\n",
        "slow.py": waiting_block(started, tmp_path / "never", "slow = quick"),
    })
    kill_run_mid_block(project.root, started)
    listed = cairn("runs", "p", cwd=project.root, check=True).stdout  # notices the dead run
    assert "failed" in listed
    [request] = http.wait_for("/hook")
    data = request.json()
    assert data["event"] == "failure"
    assert "the process died while this block was running" in data["error"]
    store = MetadataStore(find_project(project.root).metadata_url)
    try:
        [record] = store.list_runs("p")
        assert record.status == "failed"
        assert "process died" in record.error and record.error.endswith("(running: slow)")
        assert [(b.block, b.status, b.error) for b in store.block_runs(record.id)] == [
            ("quick", "success", None),
            ("slow", "failed", "the process died while this block was running")]
    finally:
        store.close()
    cairn("runs", "p", cwd=project.root, check=True)  # a second look alerts nothing more
    assert len(http.at("/hook")) == 1
    assert len(incidents(project)) == 1
