"""Modules of the project (a `utils/` package, a top-level `lib.py`) are importable from
blocks without PYTHONPATH, and the notebook reads an edited module again."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from support import CLI, ProjectFolder


@pytest.fixture
def clean_imports(project: ProjectFolder) -> Iterator[None]:
    """The in-process notebook adds the project to this process's sys.path and modules."""
    path = list(sys.path)
    yield
    sys.path[:] = path
    root = str(project.root.resolve())
    for name, module in list(sys.modules.items()):
        if (getattr(module, "__file__", None) or "").startswith(root):
            del sys.modules[name]


def test_a_run_imports_the_projects_modules(project: ProjectFolder, cli: type[CLI],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (project.root / "utils").mkdir()
    (project.root / "utils" / "__init__.py").write_text("from utils.maths import double\n")
    (project.root / "utils" / "maths.py").write_text("def double(x):\n    return 2 * x\n")
    (project.root / "lib.py").write_text("BASE = 21\n")
    folder = project.pipeline("p", {
        "a.py": "import lib\nfrom utils import double\nanswer = double(lib.BASE)\n",
        "b.py": "from utils.maths import double\nprint('answer', double(answer // 2))\n",
    })
    # Not from the project root, and with no PYTHONPATH: nothing else puts the root on it.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    result = cli.run("run", "p", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "answer 42" in result.stdout


def test_the_notebook_reads_an_edited_module_again(project: ProjectFolder,
                                                   clean_imports: None) -> None:
    from cairn.notebook.worker import Notebook

    module = project.root / "cairn_test_helpers.py"
    module.write_text("def value():\n    return 1\n")
    project.pipeline("p", {"a.py": "from cairn_test_helpers import value\na = value()\n"})
    notebook = Notebook(project.load(), "p", lambda message: None)

    def run() -> object:
        notebook.run("a", "block")
        assert notebook.job is not None
        notebook.job.join(60)
        state = notebook.snapshot()["blocks"]["a"]
        assert state["status"] == "success", state
        assert notebook.runner is not None
        return notebook.runner.values["a"]["a"]

    assert run() == 1
    module.write_text("def value():\n    return 1000\n")
    assert run() == 1000
