"""What `cairn scheduler` and `cairn serve` tell their operator: a line per scheduled run
started and ended (pipeline, run id, trigger, duration, failed blocks), as text or JSON, and
a clear refusal of a busy port before anything claims to serve."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from support import ProjectFolder, free_port, wait_until

from cairn.server.port import port_refusal

TRIGGER = "triggers:\n  - name: tick\n    interval: 1s\n"


def scheduled_pipelines(project: ProjectFolder) -> None:
    project.pipeline("good", {"fine.py": "fine = 1\n"}, TRIGGER)
    project.pipeline("bad", {"fine.py": "fine = 1\n",
                             "boom.py": "boom = fine / 0\n"}, TRIGGER)


def run_scheduler_until(project: ProjectFolder, log: Path, done: Any) -> str:
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "cairn", "scheduler", "--tick", "0.2", "--project",
             str(project.root)], stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: done(log.read_text()), "the scheduler's lines", timeout=90)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    return log.read_text()


def test_scheduled_runs_are_announced_on_the_terminal(project: ProjectFolder,
                                                      tmp_path: Path) -> None:
    scheduled_pipelines(project)
    finished = re.compile(r"run (\S+) of good finished in [\d.]+ s \(trigger tick\)")
    failed = re.compile(r"run (\S+) of bad failed in [\d.]+ s \(trigger tick\): "
                        r"failed blocks boom")
    output = run_scheduler_until(project, tmp_path / "scheduler.log",
                                 lambda text: finished.search(text) and failed.search(text))
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (UTC|[+-]\d\d:\d\d) scheduler: "
    good = finished.search(output)
    assert good is not None
    assert re.search(stamp + f"run {good.group(1)} of good started \\(trigger tick\\)", output)
    assert re.search(stamp + re.escape(good.group(0)), output), output
    assert "Traceback" not in output


def test_scheduled_runs_as_json_lines(project: ProjectFolder, tmp_path: Path) -> None:
    (project.root / "cairn.yaml").write_text("name: test\nlog_format: json\n")
    scheduled_pipelines(project)

    def records(text: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def ended(text: str) -> dict[str, dict[str, Any]]:
        return {r["pipeline"]: r for r in records(text) if r["event"] == "run_finished"}

    output = run_scheduler_until(project, tmp_path / "scheduler.log",
                                 lambda text: set(ended(text)) == {"good", "bad"})
    bad, good = ended(output)["bad"], ended(output)["good"]
    assert (bad["status"], bad["level"], bad["failed_blocks"], bad["trigger"]) == (
        "failed", "warning", ["boom"], "tick")
    assert good["status"] == "success" and "failed_blocks" not in good
    assert isinstance(good["duration_s"], float) and good["logger"] == "cairn.scheduler"
    started = [r for r in records(output) if r["event"] == "run_started"]
    assert {"pipeline": "good", "run_id": good["run_id"], "trigger": "tick"}.items() <= next(
        r for r in started if r["run_id"] == good["run_id"]).items()


def test_a_busy_port_is_refused_before_serving(project: ProjectFolder) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "cairn", "serve", "--port", str(port), "--project",
             str(project.root)], capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"port {port} is in use (by pid {os.getpid()}); use --port" in output, output
    assert "serves" not in output and "Traceback" not in output


def test_a_free_port_is_not_refused() -> None:
    assert port_refusal("127.0.0.1", free_port()) is None
