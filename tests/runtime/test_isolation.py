"""`isolation: process`: a Python block in a process of its own fails alone when it ends
the interpreter; otherwise it runs as in a thread (inputs, outputs, logs, checkpoints)."""

from __future__ import annotations

import os
from pathlib import Path

from support import CLI, ProjectFolder, RecordingObserver, wait_until

from cairn import service
from cairn.store.metadata import MetadataStore

CRASHING = {
    "source.py": "source = [1, 2, 3]\n",
    "crash.py": "import os\nprint('about to leave', flush=True)\nos._exit(3)\ncrash = source\n",
    "sibling.py": "sibling = sum(source)\n",
    "after.py": "after = sibling * 2\n",
}


def block_history(project: ProjectFolder) -> tuple[str, dict[str, tuple[str, str | None]]]:
    store = MetadataStore(project.load().metadata_url)
    try:
        [run] = store.list_runs("p")
        return run.status, {b.block: (b.status, b.error) for b in store.block_runs(run.id)}
    finally:
        store.close()


def test_an_isolated_block_that_exits_fails_alone(project: ProjectFolder,
                                                  cli: type[CLI]) -> None:
    project.pipeline("p", CRASHING, "blocks:\n  - {name: crash, isolation: process}\n")
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "crash │ about to leave" in result.stdout
    status, blocks = block_history(project)
    assert status == "failed"
    assert blocks["crash"][0] == "failed"
    assert "the block's process exited with status 3" in (blocks["crash"][1] or "")
    assert {b: s for b, (s, _) in blocks.items() if b != "crash"} == {
        "source": "success", "sibling": "success", "after": "success"}
    assert cli.run("show", "p", "after", cwd=project.root, check=True).stdout.strip() == "12"


def test_without_isolation_the_history_names_the_block_that_was_running(
        project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", CRASHING, "blocks:\n  - source\n  - crash\n")
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 3  # the whole run's process ended
    cli.run("runs", "p", cwd=project.root, check=True)  # notices the dead process
    status, blocks = block_history(project)
    assert status == "failed"
    assert blocks["crash"] == ("failed", "the process died while this block was running")


def test_an_isolated_block_has_inputs_outputs_logs_and_checkpoints(
        project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "orders.py": "import pandas as pd\norders = pd.DataFrame({'n': [1, 2, 3]})\n",
        "total.py": """
            import logging
            import os
            print("pid", os.getpid())
            logging.getLogger("shop").info("summing %d rows", len(orders))
            seen = context.checkpoint("seen", 0)
            context.set_checkpoint("seen", seen + 1)
            total = {"sum": int(orders.n.sum()), "seen": seen, "mode": context.var("mode")}
        """,
        "report.py": "report = total['sum'] * 10\n",
    }, "variables: {mode: full}\ndefaults: {isolation: process}\nblocks:\n  - orders\n")
    first = service.run_pipeline(project.load(), "p", observer)
    assert first.status == "success", observer.outcomes
    lines = [(stream, line) for block, stream, line in observer.lines if block == "total"]
    assert ("log", "INFO shop: summing 3 rows") in lines
    [pid] = [int(line.split()[1]) for stream, line in lines if line.startswith("pid")]
    assert pid != os.getpid()
    second = service.run_pipeline(project.load(), "p", observer)
    assert second.status == "success"
    assert service.read_output(project.load(), "p", "total") == {
        "total": {"sum": 6, "seen": 1, "mode": "full"}}
    assert service.read_output(project.load(), "p", "report") == {"report": 60}
    assert observer.outcomes["total"].cpu_seconds is not None


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_an_isolated_block_past_its_timeout_is_killed(project: ProjectFolder,
                                                      observer: RecordingObserver,
                                                      tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    project.pipeline("p", {"hang.py": f"""
        import os, time
        from pathlib import Path
        Path({str(pid_file)!r}).write_text(str(os.getpid()))
        while True:
            time.sleep(0.05)
    """}, "blocks:\n  - {name: hang, isolation: process, timeout: 1}\n")
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.blocks == {"hang": "failed"}
    failure = observer.outcomes["hang"].failure
    assert failure is not None and failure.message == "timed out after 1 s"
    pid = int(pid_file.read_text())
    wait_until(lambda: gone(pid), "the block's process to be killed")


def test_the_notebook_runs_an_isolated_block_in_its_own_process(project: ProjectFolder) -> None:
    from cairn.notebook.worker import Notebook

    project.pipeline("p", {
        "a.py": "a = 1\n",
        "b.py": "import os\nb = (a + 1, os.getpid())\n",
        "c.py": "c = b[0] * 10\n",
    }, "blocks:\n  - {name: b, isolation: process}\n")
    notebook = Notebook(project.load(), "p", lambda _: None)
    notebook.run(None, "all")
    assert notebook.job is not None
    notebook.job.join(60)
    blocks = notebook.snapshot()["blocks"]
    assert {name: blocks[name]["status"] for name in "abc"} == dict.fromkeys("abc", "success")
    assert notebook.runner.values["b"]["b"][1] != os.getpid()
    assert notebook.runner.values["c"]["c"] == 20


def test_values_of_the_projects_own_classes_cross_to_and_from_an_isolated_block(
        project: ProjectFolder, cli: type[CLI]) -> None:
    (project.root / "shapes.py").write_text(
        "from dataclasses import dataclass\n\n@dataclass\nclass Box:\n    size: int\n")
    project.pipeline("p", {
        "box.py": "from shapes import Box\nbox = Box(2)\n",
        "bigger.py": "from shapes import Box\nbigger = Box(box.size * 10)\n",
        "report.py": "report = bigger.size\n",
    }, "defaults:\n  isolation: process\nblocks:\n  - {name: report, isolation: thread}\n")
    result = cli.run("run", "p", cwd=project.root / "pipelines" / "p")
    assert result.returncode == 0, result.stdout + result.stderr
    assert service.read_output(project.load(), "p", "report") == {"report": 20}
