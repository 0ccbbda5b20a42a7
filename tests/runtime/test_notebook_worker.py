"""The notebook's worker, in process: a run that breaks (a fault of Cairn's, not of a block)
leaves the notebook usable and says why."""

from __future__ import annotations

import pytest
from support import ProjectFolder


def test_a_broken_notebook_run_fails_its_blocks_instead_of_hanging(
        project: ProjectFolder, monkeypatch: pytest.MonkeyPatch) -> None:
    from cairn.notebook.worker import Notebook
    from cairn.runtime.runner import Runner

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the metadata went away")

    project.pipeline("p", {"a.py": "a = 1\n", "b.py": "b = a + 1\n"})
    sent: list[dict[str, object]] = []
    notebook = Notebook(project.load(), "p", sent.append)
    monkeypatch.setattr(Runner, "run", broken)
    notebook.run(None, "all")
    assert notebook.job is not None
    notebook.job.join(30)
    blocks = notebook.snapshot()["blocks"]
    for name in ("a", "b"):
        assert blocks[name]["status"] == "failed"
        assert "the metadata went away" in blocks[name]["error"]["message"]
    assert sent[-1]["type"] == "state"  # the page hears that the run is over
