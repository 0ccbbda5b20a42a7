"""Retry policies (backoff, cap, inherited defaults) and sensor blocks, with real timing."""

from __future__ import annotations

import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest
from support import ProjectFolder, RecordingObserver

from cairn import service
from cairn.errors import CairnError
from cairn.project.pipeline import RunPolicy, load_pipeline
from cairn.store.metadata import MetadataStore


def history(project: ProjectFolder, run_id: str) -> list[tuple[str, int, str]]:
    store = MetadataStore(project.load().metadata_url)
    try:
        return [(r.block, r.attempt, r.status) for r in store.block_runs(run_id)]
    finally:
        store.close()


def failing_block(times: Path) -> str:
    """A block that notes when each of its attempts starts, then fails."""
    return f"""
        import time
        with open({str(times)!r}, "a") as _f:
            _f.write(f"{{time.monotonic()}}\\n")
        raise RuntimeError("again")
    """


def gaps(times: Path) -> list[float]:
    starts = [float(line) for line in times.read_text().split()]
    return [later - earlier for earlier, later in pairwise(starts)]


# -- retry policy ------------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "delays"), [
    (RunPolicy(retry_delay=5), [0, 5, 5, 5]),
    (RunPolicy(retry_delay=5, retry_backoff=2), [0, 5, 10, 20, 40]),
    (RunPolicy(retry_delay=5, retry_backoff=2, retry_max_delay=30), [0, 5, 10, 20, 30, 30]),
    (RunPolicy(retry_delay=5, retry_backoff=3, retry_max_delay=2), [0, 2, 2]),
    (RunPolicy(), [0, 0, 0]),
])
def test_delay_before_each_attempt(policy: RunPolicy, delays: list[float]) -> None:
    assert [policy.delay_before(n) for n in range(1, len(delays) + 1)] == delays


def test_backoff_and_cap_are_kept_between_attempts(
        project: ProjectFolder, observer: RecordingObserver, tmp_path: Path) -> None:
    growing, capped = tmp_path / "growing", tmp_path / "capped"
    project.pipeline("p", {"growing.py": failing_block(growing),
                           "capped.py": failing_block(capped)}, """
        defaults:
          retries: 3
          retry_delay: 0.2
          retry_backoff: 2
        blocks:
          - name: capped
            retry_max_delay: 0.5
    """)
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.blocks == {"growing": "failed", "capped": "failed"}
    for times, expected in ((growing, [0.2, 0.4, 0.8]), (capped, [0.2, 0.4, 0.5])):
        measured = gaps(times)
        assert len(measured) == len(expected)
        for gap, delay in zip(measured, expected, strict=True):
            assert delay <= gap < delay + 0.25, (times.name, measured)
    assert [a for b, a, _ in history(project, result.run_id) if b == "capped"] == [1, 2, 3, 4]


def test_settings_are_inherited_block_then_pipeline_then_project(
        project: ProjectFolder) -> None:
    (project.root / "cairn.yaml").write_text(
        "name: test\nblock_defaults:\n  retries: 3\n  retry_delay: 10\n  timeout: 60\n")
    project.pipeline("p", {f"{b}.py": f"{b} = 1\n" for b in "abcd"}, """
        defaults:
          retry_delay: 5
          retry_backoff: 2
        blocks:
          - a
          - name: b
            retries: 1
            retry_max_delay: 30
          - name: c
            timeout: null      # back to the built-in: no timeout
            retry_backoff: 1
    """)
    policies = load_pipeline(project.load(), "p").policies
    inherited = RunPolicy(retries=3, retry_delay=5, retry_backoff=2, timeout=60)
    assert policies == {
        "a": inherited,
        "b": RunPolicy(retries=1, retry_delay=5, retry_backoff=2, retry_max_delay=30,
                       timeout=60),
        "c": RunPolicy(retries=3, retry_delay=5, retry_backoff=1),
        "d": inherited,
    }


