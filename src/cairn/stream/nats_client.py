"""A NATS connection for a stream's source or sink: the asyncio client on a loop in a
thread of its own, called from the stream's synchronous loop, and the stream a subject
is stored in."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from cairn.errors import CairnError, Problem
from cairn.io.connection import Connection
from cairn.stream.ports import StreamScope

_T = TypeVar("_T")
_log = logging.getLogger(__name__)
TIMEOUT = 30.0  # seconds a call to the server may take beyond its own wait
_CONNECT_WAIT = 10.0


class Session:
    """A NATS connection and the asyncio loop it lives on, in a daemon thread of its own,
    so the stream's synchronous loop can call into it."""

    def __init__(self, connection: Connection | None, scope: StreamScope, role: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"cairn-nats-{role}-{scope.pipeline}")
        self._thread.start()
        try:
            self.client = self.run(_connect(connection, scope))
        except BaseException:
            self._stop()
            raise
        self.js = self.client.jetstream(timeout=TIMEOUT)

    def run(self, work: Coroutine[Any, Any, _T], wait: float = 0.0) -> _T:
        """The result of `work` run on the loop, given `wait` seconds beyond the usual."""
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(wait + TIMEOUT)
        except TimeoutError:
            if future.done():  # the work's own timeout (the same class), not ours
                raise
            future.cancel()
            raise CairnError(Problem("broker-timeout", f"NATS did not answer within "
                                     f"{wait + TIMEOUT:.0f} s")) from None

    def close(self, first: Coroutine[Any, Any, None] | None = None) -> None:
        """Run `first` (a last word to the server), then disconnect and end the loop."""
        try:
            if first is not None:
                self.run(first)
        finally:
            try:
                self.run(self.client.close())
            finally:
                self._stop()

    def _stop(self) -> None:
        self.run(_cancel_tasks())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _cancel_tasks() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _connect(connection: Connection | None, scope: StreamScope) -> Client:
    assert connection is not None
    last: list[Exception] = []

    async def noted(error: Exception) -> None:
        last[:] = [error]
        _log.warning("NATS (connection %s): %s", connection.name, error)

    options = {"name": f"cairn-{scope.pipeline}", "error_cb": noted,
               **(connection.settings.get("options") or {})}
    try:
        # The client retries a server that refuses for minutes; a stream should fail fast.
        return await asyncio.wait_for(nats.connect(servers=[connection.settings["url"]],
                                                   **options), _CONNECT_WAIT)
    except (OSError, TimeoutError, nats.errors.Error) as error:
        reason = last[-1] if last else error
        raise CairnError(Problem(
            "broker-unreachable", f"cannot connect to NATS (connection {connection.name!r}): "
            f"{reason or type(reason).__name__}",
            hint="check the connection's url in io_config.yaml and that the server is up "
                 "with JetStream enabled (-js)")) from None


async def stream_for(js: JetStreamContext, subject: str, options: dict[str, Any]) -> str:
    """The stream holding the subject; created, named after the subject, if none does."""
    name = options.get("stream")
    try:
        if name:
            await js.stream_info(name)
            return str(name)
        return await js.find_stream_name_by_subject(subject)
    except nats.js.errors.NotFoundError:
        if not options.get("create_stream", True):
            what = f"named {name}" if name else f"holds subject {subject}"
            raise CairnError(Problem(
                "unknown-stream", f"no JetStream stream {what}",
                hint="create the stream, or leave out `create_stream: false`")) from None
    name = name or re.sub(r"[^A-Za-z0-9_-]", "_", subject)
    await js.add_stream(name=name, subjects=[subject])
    return str(name)
