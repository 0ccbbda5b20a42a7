"""Alert channels: their settings rendered (env_var, secret) when used, and one send each.

Every credential (a webhook URL, a routing key, a password, an HMAC secret) is registered
as a secret once rendered, so that `redact` masks it in anything recorded or printed."""

from __future__ import annotations

import smtplib
import ssl
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from cairn.errors import CairnError, Problem, closest
from cairn.io.config import ProfileReader
from cairn.io.secrets import redact, register_secret
from cairn.monitor import payloads
from cairn.monitor.messages import AlertMessage
from cairn.project.alerts import (
    Channel,
    ChatChannel,
    EmailChannel,
    PagerDutyChannel,
    WebhookChannel,
)
from cairn.project.config import PROJECT_FILE
from cairn.project.yaml_file import Location, read_yaml

if TYPE_CHECKING:
    from cairn.project.config import Project

_CHANNEL = TypeAdapter[Channel](Channel)
_CREDENTIALS = ("url", "routing_key", "password", "secret")


class DeliveryError(Exception):
    """A channel did not take the message; the text is safe to record (secrets masked)."""


class _AlertsReader(ProfileReader):
    """io_config.yaml's Jinja rendering, with problems pointing into cairn.yaml."""

    def problem(self, location: Location, message: str, hint: str | None = None) -> Problem:
        where = ("alerts", "channels", *location)
        line = next((self.lines[where[:end]] for end in range(len(where), 0, -1)
                     if where[:end] in self.lines), None)
        field = ".".join(str(part) for part in where)
        return Problem("invalid-config", redact(f"{field}: {message}"), file=self.file,
                       line=line, hint=hint)


def channel(project: Project, name: str) -> Channel:
    """Channel `name` of the project, its values rendered and validated again."""
    configured = project.settings.alerts.channels
    if name not in configured:
        raise CairnError(Problem("unknown-channel", f"no alert channel named {name!r}",
                                 file=str(project.root / PROJECT_FILE),
                                 hint=closest(name, configured)
                                 or "declare channels under alerts.channels in cairn.yaml"))
    path = project.root / PROJECT_FILE
    data, lines = read_yaml(path)
    raw = data["alerts"]["channels"][name]
    reader = _AlertsReader(project.root, path, lines, project.profile)
    values = reader._render(raw, (name,))
    try:
        rendered = _CHANNEL.validate_python(values)
    except ValidationError as error:
        raise CairnError([reader.problem((name, *item["loc"][1:]), item["msg"])
                          for item in error.errors()]) from None
    for key in _CREDENTIALS:
        register_secret(str(getattr(rendered, key, None) or ""))
    return rendered


def send(target: Channel, message: AlertMessage, timeout: float) -> None:
    """Deliver one message; raise DeliveryError when the channel does not take it."""
    try:
        if isinstance(target, EmailChannel):
            _send_email(target, message, timeout)
        elif isinstance(target, ChatChannel):
            build = {"slack": payloads.slack, "teams": payloads.teams,
                     "discord": payloads.discord}[target.kind]
            _post(target.url, timeout, json=build(message))
        elif isinstance(target, PagerDutyChannel):
            _post(target.url, timeout, json=payloads.pagerduty(message, target.routing_key))
        else:
            _send_webhook(target, message, timeout)
    except DeliveryError:
        raise
    except Exception as error:  # any failure of the far end is a failed attempt
        raise DeliveryError(redact(f"{type(error).__name__}: {error}")) from None


def _post(url: str, timeout: float, **body: Any) -> None:
    import httpx

    response = httpx.post(url, timeout=timeout, **body)
    if response.status_code >= 300:
        raise DeliveryError(redact(f"HTTP {response.status_code} from {url}: "
                                   f"{response.text[:300]}"))


def _send_webhook(target: WebhookChannel, message: AlertMessage, timeout: float) -> None:
    body = payloads.webhook(message)
    headers = {"Content-Type": "application/json", "X-Cairn-Event": message.event,
               **target.headers}
    if target.secret:
        headers[payloads.SIGNATURE_HEADER] = payloads.signature(body, target.secret)
    _post(target.url, timeout, content=body, headers=headers)


def _send_email(target: EmailChannel, message: AlertMessage, timeout: float) -> None:
    mail = payloads.email(message, target.sender, target.to)
    context = ssl.create_default_context()
    smtp_class = smtplib.SMTP_SSL if target.ssl else smtplib.SMTP
    extra: dict[str, Any] = {"context": context} if target.ssl else {}
    with smtp_class(target.host, target.port, timeout=timeout, **extra) as smtp:
        if target.starttls:
            smtp.starttls(context=context)
        if target.username:
            smtp.login(target.username, target.password or "")
        smtp.send_message(mail)


def describe(target: Channel) -> str:
    """Where a channel sends, for `cairn alerts list`: hosts only, never a credential."""
    from urllib.parse import urlsplit

    if isinstance(target, EmailChannel):
        return f"smtp {target.host}:{target.port} → {', '.join(target.to)}"
    parts = urlsplit(target.url)
    where = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    return f"{target.kind} {where}"
