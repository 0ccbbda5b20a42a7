"""What `cairn alerts` does, as plain functions: test a channel, list channels and routes,
and read the history of incidents and their delivery attempts."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn.errors import CairnError
from cairn.monitor.channels import channel, describe
from cairn.monitor.delivery import attempt
from cairn.monitor.messages import channel_test_message

if TYPE_CHECKING:
    from cairn.project.config import Project
    from cairn.store.metadata import MetadataStore


@dataclass
class SendResult:
    channel: str
    status: str  # sent | failed
    error: str | None


def send_test(project: Project, metadata: MetadataStore, name: str) -> SendResult:
    """Send one test message to channel `name` now, recorded like any alert."""
    channel(project, name)  # a bad name or setting is an error, not a failed delivery
    message = channel_test_message(project.settings.name, project.settings.alerts.ui_url)
    key = f"test:{secrets.token_hex(8)}"
    incident = metadata.create_incident(message.pipeline, "test", key, None,
                                        message.to_json(), [name])
    assert incident is not None  # a fresh random key
    try:
        status = attempt(project, metadata, incident, name, 1, message)
    finally:
        metadata.close_incident(incident)  # a test is not retried
    row = metadata.deliveries([incident])[-1]
    return SendResult(name, "sent" if status == "sent" else "failed", row.error)


@dataclass
class ChannelRow:
    name: str
    kind: str
    target: str  # where it sends, without credentials
    routes: str


def list_channels(project: Project) -> list[ChannelRow]:
    settings = project.settings.alerts
    rows = []
    for name, configured in settings.channels.items():
        try:
            target = describe(channel(project, name))
        except CairnError as error:  # e.g. an unset variable: say so, still list it
            target = "not usable: " + error.problems[0].message
        used = [f"{','.join(r.pipelines)}: {','.join(r.events)}" for r in settings.routes
                if name in r.channels]
        rows.append(ChannelRow(name, configured.kind, target, "; ".join(used) or "(no route)"))
    return rows


@dataclass
class IncidentRow:
    incident: Any  # an alert_incidents row
    deliveries: list[Any]  # its attempts, oldest first

    @property
    def channels(self) -> list[str]:
        return list(json.loads(self.incident.channels))


def history(metadata: MetadataStore, pipeline: str | None, limit: int) -> list[IncidentRow]:
    incidents = metadata.list_incidents(pipeline, limit)
    rows = metadata.deliveries([i.id for i in incidents]) if incidents else []
    return [IncidentRow(i, [r for r in rows if r.incident_id == i.id]) for i in incidents]
