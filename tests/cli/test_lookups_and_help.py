"""Finding what a command names: runs by suffix or `latest`, outputs by their own name; and
what `cairn init` and `cairn --help` tell a new user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import CLI, ProjectFolder

from cairn.errors import CairnError
from cairn.store.metadata import MetadataStore


@pytest.fixture
def two_runs(project: ProjectFolder, cli: type[CLI]) -> list[str]:
    project.pipeline("p", {"numbers.py": "numbers = [1, 2]\nextra = 'x'\nprint('hello')\n"})
    for _ in range(2):
        cli.run("run", "p", cwd=project.root, check=True)
    store = MetadataStore(project.load().metadata_url)
    try:
        return [r.id for r in store.list_runs("p")]  # newest first
    finally:
        store.close()


def test_logs_take_a_suffix_and_latest(project: ProjectFolder, cli: type[CLI],
                                       two_runs: list[str]) -> None:
    newest, oldest = two_runs
    suffix = oldest.rsplit("-", 1)[1]
    by_suffix = cli.run("logs", suffix, cwd=project.root, check=True)
    assert "hello" in by_suffix.stdout
    latest = cli.run("logs", "latest", cwd=project.root, check=True)
    assert "hello" in latest.stdout
    store = MetadataStore(project.load().metadata_url)
    try:
        assert store.find_run(suffix).id == oldest
        assert store.find_run("latest").id == newest
        assert store.find_run("latest", "p").id == newest
        with pytest.raises(CairnError) as ambiguous:
            store.find_run("2")  # both ids start with the year
        assert oldest in str(ambiguous.value) and newest in str(ambiguous.value)
    finally:
        store.close()


def test_show_takes_an_output_name(project: ProjectFolder, cli: type[CLI],
                                   two_runs: list[str]) -> None:
    shown = cli.run("show", "p", "extra", "--format", "json", cwd=project.root, check=True)
    assert shown.stdout.strip() == '"x"'
    unknown = cli.run("show", "p", "nothing", cwd=project.root)
    assert unknown.returncode != 0 and "no block 'nothing'" in unknown.stdout + unknown.stderr


def test_init_here_suggests_running_not_cd(tmp_path: Path, cli: type[CLI]) -> None:
    here = tmp_path / "here"
    here.mkdir()
    created = cli.run("init", ".", cwd=here, check=True).stdout
    assert "cd ." not in created and "cairn run example" in created
    elsewhere = cli.run("init", "shop", cwd=tmp_path, check=True).stdout
    assert "cd shop" in elsewhere
    assert os.path.isfile(here / "cairn.yaml")


def test_help_mentions_r(cli: type[CLI], tmp_path: Path) -> None:
    assert "Python, SQL and R" in cli.run("--help", cwd=tmp_path, check=True).stdout
