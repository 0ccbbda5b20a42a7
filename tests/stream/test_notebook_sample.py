"""In the notebook, a stream's block runs on the newest messages of its source."""

from __future__ import annotations

import json
import time
from typing import Any

from support import ProjectFolder, Server

from cairn.store.metadata import MetadataStore
from cairn.store.stream_state import StreamStates

BLOCK = """
from cairn import block


@block
def big(messages):
    return [m["id"] for m in messages if m["amount"] > 150]
"""


def test_a_stream_block_runs_in_the_notebook_on_recent_messages(
        project: ProjectFolder, redis_stream: tuple[Any, str]) -> None:
    client, key = redis_stream
    (project.root / "io_config.yaml").write_text(
        "default:\n  broker:\n    kind: redis\n    url: redis://127.0.0.1:6379/0\n")
    project.pipeline("orders", {"big.py": BLOCK},
                     f"type: streaming\nsource:\n  kind: redis\n  connection: broker\n"
                     f"  topic: {key}\nsinks:\n  - table: big_orders\n")
    for n in range(1, 301):
        client.xadd(key, {"value": json.dumps({"id": n, "amount": n})})
    # The server would start the stream itself: keep it stopped, to see what the notebook does.
    StreamStates(MetadataStore(project.load().metadata_url)).desire("orders", "stopped")
    server = Server(project.root)
    try:
        with server.events("orders") as events:
            events.recv(timeout=60)
            server.http.post("/api/notebooks/orders/run", json={"block": "big"})
            deadline = time.monotonic() + 60
            while True:
                event = json.loads(events.recv(timeout=deadline - time.monotonic()))
                if event["type"] == "finished":
                    break
        assert event["state"]["status"] == "success", event
        output, = event["state"]["outputs"]
        # the newest 100 messages (201..300), all of them above 150
        assert output["repr"] == repr(list(range(201, 301)))
        assert not client.xinfo_groups(key)  # nothing consumed
    finally:
        server.stop()
