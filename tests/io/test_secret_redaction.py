"""A secret from io_config.yaml never shows in output, logs, errors or the run history."""

from __future__ import annotations

import pytest
from support import CLI, ProjectFolder

from cairn.store.metadata import MetadataStore

TOKEN = "tok-9f8e7d6c5b4a"


def test_secret_values_are_masked_everywhere(project: ProjectFolder, cli: type[CLI],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", TOKEN)
    (project.root / "io_config.yaml").write_text(
        "default:\n  api:\n    kind: files\n    url: data\n"
        "    options: {token: \"{{ secret('API_TOKEN') }}\"}\n")
    project.pipeline("p", {
        "leak.py": """
            import logging, os
            print("token is", os.environ["API_TOKEN"])
            logging.getLogger("client").warning("sent %s", os.environ["API_TOKEN"])
            raise ValueError("rejected " + os.environ["API_TOKEN"])
        """,
    })
    run = cli.run("run", "p", cwd=project.root)
    assert run.returncode == 1
    assert "token is ***" in run.stdout and "rejected ***" in run.stdout

    run_id = next((project.root / ".cairn" / "runs").iterdir()).name
    logs = cli.run("logs", run_id, cwd=project.root, check=True)
    assert "sent ***" in logs.stdout
    graph = cli.run("graph", "p", "--format", "json", cwd=project.root, check=True)
    log_file = (project.root / ".cairn" / "runs" / run_id / "leak.log").read_text()
    store = MetadataStore(project.load().metadata_url)
    try:
        history = " ".join(str(value) for row in store.block_runs(run_id) for value in row)
        history += " ".join(str(value) for value in store.find_run(run_id))
    finally:
        store.close()
    assert "ValueError: rejected ***" in history
    for text in (run.stdout, run.stderr, logs.stdout, graph.stdout, log_file, history):
        assert TOKEN not in text
