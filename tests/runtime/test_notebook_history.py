"""The notebook shows the pipeline's real state: the latest pipeline run of each block when it
is newer than the notebook's own result, with where that state came from."""

from __future__ import annotations

from typing import Any

from support import ProjectFolder, RecordingObserver

from cairn import service
from cairn.ids import RunId


def _run_notebook(notebook: Any, block: str) -> None:
    notebook.run(block, "block")
    assert notebook.job is not None
    notebook.job.join(60)


def test_a_pipeline_run_shows_on_the_cards_until_the_notebook_runs_again(
        project: ProjectFolder) -> None:
    from cairn.notebook.worker import Notebook

    project.pipeline("p", {"a.py": "import pandas as pd\na = pd.DataFrame({'n': [1, 2, 3]})\n"
                                   "print('made a')\n",
                           "b.py": "b = len(a) + missing\n"})
    found = project.load()
    failed = service.run_pipeline(found, "p", RecordingObserver())
    assert failed.status == "failed"

    notebook = Notebook(found, "p", lambda _: None)
    blocks = notebook.snapshot()["blocks"]
    assert blocks["b"]["status"] == "failed"
    assert blocks["b"]["origin"]["kind"] == "run"
    assert blocks["b"]["origin"]["run_id"] == failed.run_id
    assert blocks["b"]["origin"]["trigger"] == "manual"
    assert "missing" in blocks["b"]["error"]["message"]
    assert blocks["b"]["error"]["line"] == 1
    assert blocks["a"]["status"] == "success"
    output, = blocks["a"]["outputs"]
    assert (output["name"], output["kind"], output["rows"]) == ("a", "table", 3)
    assert blocks["a"]["logs"] == [{"stream": "stdout", "line": "made a"}]
    assert notebook.page("a", "a", 1, 10)["rows"] == [[2], [3]]  # the run's table, paged
    assert not blocks["a"]["stale"]

    # The notebook's own run is newer: its result wins.
    (project.root / "pipelines/p/b.py").write_text("b = len(a)\n")
    _run_notebook(notebook, "b")
    blocks = notebook.snapshot()["blocks"]
    assert blocks["b"]["status"] == "success"
    assert blocks["b"]["origin"]["kind"] == "notebook"
    assert blocks["b"]["error"] is None

    # A later pipeline run is newer again.
    (project.root / "pipelines/p/b.py").write_text("b = len(a) / 0\n")
    again = service.run_pipeline(found, "p", RecordingObserver())
    blocks = notebook.snapshot()["blocks"]
    assert blocks["b"]["status"] == "failed"
    assert blocks["b"]["origin"]["run_id"] == again.run_id
    assert "ZeroDivisionError" in blocks["b"]["error"]["message"]


def test_an_edit_after_a_pipeline_run_makes_its_card_stale(project: ProjectFolder) -> None:
    from cairn.notebook.worker import Notebook

    folder = project.pipeline("p", {"a.py": "a = 1\n"})
    found = project.load()
    service.run_pipeline(found, "p", RecordingObserver())
    notebook = Notebook(found, "p", lambda _: None)
    assert notebook.snapshot()["blocks"]["a"]["stale"] is False
    (folder / "a.py").write_text("a = 2\n")
    later = (folder / "a.py").stat().st_mtime + 5  # later than the run, whatever the clock
    import os

    os.utime(folder / "a.py", (later, later))
    assert notebook.snapshot()["blocks"]["a"]["stale"] is True


def test_blocks_a_run_has_not_started_yet_are_queued(project: ProjectFolder) -> None:
    from cairn.notebook.worker import Notebook

    project.pipeline("p", {"a.py": "a = 1\n", "b.py": "b = a\n"})
    found = project.load()
    metadata = service.open_metadata(found)
    try:  # a run going on in this (living) process that has started block a only
        metadata.create_run(RunId("r1"), "p", ["a", "b"], {}, service.utc_now(), "nightly")
        metadata.start_block(RunId("r1"), "p", "a", 1)  # type: ignore[arg-type]
    finally:
        metadata.close()
    blocks = Notebook(found, "p", lambda _: None).snapshot()["blocks"]
    assert (blocks["a"]["status"], blocks["b"]["status"]) == ("running", "queued")
    assert blocks["b"]["origin"] == {"kind": "run", "run_id": "r1", "trigger": "nightly",
                                     "at": blocks["b"]["origin"]["at"]}
