"""What `cairn triggers` shows and changes: triggers, their state and next fire times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cairn.errors import CairnError, Problem, closest
from cairn.project.config import Project
from cairn.project.pipeline import load_pipeline
from cairn.project.triggers import TriggerSettings
from cairn.service import open_metadata, utc_now


@dataclass
class TriggerRow:
    pipeline: str
    trigger: str
    kind: str
    when: str
    catch_up: str
    paused: bool
    next_fire: datetime | None


def list_triggers(project: Project, pipeline: str | None = None) -> list[TriggerRow]:
    names = [pipeline] if pipeline else project.pipeline_names()
    metadata = open_metadata(project)
    rows = []
    try:
        now = utc_now()
        for name in names:
            settings = load_pipeline(project, name).settings
            states = metadata.trigger_states(name)
            for trigger in settings.triggers:
                state = states.get(trigger.name)
                after = max(now, state.fired_until) if state and state.fired_until else now
                upcoming = trigger.next_fire(after)
                rows.append(TriggerRow(name, trigger.name, trigger.kind, _when(trigger),
                                       trigger.catch_up,
                                       bool(state and state.paused),
                                       upcoming))
    finally:
        metadata.close()
    return rows


def _when(trigger: TriggerSettings) -> str:
    if trigger.schedule is not None:
        return f"cron {trigger.schedule} ({trigger.timezone})"
    if trigger.interval is not None:
        return f"every {float(trigger.interval):g} s"
    if trigger.event is not None:
        return f"new {trigger.event.pattern} in {trigger.event.url}"
    if trigger.after is not None:
        return f"after {trigger.after} succeeds"
    return "POST /api/pipelines/{name}/trigger"


def set_paused(project: Project, pipeline: str | None, trigger: str, paused: bool) -> None:
    if pipeline is None:
        raise CairnError(Problem("bad-options", "--pause and --resume need the PIPELINE"))
    settings = load_pipeline(project, pipeline).settings
    known = [t.name for t in settings.triggers]
    if trigger not in known:
        raise CairnError(Problem("unknown-trigger", f"pipeline {pipeline} has no trigger "
                                 f"{trigger!r}", hint=closest(trigger, known)))
    metadata = open_metadata(project)
    try:
        metadata.save_trigger_state(pipeline, trigger, paused=paused)
    finally:
        metadata.close()
