"""A `cairn run` killed with SIGKILL mid-run is finished by `--resume`, losing nothing."""

from __future__ import annotations

from pathlib import Path

from support import CLI, ProjectFolder, kill_run_mid_block, waiting_block

from cairn.store.metadata import MetadataStore


def test_resume_after_sigkill(project: ProjectFolder, cli: type[CLI], tmp_path: Path) -> None:
    counter, started, release = (tmp_path / n for n in ("counter", "started", "release"))
    project.pipeline("p", {
        "first.py": f"""
            from pathlib import Path
            with open({str(counter)!r}, "a") as _f:
                _f.write("x")
            first = 1
        """,
        "slow.py": waiting_block(started, release, "slow = first + 1"),
        "last.py": "last = slow + 1\n",
    })
    kill_run_mid_block(project.root, started)

    listed = cli.run("runs", "p", cwd=project.root, check=True).stdout
    assert "failed" in listed

    release.touch()
    resumed = cli.run("run", "p", "--resume", cwd=project.root)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed run" in resumed.stdout
    assert counter.read_text() == "x"  # the finished block was not run again

    store = MetadataStore(project.load().metadata_url)
    try:
        run, = store.list_runs("p")
        assert (run.status, run.resumes) == ("success", 1)
        assert [(b.block, b.attempt, b.status) for b in store.block_runs(run.id)] == [
            ("first", 1, "success"),
            ("slow", 1, "failed"),
            ("slow", 2, "success"),
            ("last", 1, "success"),
        ]
    finally:
        store.close()
    shown = cli.run("show", "p", "last", cwd=project.root, check=True)
    assert shown.stdout.strip() == "3"

    again = cli.run("run", "p", "--resume", run.id, cwd=project.root)
    assert again.returncode == 2 and "already succeeded" in again.stderr


def test_resume_keeps_a_false_condition(project: ProjectFolder, cli: type[CLI],
                                        tmp_path: Path) -> None:
    ran, started, release = (tmp_path / n for n in ("ran", "started", "release"))
    project.pipeline("p", {
        "gate.py": "gate = False\n",
        "child.py": f"""
            from pathlib import Path
            Path({str(ran)!r}).touch()
            child = gate
        """,
        "slow.py": waiting_block(started, release, "slow = 1"),
    }, """
        blocks:
          - {name: gate, condition: true}
          - {name: child, upstream: [gate]}
          - slow
    """)
    kill_run_mid_block(project.root, started)
    release.touch()
    resumed = cli.run("run", "p", "--resume", cwd=project.root)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert not ran.exists()  # the gate said no before the kill, and still does
    store = MetadataStore(project.load().metadata_url)
    try:
        run, = store.list_runs("p")
        child = [(b.status, b.error) for b in store.block_runs(run.id) if b.block == "child"]
        assert child == [("skipped", "not run: the condition gate was false")] * len(child)
    finally:
        store.close()
