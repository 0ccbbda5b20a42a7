"""Backfills: one run per execution date, bounded, resumable without repeating work."""

from __future__ import annotations

from pathlib import Path

from support import CLI, ProjectFolder

from cairn import service
from cairn.store.metadata import MetadataStore


def test_backfill_runs_each_date_once_and_resumes(project: ProjectFolder, cli: type[CLI],
                                                  tmp_path: Path) -> None:
    fixed = tmp_path / "fixed"
    project.pipeline("p", {"stamp.py": f"""
        from pathlib import Path
        day = context.execution_date.date().isoformat()
        if day == "2026-01-03" and not Path({str(fixed)!r}).exists():
            raise RuntimeError("bad data on " + day)
        stamp = day
    """})
    arguments = ("backfill", "p", "--start", "2026-01-01", "--end", "2026-01-05",
                 "--max-parallel", "2")
    first = cli.run(*arguments, cwd=project.root)
    assert first.returncode == 1
    assert "4 of 5 dates succeeded" in first.stdout and "2026-01-03" in first.stdout

    fixed.touch()
    again = cli.run(*arguments, cwd=project.root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "4 done before, 1 to run" in again.stdout and "5 of 5" in again.stdout

    store = MetadataStore(project.load().metadata_url)
    try:
        runs = store.list_runs("p", 100)
    finally:
        store.close()
    assert len(runs) == 5 and len({r.trigger for r in runs}) == 1
    assert sorted(r.execution_date.date().isoformat() for r in runs) == [
        f"2026-01-0{day}" for day in range(1, 6)]
    resumed, = (r for r in runs if r.resumes)
    assert resumed.execution_date.date().isoformat() == "2026-01-03"
    stamp = service.read_output(project.load(), "p", "stamp", run_id=resumed.id)
    assert stamp == {"stamp": "2026-01-03"}
    listed = cli.run("runs", "p", cwd=project.root, check=True).stdout
    assert runs[0].trigger in listed


def test_backfill_refuses_reversed_dates(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", {"a.py": "a = 1\n"})
    result = cli.run("backfill", "p", "--start", "2026-02-01", "--end", "2026-01-01",
                     cwd=project.root)
    assert result.returncode == 2 and "before it starts" in result.stderr
