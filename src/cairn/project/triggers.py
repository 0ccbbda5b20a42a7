"""Triggers of a pipeline, as `pipeline.yaml` declares them, and when schedules fire."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_EPOCH = datetime(1970, 1, 1)


def parse_interval(value: float | str) -> float:
    """Seconds from 90, "90", "30s", "5m", "2h" or "1d"."""
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _INTERVAL.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not an interval: write 30, 30s, 5m, 2h or 1d")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError("the interval must be positive")
    return seconds


class SLASettings(BaseModel):
    """A run must end within `max_duration` of its start and/or within `deadline` of its
    scheduled time (scheduled runs only); durations as for `interval`."""

    model_config = ConfigDict(extra="forbid")

    max_duration: float | str | None = None
    deadline: float | str | None = None

    @field_validator("max_duration", "deadline")
    @classmethod
    def _duration(cls, value: float | str | None) -> float | None:
        return None if value is None else parse_interval(value)


class EventSettings(BaseModel):
    """Run once per new file under a folder or an fsspec URL prefix."""

    model_config = ConfigDict(extra="forbid")

    url: str  # a folder (relative to the project) or a URL prefix such as s3://bucket/in/
    pattern: str = "*"  # file names to watch, as a glob
    options: dict[str, Any] = Field(default_factory=dict)  # fsspec storage options


class ApiSettings(BaseModel):
    """Run when `POST /api/pipelines/{name}/trigger` carries this trigger's token."""

    model_config = ConfigDict(extra="forbid")

    token: str | None = None
    token_env: str | None = None  # or the name of an environment variable holding it

    @model_validator(mode="after")
    def _one_token(self) -> ApiSettings:
        if (self.token is None) == (self.token_env is None):
            raise ValueError("give either `token` or `token_env`")
        return self

    def expected(self) -> str | None:
        import os

        return self.token if self.token is not None else os.environ.get(str(self.token_env))


class TriggerSettings(BaseModel):
    """One trigger: a schedule (cron or interval, in a time zone, between two dates), new
    files, an API call, or another pipeline's success."""

    model_config = ConfigDict(extra="forbid")

    name: str
    schedule: str | None = Field(default=None, description="cron: minute hour day month "
                                 "weekday [second]")
    interval: float | str | None = Field(default=None, description="seconds, or 30s, 5m, 2h, 1d")
    timezone: str = "UTC"
    start: datetime | None = None
    end: datetime | None = None
    event: EventSettings | None = None
    api: ApiSettings | None = None
    after: str | None = Field(default=None, description="run when this pipeline succeeds")
    variables: dict[str, Any] = Field(default_factory=dict)
    catch_up: Literal["latest", "all", "none"] = "latest"
    sla: SLASettings | None = None  # its keys override those of the pipeline's `sla`

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        from croniter import croniter

        if value is not None and not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (minute hour day month "
                             "weekday, and an optional sixth field for seconds)")
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float | str | None) -> float | None:
        return None if value is None else parse_interval(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. UTC, Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> TriggerSettings:
        kinds = [self.schedule, self.interval, self.event, self.api, self.after]
        if sum(kind is not None for kind in kinds) != 1:
            raise ValueError("give one of `schedule` (cron), `interval`, `event`, `api` or "
                             "`after`")
        return self

    @property
    def kind(self) -> str:
        if self.schedule is not None or self.interval is not None:
            return "schedule"
        return "event" if self.event else "api" if self.api else "after"

    def definition(self) -> str:
        """A digest of what decides when the trigger fires (not its variables, SLA or
        catch-up policy): when it changes, the trigger's schedule starts again."""
        import hashlib
        import json

        decisive = self.model_dump(mode="json", include={
            "schedule", "interval", "timezone", "start", "end", "event", "after"})
        return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:32]

    def _utc(self, moment: datetime | None) -> datetime | None:
        """A configured date (in the trigger's zone unless it says) as naive UTC."""
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(self.timezone))
        return moment.astimezone(UTC).replace(tzinfo=None)

    def _bounds(self, after: datetime, until: datetime) -> tuple[datetime, datetime]:
        start, end = self._utc(self.start), self._utc(self.end)
        if start is not None and after < start:
            after = start - timedelta(microseconds=1)
        return after, min(until, end) if end is not None else until

    def fire_times(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        if self.kind != "schedule":
            return []
        return self._fire_times(after, until, limit)

    def _fire_times(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        """The last `limit` scheduled times in (after, until], naive UTC. Computed from the
        end backwards, so a long downtime costs no more than `limit` steps."""
        after, until = self._bounds(after, until)
        if until <= after:
            return []
        if self.interval is not None:
            anchor = self._utc(self.start) or _EPOCH
            step = timedelta(seconds=float(self.interval))
            last = (until - anchor) // step
            first = max((after - anchor) // step + 1, last - limit + 1)
            return [anchor + index * step for index in range(first, last + 1)]
        from croniter import croniter

        zone = ZoneInfo(self.timezone)
        iterator = croniter(str(self.schedule), (until + timedelta(microseconds=1)
                                                 ).replace(tzinfo=UTC).astimezone(zone))
        times: list[datetime] = []
        while len(times) < limit:
            moment = iterator.get_prev(datetime).astimezone(UTC).replace(tzinfo=None)
            if moment <= after:
                break
            times.append(moment)
        return times[::-1]

    def next_fire(self, after: datetime) -> datetime | None:
        """The first scheduled time after `after`, if the trigger has one."""
        if self.kind != "schedule":
            return None
        after, _ = self._bounds(after, after)
        if self.interval is not None:
            anchor = self._utc(self.start) or _EPOCH
            step = timedelta(seconds=float(self.interval))
            moment = anchor + ((after - anchor) // step + 1) * step
        else:
            from croniter import croniter

            iterator = croniter(str(self.schedule),
                                after.replace(tzinfo=UTC).astimezone(ZoneInfo(self.timezone)))
            moment = iterator.get_next(datetime).astimezone(UTC).replace(tzinfo=None)
        end = self._utc(self.end)
        return None if end is not None and moment > end else moment
