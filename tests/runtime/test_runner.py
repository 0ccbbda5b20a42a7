"""Running pipelines in-process: order, failures, retries, timeouts, logs, selections."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ProjectFolder, RecordingObserver

from cairn import service
from cairn.errors import CairnError
from cairn.store.metadata import MetadataStore


def history(project: ProjectFolder, run_id: str) -> list[tuple[str, int, str]]:
    store = MetadataStore(project.load().metadata_url)
    try:
        return [(r.block, r.attempt, r.status) for r in store.block_runs(run_id)]
    finally:
        store.close()


def test_values_flow_between_both_styles(project: ProjectFolder,
                                         observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "numbers.py": "numbers = list(range(5))\n_scratch = 1\n",
        "doubled.py": """
            from cairn import block

            @block
            def doubled(numbers, factor):
                return [n * factor for n in numbers]
        """,
        "total.py": "total = sum(doubled)\n",
    }, "variables:\n  factor: 2\n")
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success"
    assert service.read_output(project.load(), "p", "total") == {"total": 20}
    assert service.read_output(project.load(), "p", "numbers") == {"numbers": [0, 1, 2, 3, 4]}

    again = service.run_pipeline(project.load(), "p", observer, variables={"factor": 10})
    assert again.status == "success"
    assert service.read_output(project.load(), "p", "total") == {"total": 100}
    # the first run's output is still there, tied to its run
    assert service.read_output(project.load(), "p", "total", run_id=result.run_id) == {
        "total": 20}


def test_failure_skips_downstream_but_not_independent_branches(
        project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "a.py": "a = 1\n",
        "broken.py": "x = a\ny = 1 / 0\n",
        "after.py": "z = y + 1\n",
        "other.py": "w = a + 1\n",
    })
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "failed"
    assert result.blocks == {"a": "success", "broken": "failed", "after": "upstream_failed",
                             "other": "success"}
    failure = observer.outcomes["broken"].failure
    assert failure is not None
    assert failure.line == 2 and failure.file is not None and failure.file.endswith("broken.py")
    assert "ZeroDivisionError: division by zero" in failure.message
    assert "y = 1 / 0" in failure.traceback
    assert "cairn/runtime" not in failure.traceback  # only the user's frames
    assert "broken" in (observer.outcomes["after"].failure.message
                        if observer.outcomes["after"].failure else "")
    assert ("after", 0, "upstream_failed") in history(project, result.run_id)


def test_block_tests_run_against_outputs(project: ProjectFolder,
                                         observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "good.py": """
            rows = [1, 2, 3]

            def test_three_rows():
                assert len(rows) == 3
        """,
        "bad.py": """
            from cairn import block

            @block
            def bad(rows):
                return max(rows)

            def test_small(value):
                assert value < 3, f"max is {value}"
        """,
    })
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.blocks == {"good": "success", "bad": "failed"}
    failure = observer.outcomes["bad"].failure
    assert failure is not None
    assert failure.message == "block test test_small failed: max is 3"
    assert failure.line == 8


def test_retries_until_success(project: ProjectFolder, observer: RecordingObserver,
                               tmp_path: Path) -> None:
    counter = tmp_path / "attempts"
    project.pipeline("p", {
        "flaky.py": f"""
            from pathlib import Path
            _file = Path({str(counter)!r})
            _file.write_text(_file.read_text() + "x" if _file.exists() else "x")
            if len(_file.read_text()) < 3:
                raise RuntimeError("not yet")
            done = True
        """,
    }, "blocks:\n  - name: flaky\n    retries: 2\n")
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success"
    assert observer.started == [("flaky", 1), ("flaky", 2), ("flaky", 3)]
    assert history(project, result.run_id) == [("flaky", 1, "failed"), ("flaky", 2, "failed"),
                                               ("flaky", 3, "success")]


def test_timeout_fails_the_block(project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "slow.py": """
            import time
            _end = time.monotonic() + 30
            while time.monotonic() < _end:
                time.sleep(0.01)
            finished = True
        """,
        "quick.py": "quick = 1\n",
    }, "blocks:\n  - name: slow\n    timeout: 0.5\n")
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.blocks == {"slow": "failed", "quick": "success"}
    failure = observer.outcomes["slow"].failure
    assert failure is not None and "timed out after 0.5 s" in failure.message
    assert history(project, result.run_id)[0] == ("slow", 1, "failed")


def test_output_and_logging_are_kept_per_block(project: ProjectFolder,
                                               observer: RecordingObserver) -> None:
    blocks = {
        f"b{i}.py": f"""
            import logging, sys, time
            for _n in range(20):
                print("from b{i}", _n)
                time.sleep(0.001)
            print("warning b{i}", file=sys.stderr)
            logging.getLogger("user").info("logged by b{i}")
            context.logger.warning("context logger b{i}")
            v{i} = {i}
        """
        for i in range(3)
    }
    project.pipeline("p", blocks)
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success"
    for i in range(3):
        mine = [(stream, line) for block, stream, line in observer.lines if block == f"b{i}"]
        assert [line for stream, line in mine if stream == "stdout"] == [
            f"from b{i} {n}" for n in range(20)]
        assert ("stderr", f"warning b{i}") in mine
        assert ("log", f"INFO user: logged by b{i}") in mine
        assert ("log", f"WARNING cairn.block.p.b{i}: context logger b{i}") in mine
        log = (project.root / ".cairn" / "runs" / result.run_id / f"b{i}.log").read_text()
        assert f"from b{i} 19" in log and f"from b{(i + 1) % 3} " not in log


def test_context_is_available(project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "info.py": "info = (context.run_id, context.pipeline, context.block, "
                   "context.var('day'), context.execution_date.year)\n",
    }, "variables:\n  day: monday\n")
    result = service.run_pipeline(project.load(), "p", observer)
    (run_id, pipeline, block, day, year), = service.read_output(
        project.load(), "p", "info").values()
    assert (run_id, pipeline, block, day) == (result.run_id, "p", "info", "monday")
    assert year >= 2024


def test_selected_blocks_reuse_earlier_outputs(project: ProjectFolder,
                                               observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "a.py": "a = 1\n",
        "b.py": "b = a + 1\n",
        "c.py": "c = b + 1\n",
    })
    with pytest.raises(CairnError, match="has no block 'bb'"):
        service.run_pipeline(project.load(), "p", observer, blocks=["bb"])
    first = service.run_pipeline(project.load(), "p", observer, blocks=["b"])
    assert first.blocks == {"b": "failed"}  # a never ran: nothing to read
    failure = observer.outcomes["b"].failure
    assert failure is not None and "upstream block a has not run" in failure.message

    up = service.run_pipeline(project.load(), "p", observer, blocks=["b"], upstream=True)
    assert up.blocks == {"a": "success", "b": "success"}
    down = service.run_pipeline(project.load(), "p", observer, blocks=["b"], downstream=True)
    assert down.blocks == {"b": "success", "c": "success"}
    assert service.read_output(project.load(), "p", "c") == {"c": 3}


def test_independent_blocks_run_concurrently(project: ProjectFolder,
                                             observer: RecordingObserver) -> None:
    import time

    blocks = {f"s{i}.py": f"import time\ntime.sleep(0.5)\ns{i} = {i}\n" for i in range(4)}
    project.pipeline("p", blocks)
    started = time.perf_counter()
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success"
    assert time.perf_counter() - started < 1.9  # four 0.5 s blocks, max_parallel 4


def test_problems_stop_the_run_before_it_starts(project: ProjectFolder,
                                                observer: RecordingObserver) -> None:
    project.pipeline("p", {"a.py": "x = 1\n", "b.py": "x = 2\n"})
    with pytest.raises(CairnError) as raised:
        service.run_pipeline(project.load(), "p", observer)
    problem, = raised.value.problems
    assert problem.kind == "multiple-definitions"
    assert "a.py:1" in problem.message and "b.py:1" in problem.message
    assert not (project.root / ".cairn" / "runs").exists()


def test_relative_paths_are_relative_to_the_project(project: ProjectFolder,
                                                     observer: RecordingObserver,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (project.root / "data.txt").write_text("hello")
    project.pipeline("p", {"read.py": """
        from pathlib import Path
        text = Path("data.txt").read_text()
    """})
    monkeypatch.chdir(tmp_path)
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    assert service.read_output(project.load(), "p", "read") == {"text": "hello"}
    assert Path.cwd() == tmp_path
