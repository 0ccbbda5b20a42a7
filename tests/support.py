"""Helpers for tests: throwaway projects, a run observer, and the real `cairn` command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from cairn.ids import BlockName
from cairn.project.config import Project, find_project
from cairn.runtime.runner import Outcome

# Screenshots and other files tests leave for people to look at.
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"


@dataclass
class ProjectFolder:
    root: Path

    def pipeline(self, name: str, blocks: Mapping[str, str], settings: str | None = None,
                 ) -> Path:
        """Write a pipeline's block files (name -> source, dedented) and pipeline.yaml."""
        folder = self.root / "pipelines" / name
        folder.mkdir(parents=True, exist_ok=True)
        for filename, source in blocks.items():
            (folder / filename).write_text(textwrap.dedent(source).lstrip("\n"))
        if settings is not None:
            (folder / "pipeline.yaml").write_text(textwrap.dedent(settings).lstrip("\n"))
        return folder

    def load(self) -> Project:
        return find_project(self.root)


class RecordingObserver:
    """Remembers what a run reported, for assertions."""

    def __init__(self) -> None:
        self.started: list[tuple[BlockName, int]] = []
        self.lines: list[tuple[BlockName, str, str]] = []
        self.outcomes: dict[BlockName, Outcome] = {}

    def block_started(self, block: BlockName, attempt: int) -> None:
        self.started.append((block, attempt))

    def block_output(self, block: BlockName, stream: str, line: str) -> None:
        self.lines.append((block, stream, line))

    def block_finished(self, block: BlockName, outcome: Outcome) -> None:
        self.outcomes[block] = outcome


def cairn(*args: str, cwd: Path, check: bool | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    result = subprocess.run([sys.executable, "-m", "cairn", *args], cwd=cwd, text=True,
                            capture_output=True, timeout=timeout)
    if check is True:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


class CLI:
    """`cli.run(...)` in tests: the `cairn` helper as a fixture."""

    run = staticmethod(cairn)


def wait_until(condition: Callable[[], bool], what: str = "", timeout: float = 30) -> None:
    """Poll `condition` until it holds; fail saying what did not happen in time."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)


def waiting_block(started: Path, release: Path, defines: str) -> str:
    """A Python block's source: it marks `started`, waits for `release`, then runs the line
    `defines`, so a test can act while the block is running."""
    return f"""
        import time
        from pathlib import Path
        Path({str(started)!r}).touch()
        while not Path({str(release)!r}).exists():
            time.sleep(0.05)
        {defines}
    """


def kill_run_mid_block(root: Path, started: Path) -> None:
    """Start `cairn run p` in project `root` and SIGKILL it once `started` exists."""
    process = subprocess.Popen([sys.executable, "-m", "cairn", "run", "p"], cwd=root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(started.exists, f"{started} to appear", timeout=60)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def stream_pids(root: Path) -> list[int]:
    """The `cairn stream` processes of this project alive now (zombies left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"stream" in words and str(root).encode() in words:
            found.append(int(entry.name))
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    def __init__(self, root: Path, token: str | None = None, *options: str) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.token = token
        command = [sys.executable, "-m", "cairn", "serve", "--port", str(self.port),
                   "--project", str(root), *options]
        env = {**os.environ, **({"CAIRN_TOKEN": token} if token else {})}
        self.log = open(root.parent / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.base, headers=headers, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.base + "/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)

    def events(self, pipeline: str) -> Any:
        suffix = f"?token={self.token}" if self.token else ""
        return connect(f"ws://127.0.0.1:{self.port}/api/notebooks/{pipeline}/ws{suffix}")

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()
