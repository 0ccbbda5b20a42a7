"""The `s3` fixture: a local S3 server (moto) with a fresh bucket, one per test session."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3_server
from s3_server import S3


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    """Start moto_server on a free port; skip the S3 tests, saying why, if it cannot start."""
    executable = Path(sys.executable).parent / "moto_server"
    if not executable.exists():
        pytest.skip(f"S3 tests need moto_server next to {sys.executable}: install cairn[test]")
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    port = s3_server.free_port()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in s3_server.ENVIRONMENT.items():
            patch.setenv(name, value)
        process = s3_server.start(executable, port, log)
        try:
            failure = s3_server.wait_until_up(process, f"http://127.0.0.1:{port}")
            if failure is not None:
                pytest.skip(f"S3 tests need a local moto server: {failure}; "
                            f"end of its log: {log.read_text()[-500:]!r}")
            endpoint = f"http://127.0.0.1:{port}"
            yield S3(endpoint, s3_server.create_bucket(endpoint))
        finally:
            s3_server.stop(process)
