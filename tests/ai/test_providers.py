"""The HTTP providers against the fake model: wire formats, retries, refusals and keys."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest
from ai_project import provider_yaml
from fake_llm import FakeLLM, Reply

from cairn.ai.providers import open_provider
from cairn.errors import CairnError

if TYPE_CHECKING:
    from support import ProjectFolder

HELLO = [{"role": "user", "content": "hello"}]


def configure(project: ProjectFolder, url: str, kind: str = "openai",
              key: str = "api_key_env: CAIRN_TEST_LLM_KEY") -> None:
    (project.root / "cairn.yaml").write_text(provider_yaml(url, kind, key))


def test_no_provider_configured(project: ProjectFolder) -> None:
    assert open_provider(project.load()) is None


def test_openai_wire_format(project: ProjectFolder, fake_llm: FakeLLM,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_TEST_LLM_KEY", "k-env-1")
    configure(project, fake_llm.url)
    fake_llm.script("hi there")
    provider = open_provider(project.load())
    assert provider is not None
    assert provider.complete("be brief", HELLO) == "hi there"
    body = fake_llm.requests[0].body
    assert body["model"] == "fake-model"
    assert body["messages"] == [{"role": "system", "content": "be brief"}, *HELLO]
    assert fake_llm.requests[0].headers["authorization"] == "Bearer k-env-1"


def test_anthropic_wire_format(project: ProjectFolder, fake_llm: FakeLLM,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_TEST_LLM_KEY", "k-env-2")
    configure(project, fake_llm.url, "anthropic")
    fake_llm.script("bonjour")
    provider = open_provider(project.load())
    assert provider is not None
    assert provider.complete("be brief", HELLO) == "bonjour"
    request = fake_llm.requests[0]
    assert request.path == "/v1/messages"
    assert (request.body["system"], request.body["messages"]) == ("be brief", HELLO)
    assert request.body["max_tokens"] > 0
    assert request.headers["x-api-key"] == "k-env-2"
    assert "authorization" not in request.headers


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_retried(project: ProjectFolder, fake_llm: FakeLLM,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   status: int) -> None:
    monkeypatch.setenv("CAIRN_TEST_LLM_KEY", "k-env-retries-55")
    configure(project, fake_llm.url)
    fake_llm.script(Reply(status=status, error="busy"), "done")
    provider = open_provider(project.load())
    assert provider is not None and provider.complete("s", HELLO) == "done"
    assert len(fake_llm.requests) == 2


def test_retries_run_out(project: ProjectFolder, fake_llm: FakeLLM,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_TEST_LLM_KEY", "k-env-retries-55")
    configure(project, fake_llm.url)
    fake_llm.script(*[Reply(status=503, error="overloaded")] * 3)
    provider = open_provider(project.load())
    assert provider is not None
    with pytest.raises(CairnError, match=r"refused the request \(HTTP 503\): overloaded"):
        provider.complete("s", HELLO)
    assert len(fake_llm.requests) == 3  # retries: 2


def test_an_answer_without_text_is_a_refusal(project: ProjectFolder, fake_llm: FakeLLM,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_TEST_LLM_KEY", "k-env-retries-55")
    configure(project, fake_llm.url)
    fake_llm.script("")
    provider = open_provider(project.load())
    assert provider is not None
    with pytest.raises(CairnError, match=r"openai provider .* holds no text"):
        provider.complete("s", HELLO)


def test_an_unreachable_server_is_named(project: ProjectFolder,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("CAIRN_TEST_LLM_KEY", "k-env-retries-55")
    configure(project, f"http://127.0.0.1:{port}/v1")
    provider = open_provider(project.load())
    assert provider is not None
    with pytest.raises(CairnError, match=f"127.0.0.1:{port}/v1 .* could not be reached"):
        provider.complete("s", HELLO)


def test_a_missing_key_is_a_clear_error(project: ProjectFolder,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAIRN_TEST_LLM_KEY", raising=False)
    configure(project, "http://127.0.0.1:9/v1")
    with pytest.raises(CairnError, match=r"CAIRN_TEST_LLM_KEY .* is not set"):
        open_provider(project.load())
    configure(project, "http://127.0.0.1:9/v1", key="api_key_secret: NOPE")
    with pytest.raises(CairnError, match=r"secrets\.yaml has no key 'NOPE'"):
        open_provider(project.load())


def test_unknown_settings_are_rejected(project: ProjectFolder) -> None:
    (project.root / "cairn.yaml").write_text(
        "ai:\n  provider:\n    kind: openai\n    url: x\n    model: m\n    temprature: 1\n")
    with pytest.raises(CairnError, match="temprature"):
        project.load()
