"""`cairn clean`: apply the retention policy of cairn.yaml now, and say what it removed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cairn.times import shown


def clean(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be "
                       "removed.")] = False,
    project: Annotated[Path | None, typer.Option("--project", "-p", help="Project folder.",
                       show_default=False)] = None,
) -> None:
    """Remove outputs and logs of old runs (and old run records) as `retention:` in cairn.yaml
    says; the latest successful outputs of every block are always kept."""
    from rich.markup import escape
    from rich.table import Table

    from cairn import service
    from cairn.cli import _console, _project
    from cairn.cli_display import human_bytes
    from cairn.monitor.retention import clean as apply_retention

    found = _project(project)
    metadata = service.open_metadata(found)
    try:
        report = apply_retention(found, metadata, dry_run)
    finally:
        metadata.close()
    console = _console()
    verb = "would remove" if dry_run else "removed"
    if report.orphans:
        console.print(f"{verb} {len(report.orphans)} temporary files left by writes whose "
                      "process died")
    if not report.removals:
        if not report.orphans:
            console.print("nothing to clean")
        return
    table = Table(title=f"Runs cleaned{' (dry run)' if dry_run else ''}", title_justify="left")
    for column in ("run", "pipeline", "started", verb, "size", "record", "kept (latest)"):
        table.add_column(column, overflow="fold")
    for removal in report.removals:
        table.add_row(
            removal.run_id,
            removal.pipeline or "[dim](no record)[/]",
            shown(removal.started_at),
            f"{len(removal.paths)} files/folders" if removal.paths else "",
            human_bytes(removal.bytes),
            "deleted" if removal.record else "" if removal.pipeline is None else "kept",
            escape(", ".join(removal.kept)),
        )
    console.print(table)
    records = sum(1 for r in report.removals if r.record)
    console.print(f"{verb} files of {sum(1 for r in report.removals if r.paths)} runs "
                  f"({human_bytes(report.freed_bytes)}) and {records} run records")
