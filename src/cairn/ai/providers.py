"""Chat models behind one small interface: OpenAI-compatible APIs and Anthropic's."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Protocol

from cairn.errors import CairnError, Problem
from cairn.project.ai import ProviderSettings

if TYPE_CHECKING:
    from cairn.project.config import Project

ANTHROPIC_VERSION = "2023-06-01"
_RETRIED = {429, 500, 502, 503, 504}
_MAX_TOKENS = 4096


class Provider(Protocol):
    def complete(self, system: str, messages: list[dict[str, str]]) -> str: ...


def open_provider(project: Project) -> Provider | None:
    """The provider `cairn.yaml` configures, with its key; None when it configures none."""
    settings = project.settings.ai.provider
    if settings is None:
        return None
    return HTTPProvider(settings, _api_key(project, settings))


def _api_key(project: Project, settings: ProviderSettings) -> str | None:
    from cairn.io.config import SECRETS_FILE, _read_secrets
    from cairn.io.secrets import register_secret

    key: str | None = None
    if settings.api_key_env:
        key = os.environ.get(settings.api_key_env)
        if key is None:
            raise CairnError(Problem(
                "missing-api-key", f"the environment variable {settings.api_key_env} holding "
                "the model's API key is not set", file="cairn.yaml",
                hint="export it, or name a key of secrets.yaml in ai.provider.api_key_secret"))
    elif settings.api_key_secret:
        secrets = _read_secrets(project.root / SECRETS_FILE)
        key = secrets.get(settings.api_key_secret)
        if key is None:
            raise CairnError(Problem(
                "missing-api-key", f"secrets.yaml has no key {settings.api_key_secret!r} for "
                "the model's API key", file="cairn.yaml",
                hint=f"add `{settings.api_key_secret}: ...` to {SECRETS_FILE}"))
    if key:
        register_secret(key)  # so no log or error message can show it
    return key


class HTTPProvider:
    """Sends one chat request per `complete`, retrying rate limits and server errors."""

    def __init__(self, settings: ProviderSettings, key: str | None) -> None:
        self.settings = settings
        self._key = key

    @property
    def label(self) -> str:
        return f"{self.settings.kind} provider at {self.settings.url} (model {self.settings.model})"

    def complete(self, system: str, messages: list[dict[str, str]]) -> str:
        url, headers, body = self._request(system, messages)
        response = self._post(url, headers, body)
        try:
            text = self._content(response.json())
        except (ValueError, KeyError, IndexError, TypeError):
            text = None
        if not text:
            raise self._refusal(response.status_code, "the answer holds no text")
        return text

    def _request(self, system: str, messages: list[dict[str, str]],
                 ) -> tuple[str, dict[str, str], dict[str, Any]]:
        base = self.settings.url.rstrip("/")
        headers = {"content-type": "application/json"}
        if self.settings.kind == "anthropic":
            headers["anthropic-version"] = ANTHROPIC_VERSION
            if self._key:
                headers["x-api-key"] = self._key
            body = {"model": self.settings.model, "system": system, "messages": messages,
                    "max_tokens": _MAX_TOKENS}
            return f"{base}/messages", headers, body
        if self._key:
            headers["authorization"] = f"Bearer {self._key}"
        body = {"model": self.settings.model, "temperature": 0,
                "messages": [{"role": "system", "content": system}, *messages]}
        return f"{base}/chat/completions", headers, body

    def _content(self, answer: dict[str, Any]) -> str | None:
        if self.settings.kind == "anthropic":
            parts = [p.get("text", "") for p in answer["content"] if p.get("type") == "text"]
            return "".join(parts) or None
        content = answer["choices"][0]["message"]["content"]
        return content if isinstance(content, str) else None

    def _post(self, url: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
        import httpx

        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = httpx.post(url, json=body, headers=headers,
                                      timeout=self.settings.timeout)
            except httpx.TransportError as error:
                if last:
                    raise CairnError(Problem(
                        "provider-unreachable", f"the {self.label} could not be reached: "
                        f"{type(error).__name__}: {error}",
                        hint="check ai.provider.url in cairn.yaml and that the server runs"
                    )) from None
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in _RETRIED or last:
                    raise self._refusal(response.status_code, _message(response))
            time.sleep(_backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _refusal(self, status: int, message: str) -> CairnError:
        from cairn.io.secrets import redact

        hint = ("check the API key named in ai.provider of cairn.yaml" if status in (401, 403)
                else None)
        return CairnError(Problem("provider-refused", redact(
            f"the {self.label} refused the request (HTTP {status}): {message}"), hint=hint))


def _message(response: Any) -> str:
    """The provider's own explanation, from the usual error shapes, else the raw text."""
    try:
        error = response.json().get("error")
    except ValueError:
        return response.text[:300] or "no message"
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(error or response.text[:300])


def _backoff(attempt: int) -> float:
    return float(min(0.5 * 2.0 ** (attempt - 1), 8.0))
