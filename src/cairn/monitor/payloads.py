"""An alert message in the shape each channel kind expects. Pure functions: no I/O."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict
from email.message import EmailMessage
from typing import Any

from cairn.monitor.messages import AlertMessage

# Colours by event, for the services that show one.
_COLOURS = {"failure": 0xD93025, "sla_miss": 0xF29900, "recovery": 0x188038,
            "success": 0x188038, "test": 0x1A73E8}
_SEVERITY = {"failure": "error", "sla_miss": "warning", "test": "info"}
SIGNATURE_HEADER = "X-Cairn-Signature"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain_text(message: AlertMessage) -> str:
    """The message as text: the email body, and the parts chat payloads are built from."""
    parts = [message.summary, ""]
    parts += [f"{key}: {value}" for key, value in message.facts.items()]
    if message.block:
        parts.append(f"failed block: {message.block}")
    if message.error:
        parts += ["", "error:", message.error]
    if message.log:
        parts += ["", "log (last lines):", message.log]
    if message.link:
        parts += ["", f"open: {message.link}"]
    return "\n".join(parts) + "\n"


def email(message: AlertMessage, sender: str, to: list[str]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"[cairn] {message.summary}"
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail.set_content(plain_text(message))
    return mail


def _code(text: str, limit: int) -> str:
    return "```\n" + _clip(text, limit) + "\n```"


def slack(message: AlertMessage) -> dict[str, Any]:
    """Block Kit blocks, with `text` as the notification and fallback."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(message.title, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(message.summary, 3000)},
         "fields": [{"type": "mrkdwn", "text": f"*{key}*\n{value}"}
                    for key, value in list(message.facts.items())[:10]]},
    ]
    if message.block:
        blocks.append({"type": "section", "text": {
            "type": "mrkdwn", "text": f"*failed block:* `{message.block}`"}})
    for label, text in (("error", message.error), ("log", message.log)):
        if text:
            blocks.append({"type": "section", "text": {
                "type": "mrkdwn", "text": f"*{label}*\n" + _code(text, 2800)}})
    if message.link:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open run"},
            "url": message.link}]})
    return {"text": message.summary, "blocks": blocks}


def teams(message: AlertMessage) -> dict[str, Any]:
    """A MessageCard, which Teams incoming webhooks (and Workflows) accept."""
    facts = [{"name": key, "value": value} for key, value in message.facts.items()]
    if message.block:
        facts.append({"name": "failed block", "value": message.block})
    text = "\n\n".join(f"**{label}**\n\n<pre>{_clip(value, 4000)}</pre>"
                       for label, value in (("error", message.error), ("log", message.log))
                       if value)
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": message.summary,
        "themeColor": f"{_COLOURS.get(message.event, 0):06X}",
        "title": message.title,
        "sections": [{"activityTitle": message.summary, "facts": facts,
                      **({"text": text} if text else {})}],
    }
    if message.link:
        card["potentialAction"] = [{"@type": "OpenUri", "name": "Open run",
                                    "targets": [{"os": "default", "uri": message.link}]}]
    return card


def discord(message: AlertMessage) -> dict[str, Any]:
    """`content` as the notification, one embed with the details (Discord's limits kept)."""
    fields = [{"name": key, "value": _clip(value, 1024), "inline": True}
              for key, value in message.facts.items()]
    if message.block:
        fields.append({"name": "failed block", "value": message.block, "inline": False})
    if message.log:
        fields.append({"name": "log", "value": _code(message.log, 1000), "inline": False})
    embed: dict[str, Any] = {
        "title": _clip(message.title, 256),
        "description": _clip(message.summary + ("\n" + _code(message.error, 3500)
                                                if message.error else ""), 4096),
        "color": _COLOURS.get(message.event, 0),
        "fields": fields[:25],
    }
    if message.link:
        embed["url"] = message.link
    return {"content": _clip(message.summary, 2000), "embeds": [embed]}


def pagerduty(message: AlertMessage, routing_key: str) -> dict[str, Any]:
    """An Events API v2 event. One dedup key per pipeline, so that a recovery (or a later
    success) resolves what a failure or an SLA miss opened."""
    dedup_key = f"cairn/{message.pipeline}"
    if message.event in ("recovery", "success"):
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}
    details: dict[str, Any] = {**message.facts}
    for key in ("block", "error", "log"):
        if getattr(message, key):
            details[key] = getattr(message, key)
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key if message.event != "test" else "cairn/test",
        "payload": {"summary": _clip(message.summary, 1024), "source": "cairn",
                    "severity": _SEVERITY.get(message.event, "info"),
                    "component": message.pipeline, "class": message.event,
                    "custom_details": details},
    }
    if message.link:
        event["links"] = [{"href": message.link, "text": "Open run in Cairn"}]
    return event


def webhook(message: AlertMessage) -> bytes:
    """The generic webhook's body: the message's fields as JSON."""
    return json.dumps(asdict(message), separators=(",", ":")).encode()


def signature(body: bytes, secret: str) -> str:
    """`sha256=` and the hex HMAC-SHA256 of the raw body, as in X-Cairn-Signature."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
