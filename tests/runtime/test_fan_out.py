"""Fan-out: a mapped block runs once per item of its fan-out parents; its downstream gets
the ordered list; a failed item is retried alone by --resume."""

from __future__ import annotations

from pathlib import Path

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
