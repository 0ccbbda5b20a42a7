"""The server's side of a notebook: its worker process, requests to it, and the events it
sends, fanned out to every WebSocket watching that notebook."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import threading
from concurrent.futures import Future
from typing import Any

from cairn.project.config import Project

_REPLY_SECONDS = 30
_SPAWN = multiprocessing.get_context("spawn")  # a clean interpreter: no server state inside


class WorkerGone(Exception):
    """The worker process ended; the notebook must be restarted."""


class NotebookSession:
    """One pipeline's worker process and the listeners of its events."""

    def __init__(self, project: Project, pipeline: str, loop: asyncio.AbstractEventLoop) -> None:
        self.project = project
        self.pipeline = pipeline
        self.loop = loop
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.status = "starting"
        self.dead_message: str | None = None
        self._pending: dict[int, Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        from cairn.notebook.worker import main

        self._pipe, child = _SPAWN.Pipe()
        self.process = _SPAWN.Process(
            target=main, args=(child, str(self.project.root), self.project.profile,
                               self.pipeline),
            name=f"cairn-notebook-{self.pipeline}", daemon=True)
        self.process.start()
        child.close()
        self.status, self.dead_message = "starting", None
        threading.Thread(target=self._read, args=(self._pipe, self.process), daemon=True,
                         name=f"cairn-notebook-reader-{self.pipeline}").start()

    def _read(self, pipe: Any, process: Any) -> None:
        while True:
            try:
                message = pipe.recv()
            except (EOFError, OSError):
                break
            if message.get("type") == "reply":
                future = self._pending.pop(message.get("id"), None)
                if future is not None:
                    future.set_result(message)
                continue
            if message.get("type") == "worker":
                self.status = message["worker"]
            elif message.get("type") == "started":
                self.status = "running"
            elif message.get("type") == "state":
                self.status = message["state"]["worker"]
            self._publish(message)
        if process is not self.process:
            return  # an old worker, already replaced by restart()
        process.join(timeout=5)
        self.status = "dead"
        self.dead_message = f"the worker process ended (exit code {process.exitcode})"
        for future in self._pending.values():
            future.set_exception(WorkerGone(self.dead_message))
        self._pending.clear()
        self._publish({"type": "worker", "worker": "dead", "message": self.dead_message})

    def _publish(self, event: dict[str, Any]) -> None:
        for queue in list(self.listeners):
            self.loop.call_soon_threadsafe(queue.put_nowait, event)

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        """Send a command and wait for the worker's reply (blocking: call it in a thread)."""
        if self.status == "dead":
            raise WorkerGone(self.dead_message or "the worker process ended")
        key = next(self._ids)
        future: Future[dict[str, Any]] = Future()
        self._pending[key] = future
        with self._send_lock:
            self._pipe.send({"id": key, "command": command, **arguments})
        return future.result(timeout=_REPLY_SECONDS)

    def restart(self) -> None:
        self.stop()
        self._start()
        self._publish({"type": "worker", "worker": "starting", "message": None})

    def stop(self) -> None:
        process = self.process
        self.process = None  # type: ignore[assignment]  # the reader sees it was replaced
        self._pipe.close()
        if process.is_alive():
            process.kill()
        process.join(timeout=5)


class Notebooks:
    """The notebooks the server has open, one per pipeline, started on first use."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.sessions: dict[str, NotebookSession] = {}
        self._lock = threading.Lock()

    def get(self, pipeline: str) -> NotebookSession:
        self.project.pipeline_dir(pipeline)  # an unknown pipeline is an error, not a worker
        with self._lock:
            if pipeline not in self.sessions:
                self.sessions[pipeline] = NotebookSession(self.project, pipeline,
                                                          asyncio.get_running_loop())
            return self.sessions[pipeline]

    def close(self) -> None:
        for session in self.sessions.values():
            session.stop()
