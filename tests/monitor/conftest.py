"""Receivers of alerts: a real SMTP server and a local HTTP server, one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alert_receivers import HTTPReceiver, SMTPReceiver


@pytest.fixture
def http() -> Iterator[HTTPReceiver]:
    receiver = HTTPReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SMTPReceiver]:
    receiver = SMTPReceiver()
    yield receiver
    receiver.stop()
