"""`log_format: json` (or `--log-format json`): `cairn run`, the scheduler and the server
print one JSON object per line, for log shippers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from support import CLI, ProjectFolder, Server

BLOCKS = {
    "a.py": "print('hello from a')\na = 1\n",
    "b.py": "import sys\nfrom pathlib import Path\nprint('about to fail', file=sys.stderr)\n"
            "if not Path('fixed').exists():\n    raise ValueError('boom')\nb = a\n",
    "c.py": "c = b + 1\n",
}


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_run_logs_json_lines(project: ProjectFolder, cli: type[CLI]) -> None:
    (project.root / "cairn.yaml").write_text("name: test\nlog_format: json\n")
    project.pipeline("p", BLOCKS)
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 1, result.stderr
    events = _lines(result.stdout)
    run_id = events[0]["run_id"]
    assert [e["event"] for e in (events[0], events[-1])] == ["run_started", "run_finished"]
    assert all(e["pipeline"] == "p" and e["run_id"] == run_id for e in events)
    assert all({"timestamp", "level", "event", "message"} <= e.keys() for e in events)
    assert events[0]["timestamp"].endswith("Z")
    assert {"event": "block_output", "block": "a", "stream": "stdout",
            "message": "hello from a", "level": "info"}.items() <= next(
        e for e in events if e.get("block") == "a" and e["event"] == "block_output").items()
    assert any(e.get("stream") == "stderr" and e["level"] == "warning"
               and e["message"] == "about to fail" for e in events)
    finished = {e["block"]: e for e in events if e["event"] == "block_finished"}
    assert finished["a"]["status"] == "success" and finished["a"]["duration_s"] >= 0
    assert finished["b"]["level"] == "error" and "ValueError: boom" in finished["b"]["error"]
    assert finished["c"]["status"] == "upstream_failed" and "attempt" not in finished["c"]
    assert events[-1]["status"] == "failed"
    assert events[-1]["blocks"] == {"a": "success", "b": "failed", "c": "upstream_failed"}

    # --log-format overrides cairn.yaml; a resumed run's lines carry its id.
    (project.root / "fixed").write_text("")
    (project.root / "cairn.yaml").write_text("name: test\n")
    assert "Run summary" in cli.run("run", "p", cwd=project.root, check=True).stdout
    resumed = cli.run("--log-format", "json", "run", "p", "--resume", run_id,
                      cwd=project.root, check=True)
    events = _lines(resumed.stdout)
    assert {e["run_id"] for e in events} == {run_id}
    assert events[0]["resumed"] is True and events[-1]["status"] == "success"


def test_scheduler_and_server_log_json_lines(project: ProjectFolder, tmp_path: Path) -> None:
    (project.root / "cairn.yaml").write_text("name: test\nlog_format: json\n")
    project.pipeline("broken", {"x.py": "x = 1\n"}, "triggers: [{name: t, every: nope}]\n")
    server = Server(project.root)
    log = tmp_path / "server.log"
    try:
        assert server.http.get("/api/runs").status_code == 200
        deadline = time.monotonic() + 60
        while "pipeline.yaml" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        server.stop()
    records = _lines(log.read_text())
    assert records[0]["logger"] == "cairn.server" and "serving" in records[0]["message"]
    warning = next(r for r in records if "pipeline.yaml" in r["message"])
    assert warning["logger"] == "cairn.scheduler" and warning["level"] == "warning"
