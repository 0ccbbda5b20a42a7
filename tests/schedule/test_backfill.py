"""Backfills: one run per execution date, bounded, resumable without repeating work."""

from __future__ import annotations

import re
import subprocess
import sys
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


def test_every_date_is_printed_even_those_a_scheduler_ran(project: ProjectFolder,
                                                         cli: type[CLI]) -> None:
    project.pipeline("p", {"stamp.py": """
        day = context.execution_date.day
        if day == 3:
            raise RuntimeError("bad data")
        stamp = day
    """})
    # A scheduler of the same project claims queued runs too, as under `cairn serve`.
    scheduler = subprocess.Popen([sys.executable, "-m", "cairn", "scheduler", "--tick", "0.05",
                                  "--project", str(project.root)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        done = cli.run("backfill", "p", "--start", "2026-01-01", "--end", "2026-01-06",
                       "--max-parallel", "1", cwd=project.root)
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
    assert done.returncode == 1
    printed = re.findall(r"^  2026-01-0(\d)T00:00:00 (\w+)", done.stdout, re.MULTILINE)
    assert sorted(printed) == [(str(day), "failed" if day == 3 else "success")
                               for day in range(1, 7)], done.stdout
    assert "5 of 6 dates succeeded" in done.stdout
