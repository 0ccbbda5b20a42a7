"""The `ai:` section of `cairn.yaml`: which model, if any, writes and fixes blocks."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ProviderSettings(BaseModel):
    """A chat model: `openai` is any OpenAI-compatible chat-completions API (OpenAI, Azure,
    Ollama, vLLM, llama.cpp's server); `anthropic` is Anthropic's messages API."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai", "anthropic"]
    url: str = Field(description="base URL, e.g. https://api.openai.com/v1")
    model: str
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the key")
    api_key_secret: str | None = Field(default=None, description="name of a key of secrets.yaml")
    timeout: float = Field(default=60, gt=0)
    retries: int = Field(default=2, ge=0)
    max_repairs: int = Field(default=2, ge=0)
    send_samples: bool = Field(
        default=False, description="rows of data are sent to the model only when true")


class AISettings(BaseModel):
    """No provider: blocks come from the built-in templates and nothing leaves the machine."""

    model_config = ConfigDict(extra="forbid")

    provider: ProviderSettings | None = None
