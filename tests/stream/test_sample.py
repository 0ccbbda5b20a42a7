"""A stream's blocks run outside the stream on a sample: its `sample:` file, or the
source's newest messages read without consuming them."""

from __future__ import annotations

import json
from typing import Any

from support import CLI, ProjectFolder

from cairn import service
from cairn.stream.sample import sample_variables

BLOCK = """
from cairn import block


@block
def totals(messages):
    return [{"id": m["id"], "total": m["amount"] * 2} for m in messages]
"""


def _pipeline(project: ProjectFolder, source: str) -> None:
    project.pipeline("orders", {"totals.py": BLOCK}, "type: streaming\nsource:\n" + source
                     + "sinks:\n  - table: order_totals\n")


def test_cairn_run_gives_the_blocks_the_sample_file(project: ProjectFolder,
                                                    cli: type[CLI]) -> None:
    _pipeline(project, "  kind: webhook\n  sample: sample.jsonl\n")
    lines = [json.dumps({"id": n, "amount": n}) for n in range(1, 6)]
    (project.root / "pipelines" / "orders" / "sample.jsonl").write_text("\n".join(lines))
    ran = cli.run("run", "orders", cwd=project.root)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    shown = cli.run("show", "orders", "totals", cwd=project.root)
    assert shown.stdout.strip() == str([{"id": n, "total": 2 * n} for n in range(1, 6)])


def test_the_sample_of_a_redis_stream_does_not_consume(
        project: ProjectFolder, redis_stream: tuple[Any, str]) -> None:
    client, key = redis_stream
    (project.root / "io_config.yaml").write_text(
        "default:\n  broker:\n    kind: redis\n    url: redis://127.0.0.1:6379/0\n")
    _pipeline(project, f"  kind: redis\n  connection: broker\n  topic: {key}\n")
    for n in range(1, 201):
        client.xadd(key, {"value": json.dumps({"id": n, "amount": n})})
    pipeline, _ = service.plan(project.load(), "orders")
    variables = sample_variables(project.load(), pipeline, size=50)
    assert [m["id"] for m in variables["messages"]] == list(range(151, 201))
    assert client.exists(key) and not client.xinfo_groups(key)  # no group joined
