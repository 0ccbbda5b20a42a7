"""`cairn stream PIPELINE`: run a streaming pipeline in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def stream(
    pipeline: Annotated[str, typer.Argument(help="A pipeline with `type: streaming`.")],
    stop_when_idle: Annotated[float | None, typer.Option(
        "--stop-when-idle", metavar="SECONDS", help="Stop once no message has come for this "
        "long (to drain a backlog and exit). Default: run until stopped.",
        show_default=False)] = None,
    project: Annotated[Path | None, typer.Option("--project", "-p", help="Project folder.",
                                                 show_default=False)] = None,
) -> None:
    """Consume the pipeline's source and write its sinks until stopped (Ctrl-C or SIGTERM
    finish the current batch first). Messages are acknowledged only once every sink has
    written them: a crash replays at most one batch. Progress is reported every second in
    `cairn streams` and the web UI; the process is a run in `cairn runs`."""
    from cairn.cli import _console, _project
    from cairn.stream.process import run_stream

    found = _project(project)
    console = _console()

    def started(run_id: str) -> None:
        console.print(f"stream [bold]{pipeline}[/] running as run {run_id}; Ctrl-C stops it")

    try:
        result = run_stream(found, pipeline, stop_when_idle, started)
    except KeyboardInterrupt:  # a second Ctrl-C while closing
        raise typer.Exit(130) from None
    stats = result.stats
    console.print(f"stopped: {stats.messages_in} messages in {stats.batches} batches, "
                  f"{stats.messages_out} rows out, {stats.dead_letters} dead letters")
