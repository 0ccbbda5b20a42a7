"""The `alerts:` section of `cairn.yaml`: channels, and routes from pipelines and events to
channels. String values may use `{{ env_var('X') }}` and `{{ secret('X') }}`; they are
rendered when a message is sent (see `cairn.monitor.channels`), not when the project loads,
so a command that sends nothing does not need them set."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cairn.errors import closest
from cairn.project.triggers import parse_interval

Event = Literal["failure", "sla_miss", "recovery", "success"]
EVENTS: tuple[Event, ...] = ("failure", "sla_miss", "recovery", "success")
DEFAULT_EVENTS: list[Event] = ["failure", "sla_miss", "recovery"]  # success is opt-in


def _http_url(value: str) -> str:
    # A templated value is checked once rendered, when the channel is used.
    if "{{" not in value and not value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EmailChannel(_Channel):
    """Email over SMTP; `starttls` upgrades a plain connection, `ssl` connects with TLS."""

    kind: Literal["email"]
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)


class ChatChannel(_Channel):
    """An incoming webhook of a chat service; the URL holds its credential."""

    kind: Literal["slack", "teams", "discord"]
    url: str

    _url = field_validator("url")(_http_url)


class PagerDutyChannel(_Channel):
    """PagerDuty Events API v2; a recovery resolves the pipeline's open incident."""

    kind: Literal["pagerduty"]
    routing_key: str
    url: str = "https://events.pagerduty.com/v2/enqueue"

    _url = field_validator("url")(_http_url)


class WebhookChannel(_Channel):
    """Any HTTP endpoint: the message as JSON, signed with HMAC-SHA256 when `secret` is set."""

    kind: Literal["webhook"]
    url: str
    secret: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    _url = field_validator("url")(_http_url)


Channel = Annotated[EmailChannel | ChatChannel | PagerDutyChannel | WebhookChannel,
                    Field(discriminator="kind")]
CHANNEL_KINDS = ("email", "slack", "teams", "discord", "pagerduty", "webhook")


class RouteSettings(BaseModel):
    """Which events of which pipelines (fnmatch patterns) go to which channels."""

    model_config = ConfigDict(extra="forbid")

    pipelines: list[str] = Field(default_factory=lambda: ["*"])
    events: list[Event] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    channels: list[str] = Field(min_length=1)


Seconds = Annotated[float, Field(gt=0)]


class AlertSettings(BaseModel):
    """Alert channels, routes, where the UI is (for links) and how delivery is retried."""

    model_config = ConfigDict(extra="forbid", validate_default=True)  # "30s" → seconds

    ui_url: str = "http://127.0.0.1:6789"
    channels: dict[str, Channel] = Field(default_factory=dict)
    routes: list[RouteSettings] = Field(default_factory=list)
    max_attempts: int = Field(default=5, ge=1, description="per channel, then it gives up")
    retry_delay: Seconds | str = Field(default="30s", description="doubles after each failure")
    retry_max_delay: Seconds | str = "15m"
    timeout: Seconds | str = Field(default="10s", description="of one send")

    @field_validator("retry_delay", "retry_max_delay", "timeout")
    @classmethod
    def _interval(cls, value: float | str) -> float:
        return parse_interval(value)

    @model_validator(mode="after")
    def _known_channels(self) -> AlertSettings:
        for index, route in enumerate(self.routes):
            for name in route.channels:
                if name not in self.channels:
                    hint = closest(name, self.channels) or "declare it under alerts.channels"
                    raise ValueError(f"routes.{index}.channels: unknown channel {name!r} "
                                     f"({hint})")
        return self

    def seconds(self, name: Literal["retry_delay", "retry_max_delay", "timeout"]) -> float:
        return float(getattr(self, name))
