"""When triggers fire: intervals and cron in time zones, bounds, catch-up limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from cairn.project.triggers import TriggerSettings

T0 = datetime(2026, 1, 1)


@pytest.mark.parametrize(("settings", "after", "until", "limit", "expected"), [
    pytest.param({"interval": "2s"}, T0, datetime(2026, 1, 1, 0, 0, 7), 10,
                 ["00:00:02", "00:00:04", "00:00:06"], id="interval"),
    pytest.param({"interval": 90}, T0, datetime(2026, 1, 1, 0, 5), 10,
                 ["00:01:30", "00:03:00", "00:04:30"], id="interval-seconds"),
    pytest.param({"interval": "1m"}, T0, datetime(2026, 1, 1, 0, 10), 2,
                 ["00:09:00", "00:10:00"], id="limit-keeps-the-latest"),
    pytest.param({"interval": "10s", "start": "2026-01-01T00:00:03Z"}, T0,
                 datetime(2026, 1, 1, 0, 0, 30), 10, ["00:00:03", "00:00:13", "00:00:23"],
                 id="interval-anchored-at-start"),
    pytest.param({"interval": "10s", "end": "2026-01-01T00:00:20Z"}, T0,
                 datetime(2026, 1, 1, 0, 1), 10, ["00:00:10", "00:00:20"], id="end"),
    pytest.param({"schedule": "*/15 * * * *"}, T0, datetime(2026, 1, 1, 1), 10,
                 ["00:15:00", "00:30:00", "00:45:00", "01:00:00"], id="cron"),
    pytest.param({"schedule": "* * * * * */20"}, T0, datetime(2026, 1, 1, 0, 1), 10,
                 ["00:00:20", "00:00:40", "00:01:00"], id="cron-seconds"),
    pytest.param({"schedule": "0 9 * * *", "timezone": "Europe/Berlin"}, T0,
                 datetime(2026, 1, 1, 12), 10, ["08:00:00"], id="cron-time-zone"),
])
def test_fire_times(settings: dict[str, Any], after: datetime, until: datetime, limit: int,
                    expected: list[str]) -> None:
    trigger = TriggerSettings(name="t", **settings)
    times = trigger.fire_times(after, until, limit)
    assert [moment.strftime("%H:%M:%S") for moment in times] == expected


def test_summer_time_moves_the_utc_hour() -> None:
    trigger = TriggerSettings(name="t", schedule="0 2 * * *", timezone="Europe/Berlin")
    times = trigger.fire_times(datetime(2026, 3, 28), datetime(2026, 3, 31), 10)
    assert [t.hour for t in times] == [1, 1, 0, 0]  # CET is UTC+1, CEST UTC+2


def test_a_year_of_downtime_costs_only_the_limit() -> None:
    trigger = TriggerSettings(name="t", interval="1s")
    times = trigger.fire_times(datetime(2025, 1, 1), datetime(2026, 1, 1), 3)
    assert times == [datetime(2025, 12, 31, 23, 59, 58), datetime(2025, 12, 31, 23, 59, 59),
                     datetime(2026, 1, 1)]


def test_next_fire() -> None:
    assert TriggerSettings(name="t", interval="5m").next_fire(
        datetime(2026, 1, 1, 0, 7)) == datetime(2026, 1, 1, 0, 10)
    ended = TriggerSettings(name="t", interval="5m", end="2026-01-01T00:05:00Z")
    assert ended.next_fire(datetime(2026, 1, 1, 0, 7)) is None


@pytest.mark.parametrize(("settings", "message"), [
    ({}, "give one of `schedule` (cron), `interval`"),
    ({"schedule": "* * * * *", "interval": 5}, "give one of"),
    ({"api": {}}, "either `token` or `token_env`"),
    ({"event": {"path": "in"}}, "url"),
    ({"schedule": "every monday"}, "is not a cron expression"),
    ({"interval": "5 minutes"}, "is not an interval"),
    ({"interval": 0}, "must be positive"),
    ({"interval": 5, "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"interval": 5, "catch_up": "some"}, "catch_up"),
    ({"interval": 5, "every": 3}, "every"),
])
def test_bad_triggers_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TriggerSettings(name="t", **settings)
