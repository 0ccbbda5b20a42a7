"""Every operation of the OpenAPI description, fuzzed with the token: no server errors.

Schemathesis generates requests from /openapi.json (valid ones and ones that break the
schema); a few dozen per operation, derandomized, so a run is bounded and repeatable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core import NotSet
from support import ProjectFolder, Server

TOKEN = "fuzz-token"
EXAMPLES = 15  # per operation and mode: about 1,100 requests, under a minute on two cores
# A pipeline whose blocks are real; the generator rarely hits its name, and then the
# notebook and run calls start real workers and runs.
PIPELINE = "sales_daily_fuzz"


@pytest.fixture
def server(project: ProjectFolder) -> Iterator[Server]:
    project.pipeline(PIPELINE, {"numbers.py": "numbers = [1, 2]\n"})
    running = Server(project.root, token=TOKEN)
    yield running
    running.stop()


def test_no_server_errors_anywhere(server: Server) -> None:
    schema = schemathesis.openapi.from_url(server.base + "/openapi.json")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    errors: list[str] = []
    calls = 0

    def call(case: Any) -> None:
        nonlocal calls
        response = case.call(base_url=server.base, headers=headers)
        calls += 1
        if response.status_code >= 500:
            body = "" if isinstance(case.body, NotSet) else repr(case.body)[:200]
            errors.append(f"{case.method} {case.formatted_path} {case.query or ''} {body} "
                          f"-> {response.status_code} {response.text[:200]}")

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            _explore(operation.as_strategy(generation_mode=mode), call)
    assert calls > 800  # every operation was reached
    assert errors == [], f"{len(errors)} server errors in {calls} requests:\n" + "\n".join(
        errors[:40])


def _explore(strategy: Any, call: Any) -> None:
    """`call` on a bounded, repeatable sample of `strategy`'s cases."""

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              # errors are collected, not raised: nothing to shrink or explain
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def explore(case: Any) -> None:
        call(case)

    # Negative mode has nothing to break in an operation without parameters or body.
    with contextlib.suppress(Unsatisfiable):
        explore()
