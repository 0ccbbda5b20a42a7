"""A pipeline name is a folder name in pipelines/, never a path: one check for the CLI, the
API and the loader."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import CLI, ProjectFolder

from cairn.errors import CairnError
from cairn.project.names import check_pipeline_name


@pytest.mark.parametrize("name", ["sales", "daily-orders", "v2.1", "ventes_été", "販売", "2024"])
def test_names_that_name_a_pipeline(name: str) -> None:
    assert check_pipeline_name(name) == name


@pytest.mark.parametrize(("name", "reason"), [
    ("", "is empty"),
    ("/abs/dir", "is a path"),
    ("../x", "is a path"),
    ("a\\b", "is a path"),
    ("..", "holds characters"),
    (".hidden", "holds characters"),
    ("_draft", "holds characters"),
    ("a\0b", "holds characters"),
    ("a\nb", "holds characters"),
    ("a b", "holds characters"),
    ("x" * 101, "longer than 100"),
    ("€" * 90, "longer than 100"),  # 90 characters, 270 bytes: too long for a file name
])
def test_names_that_cannot(name: str, reason: str) -> None:
    with pytest.raises(CairnError) as refused:
        check_pipeline_name(name)
    [problem] = refused.value.problems
    assert problem.kind == "bad-name" and reason in problem.message
    assert "folder name in pipelines/" in (problem.hint or "")


def test_cairn_run_of_a_folder_elsewhere_is_refused(project: ProjectFolder, cli: type[CLI],
                                                    tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    marker = tmp_path / "ran"
    (elsewhere / "side_effect.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\nx = 1\n")
    project.pipeline("p", {"a.py": "a = 1\n"})
    for name in (str(elsewhere), "../../elsewhere", "p/../p"):
        result = cli.run("run", name, cwd=project.root)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "cannot name a pipeline" in result.stderr
    assert not marker.exists()
    runs = cli.run("runs", cwd=project.root, check=True)
    assert "elsewhere" not in runs.stdout
