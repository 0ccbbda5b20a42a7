"""A local S3 for tests: moto's server in a subprocess, a bucket on it, and the `s3` fixture."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Dummy credentials, and no proxy between botocore and the local server.
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
_START_TIMEOUT = 15.0


@dataclass(frozen=True)
class S3:
    """A bucket on the local S3 server, and the storage options that reach it."""

    endpoint_url: str
    bucket: str

    @property
    def options(self) -> dict[str, str]:
        return {"endpoint_url": self.endpoint_url}

    def folder(self) -> str:
        """A fresh prefix in the bucket, so tests never see each other's files."""
        return f"s3://{self.bucket}/{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start(executable: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:  # a file, not a pipe: moto logs every request
        return subprocess.Popen([str(executable), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=output, stderr=subprocess.STDOUT)


def wait_until_up(process: subprocess.Popen[bytes], url: str) -> str | None:
    """None once the server answers HTTP, else why it did not."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"moto_server exited with status {process.returncode}"
        try:
            with direct.open(url, timeout=1):
                return None
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    return f"moto_server did not answer at {url} within {_START_TIMEOUT:.0f} s"


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def create_bucket(endpoint_url: str) -> str:
    import s3fs

    bucket = f"cairn-test-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=endpoint_url, skip_instance_cache=True).mkdir(bucket)
    return bucket


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    """moto_server on a free port with a fresh bucket; skips the S3 tests, saying why, if it
    cannot start. (Not in tests/io/conftest.py: that would shadow the `conftest` module
    other tests import from.)"""
    executable = Path(sys.executable).parent / "moto_server"
    if not executable.exists():
        pytest.skip(f"S3 tests need moto_server next to {sys.executable}: install cairn[test]")
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        process = start(executable, port, log)
        try:
            failure = wait_until_up(process, endpoint)
            if failure is not None:
                pytest.skip(f"S3 tests need a local moto server: {failure}; "
                            f"end of its log: {log.read_text()[-500:]!r}")
            yield S3(endpoint, create_bucket(endpoint))
        finally:
            stop(process)