def test_project_defaults_apply_to_runs(project: ProjectFolder, observer: RecordingObserver,
                                        tmp_path: Path) -> None:
    (project.root / "cairn.yaml").write_text("name: test\nblock_defaults:\n  retries: 2\n")
    project.pipeline("p", {"inherits.py": failing_block(tmp_path / "inherits"),
                           "overrides.py": failing_block(tmp_path / "overrides")},
                     "blocks:\n  - name: overrides\n    retries: 0\n")
    result = service.run_pipeline(project.load(), "p", observer)
    assert sorted(history(project, result.run_id)) == [
        ("inherits", 1, "failed"), ("inherits", 2, "failed"), ("inherits", 3, "failed"),
        ("overrides", 1, "failed")]


@pytest.mark.parametrize(("cairn_yaml", "pipeline_yaml", "expected"), [
    pytest.param(None, "blocks:\n  - name: a\n    retry_backoff: 0.5\n",
                 ["pipeline.yaml:3", "blocks.0.retry_backoff: Input should be greater than or "
                  "equal to 1"], id="backoff-below-1"),
    pytest.param(None, "defaults:\n  retries: 1\n  retry_backof: 2\n",
                 ["pipeline.yaml:3", "defaults.retry_backof: Extra inputs are not permitted"],
                 id="unknown-default"),
    pytest.param(None, "defaults:\n  retry_max_delay: -1\n",
                 ["pipeline.yaml:2", "defaults.retry_max_delay: Input should be greater than "
                  "or equal to 0"], id="negative-cap"),
    pytest.param("name: test\nblock_defaults:\n  retries: -1\n", None,
                 ["cairn.yaml:3", "block_defaults.retries: Input should be greater than or "
                  "equal to 0"], id="project-default"),
    pytest.param("name: test\nblock_defaults:\n  sensor: {interval: 1, timeout: 2}\n", None,
                 ["cairn.yaml:3", "block_defaults.sensor: Extra inputs are not permitted"],
                 id="sensor-is-not-a-default"),
    pytest.param(None, "blocks:\n  - name: a\n    sensor:\n      interval: 1\n",
                 ["pipeline.yaml:3", "blocks.0.sensor.timeout: Field required"],
                 id="sensor-without-timeout"),
    pytest.param(None, "blocks:\n  - name: a\n    sensor: {interval: 1, timeout: 5, every: 2}\n",
                 ["pipeline.yaml:3", "blocks.0.sensor.every: Extra inputs are not permitted"],
                 id="unknown-sensor-key"),
    pytest.param(None, "blocks:\n  - name: a\n    sensor: {interval: 0, timeout: 5}\n",
                 ["pipeline.yaml:3", "blocks.0.sensor.interval: Input should be greater than 0"],
                 id="zero-interval"),
])
def test_bad_settings_name_file_and_line(project: ProjectFolder, cairn_yaml: str | None,
                                         pipeline_yaml: str | None,
                                         expected: list[str]) -> None:
    if cairn_yaml is not None:
        (project.root / "cairn.yaml").write_text(cairn_yaml)
    project.pipeline("p", {"a.py": "a = 1\n"}, pipeline_yaml)
    with pytest.raises(CairnError) as raised:
        service.plan(project.load(), "p")
    described = str(raised.value)
    for text in expected:
        assert text in described, described


def test_a_sql_block_cannot_be_a_sensor(project: ProjectFolder) -> None:
    project.pipeline("p", {"ready.sql": "SELECT 1 AS x\n"},
                     "blocks:\n  - name: ready\n    sensor: {interval: 1, timeout: 5}\n")
    problem, = service.plan(project.load(), "p")[1].problems
    assert problem.kind == "sql-sensor"
    assert problem.file is not None and problem.file.endswith("pipeline.yaml")


# -- sensors -----------------------------------------------------------------------------

