"""An edited trigger starts again from its edit: a time of the new schedule that passed
before the edit does not fire at once (catch_up: latest), one that passed after it, while
the scheduler was down, still does. The scheduler's clock is given, not waited for."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from support import ProjectFolder

from cairn.schedule.scheduler import Scheduler

DAY = datetime(2026, 3, 2)


def _at(hour: int, minute: int, second: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute, second=second)


def _write_trigger(project: ProjectFolder, cron: str, edited: datetime) -> None:
    """pipeline.yaml with one cron trigger, as if saved at `edited` (naive UTC)."""
    path = project.pipeline("p", {"a.py": "a = 1\n"},
                            f"triggers:\n  - name: t\n    schedule: '{cron}'\n"
                            "    catch_up: latest\n") / "pipeline.yaml"
    stamp = edited.replace(tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))


@pytest.fixture
def scheduler(project: ProjectFolder) -> Iterator[Scheduler]:
    _write_trigger(project, "0 * * * *", _at(15, 0))
    scheduler = Scheduler(project.load())
    yield scheduler
    scheduler.metadata.close()


def _fire(scheduler: Scheduler, now: datetime) -> None:
    scheduler._fire(scheduler.pipelines(), now)


def _scheduled(scheduler: Scheduler) -> list[datetime]:
    return sorted(r.scheduled_for for r in scheduler.metadata.list_runs("p", 100))


def test_an_edited_cron_does_not_fire_a_time_before_the_edit(project: ProjectFolder,
                                                             scheduler: Scheduler) -> None:
    _fire(scheduler, _at(16, 0, 5))  # new: fires from now on
    _fire(scheduler, _at(17, 0, 1))
    assert _scheduled(scheduler) == [_at(17, 0)]
    # At 17:40, the hourly trigger becomes "daily at 17:30": 17:30 has passed, but the
    # scheduler was up all along and the trigger did not say 17:30 then.
    _write_trigger(project, "30 17 * * *", _at(17, 40))
    _fire(scheduler, _at(17, 40, 1))
    _fire(scheduler, _at(17, 50))
    assert _scheduled(scheduler) == [_at(17, 0)]
    # The new schedule fires when its time comes.
    _fire(scheduler, _at(17, 30, 1).replace(day=3))
    assert _scheduled(scheduler) == [_at(17, 0), _at(17, 30).replace(day=3)]


def test_a_time_after_the_edit_missed_while_down_is_caught_up(project: ProjectFolder,
                                                              scheduler: Scheduler) -> None:
    _fire(scheduler, _at(16, 0, 5))
    # Edited at 17:40 while no scheduler runs; the scheduler is back at 18:00: 17:50 was
    # missed while it was down.
    _write_trigger(project, "50 17 * * *", _at(17, 40))
    _fire(scheduler, _at(18, 0))
    assert _scheduled(scheduler) == [_at(17, 50)]


def test_changing_only_variables_keeps_the_schedule(project: ProjectFolder,
                                                    scheduler: Scheduler) -> None:
    _fire(scheduler, _at(16, 0, 5))
    path = project.root / "pipelines" / "p" / "pipeline.yaml"
    path.write_text(path.read_text() + "    variables: {x: 1}\n")
    stamp = _at(17, 30).replace(tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    _fire(scheduler, _at(17, 30, 1))  # 17:00 was missed before the edit: still due
    assert _scheduled(scheduler) == [_at(17, 0)]
