"""What an alert says, gathered once when its incident is raised and stored with it as JSON,
so that every channel and every retry sends the same facts. Secrets are masked here."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from cairn.io.secrets import redact
from cairn.monitor.sla import Limit

ERROR_LINES = 15
LOG_LINES = 20
LOG_CHARS = 3000

_TITLES = {
    "failure": "{pipeline} failed",
    "sla_miss": "{pipeline} missed its SLA",
    "recovery": "{pipeline} recovered",
    "success": "{pipeline} succeeded",
    "test": "Test alert from Cairn",
}


@dataclass
class AlertMessage:
    event: str
    pipeline: str
    title: str
    summary: str  # one line, for subjects and notifications
    run_id: str | None = None
    status: str | None = None
    link: str | None = None
    block: str | None = None  # the block that failed
    error: str | None = None  # the last lines of its error
    log: str | None = None  # the end of its log
    facts: dict[str, str] = field(default_factory=dict)  # more, shown as a list

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AlertMessage:
        return cls(**json.loads(text))


def run_link(ui_url: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/#/runs/{run_id}"


def tail(text: str, lines: int, chars: int | None = None) -> str:
    kept = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    return kept[-chars:] if chars is not None else kept


def run_message(event: str, run: Any, attempts: list[Any], log_text: dict[str, str],
                ui_url: str, missed: Limit | None = None) -> AlertMessage:
    """The message for an event of a run (a `runs` row), its block attempts (oldest first)
    and the text of its blocks' logs by block."""
    title = _TITLES[event].format(pipeline=run.pipeline)
    latest = {a.block: a for a in attempts}
    failed = next((a for a in latest.values() if a.status == "failed"), None)
    facts = {"run": run.id, "status": run.status,
             "started": f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC"}
    if run.duration_s is not None:
        facts["duration"] = f"{run.duration_s:.1f} s"
    if run.trigger:
        facts["trigger"] = run.trigger
    if run.scheduled_for is not None:
        facts["scheduled for"] = f"{run.scheduled_for:%Y-%m-%d %H:%M:%S} UTC"
    summary = f"{title} (run {run.id})"
    if missed is not None:
        facts["SLA"] = missed.rule
        summary = f"{title}: {missed.rule} (run {run.id}, {run.status})"
    message = AlertMessage(event, run.pipeline, title, summary, run.id, run.status,
                           run_link(ui_url, run.id), facts=facts)
    if failed is not None and event == "failure":
        message.block = failed.block
        message.summary = f"{title} at block {failed.block} (run {run.id})"
        message.error = tail(failed.error or run.error or "", ERROR_LINES) or None
        message.log = tail(log_text.get(failed.block, ""), LOG_LINES, LOG_CHARS) or None
    elif event == "failure" and run.error:
        message.error = tail(run.error, ERROR_LINES)
    return masked(message)


def channel_test_message(pipeline: str, ui_url: str) -> AlertMessage:
    title = _TITLES["test"]
    return AlertMessage("test", pipeline, title, f"{title}: this channel works",
                        link=ui_url, facts={"sent by": "cairn alerts test"})


def masked(message: AlertMessage) -> AlertMessage:
    """The message with every secret this process knows replaced by `***`."""
    return AlertMessage(**_redact_all(asdict(message)))


def _redact_all(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_all(item) for key, item in value.items()}
    return value