def test_sensor_waits_for_a_file_then_downstream_runs(
        project: ProjectFolder, observer: RecordingObserver, tmp_path: Path) -> None:
    landing = tmp_path / "landing.txt"
    project.pipeline("p", {
        "landed.py": f"""
            from pathlib import Path
            _file = Path({str(landing)!r})
            landed = _file.exists()
            text = _file.read_text() if landed else ""
        """,
        "shout.py": "shout = text.upper()\n",
    }, "blocks:\n  - name: landed\n    sensor: {interval: 0.2, timeout: 20}\n")
    arrival = threading.Timer(1.0, landing.write_text, args=("hello",))
    arrival.start()
    try:
        started = time.monotonic()
        result = service.run_pipeline(project.load(), "p", observer)
        elapsed = time.monotonic() - started
    finally:
        arrival.join()
    assert result.blocks == {"landed": "success", "shout": "success"}
    assert 1.0 <= elapsed < 5
    assert service.read_output(project.load(), "p", "shout") == {"shout": "HELLO"}
    assert history(project, result.run_id) == [("landed", 1, "success"),
                                               ("shout", 1, "success")]
    polls = [line for block, stream, line in observer.lines
             if block == "landed" and stream == "log"]
    assert polls[0] == "sensor not satisfied yet (poll 1), next in 0.2 s"
    assert 3 <= len(polls) <= 7, polls  # about 1 s of polls 0.2 s apart
    log = (project.root / ".cairn" / "runs" / result.run_id / "landed.log").read_text()
    assert "[log] sensor not satisfied yet (poll 2), next in 0.2 s" in log


def test_sensor_never_satisfied_fails_after_its_timeout(
        project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "never.py": """
            from cairn import block

            @block
            def never():
                return False
        """,
        "after.py": "after = never\n",
    }, "blocks:\n  - name: never\n    retries: 1\n    sensor: {interval: 0.2, timeout: 0.5}\n")
    started = time.monotonic()
    result = service.run_pipeline(project.load(), "p", observer)
    elapsed = time.monotonic() - started
    assert result.blocks == {"never": "failed", "after": "upstream_failed"}
    assert 1.0 <= elapsed < 4  # two attempts of 0.5 s each
    failure = observer.outcomes["never"].failure
    assert failure is not None
    assert failure.message == "sensor never was not satisfied within 0.5 s"
    assert history(project, result.run_id) == [("never", 1, "failed"), ("never", 2, "failed"),
                                               ("after", 0, "upstream_failed")]
    polls = [line for block, _, line in observer.lines if block == "never"]
    # polls at 0, 0.2 and 0.4 s, and a last one as the 0.5 s end: in each attempt
    assert polls.count("sensor not satisfied yet (poll 1), next in 0.2 s") == 2
    assert polls.count("sensor not satisfied yet (poll 2), next in 0.2 s") == 2


@pytest.mark.parametrize(("source", "message"), [
    ("raise RuntimeError('source is down')\n", "RuntimeError: source is down"),
    ("ready = True\n", "sensor probe defines no 'probe'"),
])
def test_sensor_errors_fail_at_once(project: ProjectFolder, observer: RecordingObserver,
                                    source: str, message: str) -> None:
    project.pipeline("p", {"probe.py": source},
                     "blocks:\n  - name: probe\n    sensor: {interval: 0.2, timeout: 20}\n")
    started = time.monotonic()
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.blocks == {"probe": "failed"}
    assert time.monotonic() - started < 2
    failure = observer.outcomes["probe"].failure
    assert failure is not None and message in failure.message
    assert not [line for block, _, line in observer.lines if block == "probe"]


def test_block_timeout_stops_a_waiting_sensor(project: ProjectFolder,
                                              observer: RecordingObserver) -> None:
    project.pipeline("p", {"slow_probe.py": "slow_probe = False\n"},
                     "blocks:\n  - name: slow_probe\n    timeout: 0.3\n"
                     "    sensor: {interval: 30, timeout: 60}\n")
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.blocks == {"slow_probe": "failed"}
    failure = observer.outcomes["slow_probe"].failure
    assert failure is not None and failure.message == "timed out after 0.3 s"
    # The block's thread was sleeping between polls: it must have noticed the TimeoutError.
    deadline = time.monotonic() + 2
    while any(t.name == "cairn-slow_probe" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the sensor's thread is still waiting"
        time.sleep(0.05)
