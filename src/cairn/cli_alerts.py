"""`cairn alerts`: send a test message, list channels and routes, show what was sent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cairn.times import shown

alerts_app = typer.Typer(help="Alert channels of cairn.yaml: test them, list them, and see "
                         "incidents and delivery attempts.", no_args_is_help=True)

ProjectOption = Annotated[Path | None, typer.Option("--project", "-p", help="Project folder.",
                                                    show_default=False)]


@alerts_app.command("test")
def alerts_test(
    channel: Annotated[str, typer.Argument(metavar="CHANNEL", help="Channel name.")],
    project: ProjectOption = None,
) -> None:
    """Send a test message to CHANNEL now; exit 1 if it is not delivered."""
    from rich.markup import escape

    from cairn import service
    from cairn.cli import _console, _project
    from cairn.monitor.actions import send_test

    found = _project(project)
    metadata = service.open_metadata(found)
    try:
        result = send_test(found, metadata, channel)
    finally:
        metadata.close()
    console = _console()
    if result.status == "sent":
        console.print(f"[green]sent[/] a test message to {escape(channel)}")
        return
    console.print(f"[red]failed[/] to send to {escape(channel)}: {escape(result.error or '')}")
    raise typer.Exit(1)


@alerts_app.command("list")
def alerts_list(project: ProjectOption = None) -> None:
    """List the channels (where they send, credentials masked) and the routes using them."""
    from cairn.cli import _console, _plain_table, _project
    from cairn.monitor.actions import list_channels

    rows = [(r.name, r.kind, r.target, r.routes) for r in list_channels(_project(project))]
    _console().print(_plain_table("Alert channels", ("name", "kind", "sends to", "routes"),
                                  rows) if rows else "no alert channels in cairn.yaml")


@alerts_app.command("history")
def alerts_history(
    pipeline: Annotated[str | None, typer.Argument(help="Only this pipeline's.")] = None,
    limit: Annotated[int, typer.Option(help="How many incidents.")] = 20,
    project: ProjectOption = None,
) -> None:
    """Recent incidents, newest first, with each delivery attempt per channel."""
    from rich.markup import escape
    from rich.table import Table

    from cairn import service
    from cairn.cli import _console, _project
    from cairn.cli_display import styled
    from cairn.monitor.actions import history

    metadata = service.open_metadata(_project(project))
    try:
        rows = history(metadata, pipeline, limit)
    finally:
        metadata.close()
    table = Table(title="Alert incidents", title_justify="left")
    for column in ("incident", "created", "pipeline", "event", "run", "channel",
                   "attempts"):
        table.add_column(column, overflow="fold")
    for row in rows:
        incident = row.incident
        for name in row.channels or ["(none)"]:
            attempts = [d for d in row.deliveries if d.channel == name]
            tried = "\n".join(
                f"{d.attempt}. {styled(d.status)} {shown(d.at)}"
                + (f" {escape(d.error)}" if d.error else "") for d in attempts) or "pending"
            table.add_row(str(incident.id), shown(incident.created_at),
                          escape(incident.pipeline), incident.event, incident.run_id or "",
                          escape(name), tried)
    _console().print(table if rows else "no alerts yet")
