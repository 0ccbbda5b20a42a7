"""`cairn stats [PIPELINE]`: every pipeline's health, or one pipeline's runs, days and
blocks, over a window of days (the numbers of the web UI's dashboard)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cairn.times import shown

if TYPE_CHECKING:
    from rich.table import Table

    from cairn.monitor.stats import Health, Trend

RECENT_RUNS = 20


def stats(
    pipeline: Annotated[str | None, typer.Argument(
        help="Show this pipeline's runs, failures per day and blocks.")] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="The window: this many days "
                                      "up to today (UTC).")] = 7,
    project: Annotated[Path | None, typer.Option(
        "--project", "-p", help="The project folder (default: found upwards from here).",
        show_default=False)] = None,
) -> None:
    """Pipelines' health: last run, success rate, p50/p95 duration, next scheduled run."""
    from cairn import cli, service
    from cairn.monitor.stats import health, trend

    found = cli._project(project)
    metadata = service.open_metadata(found)
    try:
        if pipeline is None:
            rows = health(found, metadata, days)
            cli._console().print(_health_table(rows, days) if rows else "no pipelines")
        else:
            _print_trend(trend(found, metadata, pipeline, days))
    finally:
        metadata.close()


def _health_table(rows: list[Health], days: int) -> Table:
    from rich.table import Table

    from cairn.cli_display import styled

    table = Table(title=f"Pipelines, last {days} days", title_justify="left")
    for column in ("pipeline", "last run", "status", "started", "runs", "success",
                   "p50", "p95", "active", "next run"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        last = row.last_run
        table.add_row(row.pipeline, last.id if last else "never",
                      styled(last.status) if last else "", shown(last.started_at if last else None),
                      str(row.runs), _rate(row.success_rate), _seconds(row.p50_s),
                      _seconds(row.p95_s), str(row.active or ""),
                      shown(row.next_run) if row.problem is None else "[red]broken[/]")
    return table


def _print_trend(found: Trend) -> None:
    from rich.markup import escape
    from rich.table import Table

    from cairn.cli import _console
    from cairn.cli_display import human_bytes, styled

    h = found.health
    console = _console()
    console.print(f"[bold]{escape(h.pipeline)}[/], last {h.days} days: {h.runs} finished runs, "
                  f"{h.failures} failed, success {_rate(h.success_rate)}, "
                  f"p50 {_seconds(h.p50_s) or '-'}, p95 {_seconds(h.p95_s) or '-'}; "
                  f"next run {shown(h.next_run) or 'not scheduled'}")
    if h.problem:
        console.print(f"[red]{escape(h.problem)}[/]")
    if not found.runs:
        return
    runs = Table(title=f"Latest runs (of {len(found.runs)})", title_justify="left")
    for column in ("run", "started", "status", "trigger", "duration", "rows out",
                   "output", "peak memory", "CPU"):
        runs.add_column(column, no_wrap=True)
    for run in found.runs[::-1][:RECENT_RUNS]:
        runs.add_row(run.id, shown(run.started_at), styled(run.status), run.trigger or "",
                     _seconds(run.duration_s),
                     "" if run.rows_out is None else f"{run.rows_out:,}",
                     human_bytes(run.output_bytes), human_bytes(run.peak_memory_bytes),
                     _seconds(run.cpu_seconds))
    console.print(runs)
    per_day = Table(title="Days with runs", title_justify="left")
    for column in ("day (UTC)", "runs", "failed"):
        per_day.add_column(column, no_wrap=True)
    for day in found.days:
        if day.runs:
            per_day.add_row(day.day.isoformat(), str(day.runs),
                            f"[red]{day.failures}[/]" if day.failures else "0")
    console.print(per_day)
    blocks = Table(title="Blocks, slowest first", title_justify="left")
    for column in ("block", "attempts", "failed", "p50", "p95"):
        blocks.add_column(column, no_wrap=True)
    for block in found.blocks:
        blocks.add_row(block.block, str(block.runs), str(block.failures),
                       _seconds(block.p50_s), _seconds(block.p95_s))
    console.print(blocks)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}s"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
