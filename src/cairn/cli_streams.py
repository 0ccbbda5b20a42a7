"""`cairn streams`: the managed stream processes, their state, and starting or stopping one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cairn.times import shown

if TYPE_CHECKING:
    from cairn.stream.manage import StreamView

streams_app = typer.Typer(help="Streaming pipelines run by the scheduler (`cairn scheduler` or "
                          "`cairn serve`): list them with their state, start or stop one.")

ProjectOption = Annotated[Path | None, typer.Option("--project", "-p", help="Project folder.",
                                                    show_default=False)]
_STYLE = {"running": "green", "starting": "cyan", "stopping": "cyan", "stopped": "dim",
          "restarting": "red", "failed": "red", "stale": "red"}


@streams_app.callback(invoke_without_command=True)
def streams_default(context: typer.Context, project: ProjectOption = None) -> None:
    """Without a command: the same as `cairn streams list`."""
    if context.invoked_subcommand is None:
        streams_list(project)


@streams_app.command("list")
def streams_list(project: ProjectOption = None) -> None:
    """Each stream with its status, figures and restarts; last errors in full below."""
    from rich.markup import escape
    from rich.table import Table

    from cairn.cli import _console, _project
    from cairn.stream.manage import list_streams

    views = list_streams(_project(project))
    console = _console()
    if not views:
        console.print("no streaming pipelines (a stream has `type: streaming` in pipeline.yaml)")
        return
    table = Table(title="Streams", title_justify="left")
    for column in ("stream", "source", "status", "in", "out", "dead", "msg/s", "lag", "p50 ms",
                   "p99 ms", "restarts", "started", "heartbeat", "run"):
        table.add_column(column, no_wrap=column not in ("source", "run"),
                         justify="right" if column in _NUMERIC else "left")
    for view in views:
        table.add_row(view.pipeline, escape(view.source), _status(view), f"{view.messages_in:,}",
                      f"{view.messages_out:,}", _count(view.dead_letters), _number(view.rate),
                      _number(view.lag), _number(view.latency_p50_ms),
                      _number(view.latency_p99_ms), _count(view.restarts),
                      shown(view.started_at),
                      _ago(view), view.run_id or "")
    console.print(table)
    for view in views:  # errors in full, under the table, where they cannot be missed
        if view.problem:
            console.print(f"[red]{view.pipeline}: pipeline.yaml:[/] {escape(view.problem)}")
        if view.last_error:
            when = f" at {shown(view.last_error_at)}" if view.last_error_at else ""
            console.print(f"[red]{view.pipeline}: last error{when}:[/] "
                          f"{escape(view.last_error)}")


@streams_app.command("start")
def streams_start(
    pipeline: Annotated[str, typer.Argument(help="A streaming pipeline.")],
    wait: Annotated[float, typer.Option(help="Seconds to wait for the scheduler to start it."
                                        )] = 10.0,
    project: ProjectOption = None,
) -> None:
    """Ask for the stream to run (the scheduler starts it, and restarts it if it crashes)."""
    from cairn.cli import _console, _project
    from cairn.stream.manage import start_stream

    view = start_stream(_project(project), pipeline, wait)
    console = _console()
    if view.status == "running":
        console.print(f"stream {pipeline} [green]running[/] (process {view.pid} on "
                      f"{view.host}, run {view.run_id})")
    else:
        console.print(f"stream {pipeline} is to run; it is {_status(view)} now. Streams run "
                      "under `cairn scheduler` or `cairn serve`: is one running?")


@streams_app.command("stop")
def streams_stop(
    pipeline: Annotated[str, typer.Argument(help="A streaming pipeline.")],
    project: ProjectOption = None,
) -> None:
    """Stop the stream until `cairn streams start`; its process finishes its batch first.

    The process is killed if it has not exited 15 s after being asked."""
    from cairn.cli import _console, _project
    from cairn.stream.manage import stop_stream

    view = stop_stream(_project(project), pipeline)
    console = _console()
    if view.status in ("stopped", "failed"):
        console.print(f"stream {pipeline} {_status(view)}")
    else:
        console.print(f"stream {pipeline} is to stop; it is {_status(view)} now (process "
                      f"{view.pid} on {view.host}: the scheduler there stops it)")
        raise typer.Exit(1)


_NUMERIC = {"in", "out", "dead", "msg/s", "lag", "p50 ms", "p99 ms", "restarts"}


def _status(view: StreamView) -> str:
    return f"[{_STYLE.get(view.status, 'white')}]{view.status}[/]"


def _count(value: int) -> str:
    return f"[red]{value:,}[/]" if value else "0"


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}".removesuffix(".0")


def _ago(view: StreamView) -> str:
    from cairn.store.metadata import utcnow

    if view.heartbeat_at is None:
        return ""
    return f"{(utcnow() - view.heartbeat_at).total_seconds():.0f} s ago"
