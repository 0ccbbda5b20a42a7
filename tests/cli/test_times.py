"""Times shown in one format: ISO 8601 in the viewer's zone, the zone named."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from support import ProjectFolder

from cairn.times import shown, zone_name


@pytest.fixture
def local_zone() -> Iterator[None]:
    """Lets a test set TZ for this process; restores the zone afterwards."""
    before = os.environ.get("TZ")
    yield
    if before is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.mark.parametrize(("zone", "expected"), [
    ("UTC", "2026-12-04 15:32:49 UTC"),
    ("Europe/Paris", "2026-12-04 16:32:49 +01:00"),
    ("America/St_Johns", "2026-12-04 12:02:49 -03:30"),
    ("Asia/Kolkata", "2026-12-04 21:02:49 +05:30"),
])
def test_stored_utc_is_shown_in_the_local_zone(local_zone: None, zone: str,
                                               expected: str) -> None:
    os.environ["TZ"] = zone
    time.tzset()
    assert shown(datetime(2026, 12, 4, 15, 32, 49)) == expected  # naive: stored UTC
    assert shown(datetime(2026, 12, 4, 15, 32, 49, tzinfo=UTC)) == expected
    assert shown(None) == ""


def test_zone_names() -> None:
    assert zone_name(None) == "UTC"
    assert zone_name(timedelta(0)) == "UTC"
    assert zone_name(timedelta(hours=-5)) == "-05:00"


def test_cli_lists_runs_in_the_local_zone(project: ProjectFolder) -> None:
    project.pipeline("p", {"x.py": "x = 1\n"})
    env = {**os.environ, "TZ": "Asia/Kolkata"}
    command = [sys.executable, "-m", "cairn"]
    subprocess.run([*command, "run", "p"], cwd=project.root, env=env, check=True,
                   capture_output=True)
    listed = subprocess.run([*command, "runs"], cwd=project.root, env=env, check=True,
                            capture_output=True, text=True).stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+05:30", listed), listed
    assert "(UTC)" not in listed
