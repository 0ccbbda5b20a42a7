"""How the CLI shows runs and data: live progress, logs, summary tables."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cairn.ids import BlockName, item_of
from cairn.runtime.runner import Outcome

STATUS_STYLE = {
    "success": "green",
    "failed": "red",
    "upstream_failed": "yellow",
    "interrupted": "magenta",
    "cancelled": "yellow",
    "running": "cyan",
    "skipped": "dim",
}
MARK = {"success": "✓", "failed": "✗", "upstream_failed": "↷", "skipped": "⊘", "cancelled": "■"}


def human_bytes(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


class ProgressDisplay:
    """A progress bar with each block's log lines and results printed above it as they come."""

    def __init__(self, console: Console, total: int, show_logs: bool = True) -> None:
        self.console = console
        self.show_logs = show_logs
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("running", total=total)
        self.running: list[BlockName] = []
        self.outcomes: dict[BlockName, Outcome] = {}
        self.attempts: dict[BlockName, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> ProgressDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _describe(self) -> None:
        names = ", ".join(self.running[:4]) + (" …" if len(self.running) > 4 else "")
        self.progress.update(self.task, description=f"running {names}" if names else "running")

    def block_started(self, block: BlockName, attempt: int) -> None:
        with self._lock:
            self.attempts[block] = attempt
            if attempt > 1:
                self.console.print(f"[yellow]↻ {block}: retry, attempt {attempt}[/]")
            self.running.append(block)
            self._describe()

    def block_output(self, block: BlockName, stream: str, line: str) -> None:
        if self.show_logs:
            style = "red" if stream == "stderr" else "dim"
            self.console.print(f"[{style}]{escape(block)} │[/] {escape(line)}", highlight=False)

    def block_finished(self, block: BlockName, outcome: Outcome) -> None:
        with self._lock:
            if block in self.running:
                self.running.remove(block)
            if item_of(block) is not None:  # shown if it fails; its block's line sums them up
                if outcome.status == "failed":
                    self.console.print(f"[red]✗ {escape(block)}: "
                                       f"{escape(outcome.failure.describe())}[/]"
                                       if outcome.failure else f"✗ {escape(block)}")
                return
            self.outcomes[block] = outcome
            if outcome.status != "failed" or outcome.attempt == 0:
                self.progress.advance(self.task)
            self._describe()
            mark = MARK.get(outcome.status, "•")
            line = f"{mark} {escape(block)} {styled(outcome.status)}"
            if outcome.attempt:
                line += f" [dim]{outcome.duration_s:.2f}s[/]"
            self.console.print(line)
            if outcome.failure and outcome.status == "failed":
                self.console.print(f"[red]{escape(outcome.failure.describe())}[/]",
                                   highlight=False)
            elif outcome.failure:  # not run: say why
                self.console.print(f"  [dim]{escape(outcome.failure.message)}[/]")


def block_counts(attempts: Sequence[Any], blocks: int) -> str:
    """`ok/blocks ok` for a run's list: blocks count, the items of mapped blocks (recorded
    as `block[i]`) are said apart, so a fan-out never shows more successes than blocks."""
    latest = {a.block: a.status for a in attempts}  # the last attempt of each unit
    ok = sum(1 for unit, status in latest.items()
             if status == "success" and item_of(unit) is None)
    items = sum(1 for unit in latest if item_of(unit) is not None)
    return f"{ok}/{blocks} ok" + (f" (+{items} items)" if items else "")


def limited(value: Any, limit: int) -> tuple[Any, str | None]:
    """A list or tuple cut to `limit` items, with a note saying so; anything else as is
    (tables are cut where they are printed)."""
    if isinstance(value, list | tuple) and len(value) > limit:
        return value[:limit], f"first {limit:,} of {len(value):,} items (--limit)"
    return value, None


def profile_table(profile: Sequence[Mapping[str, Any]], title: str) -> Table:
    """A SQL block's statements with the line each starts on, its time and rows."""
    table = Table(title=title, title_justify="left")
    for column in ("statement", "line", "seconds", "rows"):
        table.add_column(column, justify="right", no_wrap=True)
    for entry in profile:
        rows = entry.get("rows")
        table.add_row(str(entry["statement"]), str(entry["line"]), f"{entry['seconds']:.3f}",
                      "" if rows is None else f"{rows:,}")
    return table


def output_size(outcome: Outcome) -> str:
    """What a block's outputs take: bytes on disk, or for a table kept in a database (whose
    bytes the database does not tell) its rows and where it is."""
    tables = [o for o in outcome.stored if o.kind == "table"]
    if tables and len(tables) == len(outcome.stored):
        where = ", ".join(dict.fromkeys(o.connection or "warehouse" for o in tables))
        rows = "" if outcome.rows_out is None else f"{outcome.rows_out:,} rows "
        return f"{rows}in {where}"
    return human_bytes(outcome.output_bytes) if outcome.stored else ""


def summary_table(display: ProgressDisplay, order: Sequence[BlockName],
                  statuses: Mapping[BlockName, str] | None = None) -> Table:
    """The run's blocks; `statuses` (the run's result) names those stopped while running."""
    table = Table(title="Run summary", title_justify="left")
    for column, justify in (("block", "left"), ("status", "left"), ("attempts", "right"),
                            ("duration", "right"), ("rows", "right"), ("output", "right")):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for block in order:
        outcome = display.outcomes.get(block)
        if outcome is None and (statuses or {}).get(block) == "cancelled":
            table.add_row(block, styled("cancelled"), str(display.attempts.get(block, "")),
                          "", "", "")
            continue
        if outcome is None:
            table.add_row(block, styled("success"), "", "", "", "done before resume")
            continue
        table.add_row(
            block,
            styled(outcome.status),
            str(outcome.attempt or ""),
            f"{outcome.duration_s:.2f}s" if outcome.attempt else "",
            "" if outcome.rows_out is None else f"{outcome.rows_out:,}",
            output_size(outcome),
        )
    return table


def value_table(value: Any, limit: int, title: str) -> Table | str:
    """A rich table for a DataFrame-like value; a repr for anything else."""
    from cairn.runtime.values import table_kind

    kind = table_kind(value)
    if kind is None:
        shown, note = limited(value, limit)
        return repr(shown) + (f"\n… {note}" if note else "")
    frame = to_pandas(value, kind)
    table = Table(title=f"{title} ({len(frame):,} rows, {len(frame.columns)} columns)",
                  title_justify="left")
    for column, dtype in frame.dtypes.items():
        table.add_column(f"{column}\n[dim]{dtype}[/]")
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*(escape(str(cell)) for cell in row))
    return table


def to_pandas(value: Any, kind: str | None) -> Any:
    if kind == "polars":
        return value.to_pandas()
    if kind == "arrow":
        return value.to_pandas()
    return value
