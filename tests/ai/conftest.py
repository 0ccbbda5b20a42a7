"""Fixtures of the AI tests: a fake chat model on 127.0.0.1 and a project that uses it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from ai_project import API_KEY, IO_CONFIG, ORDERS, provider_yaml
from fake_llm import FakeLLM, FakeServer

if TYPE_CHECKING:
    from support import ProjectFolder

@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def shop(project: ProjectFolder, fake_llm: FakeLLM,
         monkeypatch: pytest.MonkeyPatch) -> ProjectFolder:
    """A project whose `shop` pipeline has one block, `orders`, and a model at the fake."""
    monkeypatch.setenv("CAIRN_TEST_LLM_KEY", API_KEY)
    (project.root / "cairn.yaml").write_text(provider_yaml(fake_llm.url))
    (project.root / "io_config.yaml").write_text(IO_CONFIG)
    project.pipeline("shop", {"orders.py": ORDERS})
    return project
