"""Display order: the `blocks:` list of pipeline.yaml, and the DAG's order (layer by layer,
ties by name) for blocks it does not list; reordering writes the list, comments kept."""

from __future__ import annotations

import pytest
from support import CLI, ProjectFolder

from cairn import service
from cairn.errors import CairnError
from cairn.project import editing

# report reads both; clean reads load; zeta and alpha read nothing.
BLOCKS = {"report.py": "report = len(clean) + len(zeta)\n", "clean.py": "clean = load\n",
          "load.py": "load = [1]\n", "zeta.py": "zeta = [2]\n", "alpha.py": "alpha = 3\n"}


@pytest.mark.parametrize(("settings", "order"), [
    (None, ["alpha", "load", "zeta", "clean", "report"]),
    ("description: no list\n", ["alpha", "load", "zeta", "clean", "report"]),
    ("blocks:\n  - report\n  - zeta\n", ["report", "zeta", "alpha", "load", "clean"]),
    ("blocks: [report, zeta, load, clean, alpha]\n", ["report", "zeta", "load", "clean", "alpha"]),
    ("blocks: []\n", ["alpha", "load", "zeta", "clean", "report"]),
])
def test_display_order(project: ProjectFolder, settings: str | None, order: list[str]) -> None:
    project.pipeline("p", BLOCKS, settings)
    pipeline, graph = service.plan(project.load(), "p")
    assert graph.order == order
    assert list(pipeline.blocks) == order


def test_a_cycle_leaves_the_unlisted_blocks_by_name(project: ProjectFolder) -> None:
    project.pipeline("p", {"b.py": "b = a\n", "a.py": "a = b\n", "c.py": "c = 1\n"})
    _, graph = service.plan(project.load(), "p")
    assert graph.order == ["a", "b", "c"]
    assert graph.problems[0].kind == "cycle"


def test_reorder_writes_the_blocks_list_keeping_settings_and_comments(
        project: ProjectFolder) -> None:
    folder = project.pipeline("p", BLOCKS, "# the shop's report\ndescription: d\nblocks:\n"
                                           "  - name: clean  # retried\n    retries: 2\n"
                                           "variables:\n  x: 1\n")
    found = project.load()
    editing.reorder_blocks(found, "p", ["zeta", "clean", "alpha", "load", "report"])
    text = (folder / "pipeline.yaml").read_text()
    assert "# the shop's report" in text and "# retried" in text and "x: 1" in text
    pipeline, graph = service.plan(found, "p")
    assert graph.order == ["zeta", "clean", "alpha", "load", "report"]
    assert pipeline.block_settings["clean"].retries == 2  # type: ignore[index]


def test_reorder_makes_pipeline_yaml_when_there_is_none(project: ProjectFolder) -> None:
    folder = project.pipeline("p", BLOCKS)
    editing.reorder_blocks(project.load(), "p", ["report", "clean", "load", "zeta", "alpha"])
    assert (folder / "pipeline.yaml").is_file()
    assert service.plan(project.load(), "p")[1].order == ["report", "clean", "load", "zeta",
                                                          "alpha"]


@pytest.mark.parametrize("order", [["report", "clean", "load", "zeta"],
                                   ["report", "clean", "load", "zeta", "alpha", "alpha"],
                                   ["report", "clean", "load", "zeta", "nope"]])
def test_reorder_refuses_a_list_that_is_not_every_block_once(project: ProjectFolder,
                                                            order: list[str]) -> None:
    project.pipeline("p", BLOCKS)
    with pytest.raises(CairnError) as caught:
        editing.reorder_blocks(project.load(), "p", order)
    assert caught.value.problems[0].kind == "bad-order"


def test_create_pipeline(project: ProjectFolder) -> None:
    found = project.load()
    editing.create_pipeline(found, "sales-2")
    _, graph = service.plan(found, "sales-2")
    assert graph.order == [] and not graph.problems
    with pytest.raises(CairnError) as exists:
        editing.create_pipeline(found, "sales-2")
    assert exists.value.problems[0].kind == "pipeline-exists"
    with pytest.raises(CairnError) as bad:
        editing.create_pipeline(found, "../up")
    assert bad.value.problems[0].kind == "bad-name"


def test_the_run_summary_lists_blocks_in_display_order(project: ProjectFolder,
                                                       cli: type[CLI]) -> None:
    project.pipeline("p", BLOCKS)
    result = cli.run("run", "p", cwd=project.root, check=True)
    summary = result.stdout[result.stdout.index("Run summary"):]
    rows = [line.split("│")[1].strip() for line in summary.splitlines() if "│" in line]
    assert rows == ["alpha", "load", "zeta", "clean", "report"]
