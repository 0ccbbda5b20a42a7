"""Fan-out: a mapped block runs once per item of its fan-out parents; its downstream gets
the ordered list; a failed item is retried alone by --resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import CLI, ProjectFolder, RecordingObserver

from cairn import service
from cairn.store.metadata import MetadataStore

SETTINGS = """
variables: {offset: 100}
blocks:
  - {name: numbers, fan_out: true}
  - {name: square, map: zip}
"""


def test_mapped_block_runs_per_item(project: ProjectFolder,
                                    observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "numbers.py": "numbers = [1, 2, 3, 4]\n",
        "base.py": "base = 10\n",
        "square.py": """
            from cairn import block

            @block
            def square(numbers, base, offset):
                print("item", numbers)
                return numbers ** 2 + base + offset
        """,
        "total.py": "total = sum(square)\n",
    }, SETTINGS)
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success", {b: o.failure for b, o in observer.outcomes.items()}
    assert service.read_output(project.load(), "p", "square") == {
        "square": [111, 114, 119, 126]}
    assert service.read_output(project.load(), "p", "total") == {"total": 470}
    assert ("square[2]", "stdout", "item 3") in observer.lines
    store = MetadataStore(project.load().metadata_url)
    try:
        blocks = [(r.block, r.status) for r in store.block_runs(result.run_id)]
    finally:
        store.close()
    assert {f"square[{i}]" for i in range(4)} <= {b for b, _ in blocks}
    assert ("square", "success") in blocks


def test_a_failed_item_is_retried_alone(project: ProjectFolder, cli: type[CLI],
                                        tmp_path: Path) -> None:
    ran, fixed = tmp_path / "ran", tmp_path / "fixed"
    project.pipeline("p", {
        "numbers.py": "numbers = [1, 2, 3]\n",
        "square.py": f"""
            from pathlib import Path
            with open({str(ran)!r}, "a") as _log:
                _log.write(str(numbers))
            if numbers == 2 and not Path({str(fixed)!r}).exists():
                raise ValueError("cannot square 2 yet")
            square = numbers ** 2
        """,
        "total.py": "total = sum(square)\n",
    }, SETTINGS)
    first = cli.run("run", "p", cwd=project.root)
    assert first.returncode == 1
    assert "1 of 3 items failed: square[1]" in first.stdout
    assert "cannot square 2 yet" in first.stdout
    fixed.touch()
    resumed = cli.run("run", "p", "--resume", cwd=project.root)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert sorted(ran.read_text()) == ["1", "2", "2", "3"]  # only item 2 ran again
    assert service.read_output(project.load(), "p", "total") == {"total": 14}


def test_zip_needs_equal_lengths_and_cross_combines(project: ProjectFolder,
                                                    observer: RecordingObserver) -> None:
    folder = project.pipeline("p", {
        "letters.py": "letters = ['a', 'b']\n",
        "digits.py": "digits = [1, 2, 3]\n",
        "pair.py": "pair = f'{letters}{digits}'\n",
    }, "blocks:\n  - {name: letters, fan_out: true}\n  - {name: digits, fan_out: true}\n"
       "  - {name: pair, map: zip}\n")
    result = service.run_pipeline(project.load(), "p", observer)
    failure = observer.outcomes["pair"].failure
    assert result.blocks["pair"] == "failed" and failure is not None
    assert "different numbers of items (letters: 2, digits: 3)" in failure.message
    (folder / "pipeline.yaml").write_text(
        "blocks:\n  - {name: letters, fan_out: true}\n  - {name: digits, fan_out: true}\n"
        "  - {name: pair, map: cross}\n")
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    assert service.read_output(project.load(), "p", "pair") == {
        "pair": ["a1", "a2", "a3", "b1", "b2", "b3"]}


def test_tables_fan_out_in_partitions_and_graph_counts_items(
        project: ProjectFolder, observer: RecordingObserver, cli: type[CLI]) -> None:
    project.pipeline("p", {
        "rows.py": "import pandas as pd\nrows = pd.DataFrame({'n': range(25)})\n",
        "part_sum.py": "part_sum = int(rows['n'].sum())\n",
        "grand.py": "grand = sum(part_sum)\n",
    }, "blocks:\n  - {name: rows, fan_out: true, partition_rows: 10}\n"
       "  - {name: part_sum, map: zip}\n")
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    assert service.read_output(project.load(), "p", "part_sum") == {
        "part_sum": [45, 145, 110]}
    assert service.read_output(project.load(), "p", "grand") == {"grand": 300}
    text = cli.run("graph", "p", cwd=project.root, check=True).stdout
    assert "part_sum [python] <- rows (rows)  (map: zip, items: 3)" in text
    assert "rows [python]  (fan_out: True)" in text


def test_a_thousand_items_run_at_most_max_parallel_at_once(
        project: ProjectFolder, observer: RecordingObserver, tmp_path: Path) -> None:
    running = tmp_path / "running"
    running.mkdir()
    with (project.root / "cairn.yaml").open("a") as settings:
        settings.write("max_parallel: 3\n")
    project.pipeline("p", {
        "numbers.py": "numbers = list(range(1000))\n",
        # Each item leaves a marker while it runs and counts the markers it sees.
        "square.py": f"""
            import time
            from pathlib import Path
            _me = Path({str(running)!r}) / str(numbers)
            _me.touch()
            seen = len(list(_me.parent.iterdir()))
            time.sleep(0.002)
            _me.unlink()
            square = numbers ** 2
        """,
        "collected.py": "collected = (len(square), square[:3], square[-1], max(seen))\n",
    }, SETTINGS)
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success"
    count, first, last, most_at_once = service.read_output(
        project.load(), "p", "collected")["collected"]
    assert (count, first, last) == (1000, [0, 1, 4], 999 ** 2)  # all, in order
    assert 2 <= most_at_once <= 3  # in parallel, but never more than max_parallel
    assert sum(1 for b, _ in observer.started if b.startswith("square[")) == 1000


def test_a_run_killed_mid_fan_out_resumes_with_the_items_not_done(
        project: ProjectFolder, cli: type[CLI], tmp_path: Path) -> None:
    ran, release = tmp_path / "ran", tmp_path / "release"
    with (project.root / "cairn.yaml").open("a") as settings:
        settings.write("max_parallel: 1\n")
    project.pipeline("p", {
        "numbers.py": "numbers = list(range(6))\n",
        "square.py": f"""
            import time
            from pathlib import Path
            with open({str(ran)!r}, "a") as _log:
                _log.write(f"{{numbers}} ")
            while numbers == 3 and not Path({str(release)!r}).exists():
                time.sleep(0.05)
            square = numbers ** 2
        """,
        "total.py": "total = sum(square)\n",
    }, SETTINGS)
    process = subprocess.Popen([sys.executable, "-m", "cairn", "run", "p"], cwd=project.root,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while "3 " not in (ran.read_text() if ran.exists() else ""):
            assert time.monotonic() < deadline, "item 3 did not start"
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert ran.read_text() == "0 1 2 3 "

    release.touch()
    resumed = cli.run("run", "p", "--resume", cwd=project.root)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert ran.read_text() == "0 1 2 3 3 4 5 "  # the items done before were not run again
    assert service.read_output(project.load(), "p", "total") == {"total": 55}


def test_the_notebook_runs_one_item_again(project: ProjectFolder, tmp_path: Path) -> None:
    from cairn.errors import CairnError
    from cairn.notebook.worker import Notebook

    ran = tmp_path / "ran"
    folder = project.pipeline("p", {
        "numbers.py": "numbers = [1, 2, 3]\n",
        "base.py": "base = 0\n",
        "square.py": f"""
            with open({str(ran)!r}, "a") as _log:
                _log.write(f"{{numbers}} ")
            square = numbers ** 2 + base
        """,
    }, SETTINGS)
    notebook = Notebook(project.load(), "p", lambda message: None)

    def run(block: str | None, mode: str = "block", item: int | None = None) -> None:
        notebook.run(block, mode, item)
        assert notebook.job is not None
        notebook.job.join(60)

    with pytest.raises(CairnError, match="has not run in this notebook yet"):
        run("square", item=1)
    run(None, "all")
    with pytest.raises(CairnError, match="base is not a mapped block"):
        run("base", item=0)
    with pytest.raises(CairnError, match="items 0 to 2, not 3"):
        run("square", item=3)

    (folder / "square.py").write_text(folder.joinpath("square.py").read_text()
                                      .replace("** 2", "** 3"))
    run("square", item=1)
    assert sorted(ran.read_text().split()) == ["1", "2", "2", "3"]  # only item 1 again
    state = notebook.snapshot()["blocks"]
    assert state["square"]["status"] == "success"
    assert state["square"]["outputs"][0]["repr"] == "[1, 8, 9]"  # item 1 new, others kept
    assert {state[f"square[{i}]"]["status"] for i in range(3)} == {"success"}

