"""A stream that stops on an error alerts like a failed run."""

from __future__ import annotations

import json
import textwrap

import pytest
from alert_receivers import HTTPReceiver
from support import ProjectFolder, free_port

from cairn.errors import CairnError
from cairn.project.config import find_project
from cairn.stream.process import run_stream


def test_a_failed_stream_sends_its_error(project: ProjectFolder, http: HTTPReceiver) -> None:
    (project.root / "cairn.yaml").write_text(textwrap.dedent(f"""\
        name: test
        alerts:
          channels:
            hook: {{kind: webhook, url: "{http.url}/hook"}}
          routes:
            - channels: [hook]
        """))
    (project.root / "io_config.yaml").write_text(
        "default:\n  down:\n    kind: postgres\n"
        f"    url: postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test\n")
    inbox = project.root / "incoming"
    inbox.mkdir()
    (inbox / "a.jsonl").write_text(json.dumps({"id": 1}) + "\n")
    project.pipeline("feed", {}, textwrap.dedent("""\
        type: streaming
        source: {kind: files, url: incoming, options: {settle_seconds: 0}}
        sinks:
          - {connection: down, table: rows}
        """))

    with pytest.raises(CairnError, match="stream feed stopped: OperationalError"):
        run_stream(find_project(project.root), "feed", stop_when_idle=5)

    sent, = [json.loads(r.body) for r in http.requests if r.path == "/hook"]
    assert sent["event"] == "failure" and sent["pipeline"] == "feed"
    assert "OperationalError" in json.dumps(sent)
