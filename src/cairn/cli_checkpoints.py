"""`cairn checkpoints`: the committed checkpoints of incremental blocks, and resets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from cairn.times import shown

_VERSION = re.compile(r"v(\d+)")


def checkpoints(
    words: Annotated[list[str] | None, typer.Argument(
        metavar="[PIPELINE] | reset PIPELINE [BLOCK]", show_default=False,
        help="A pipeline whose checkpoints to list (all pipelines' without one); or `reset` "
        "with a pipeline and optionally one of its blocks.")] = None,
    history: Annotated[bool, typer.Option(
        "--history", help="List every version, not only the current values.")] = False,
    to: Annotated[str | None, typer.Option(
        "--to", help="With reset: `vN` goes back to the value of version N; anything else is "
        "the new value, as JSON (a bare word is a string). Default: no value, so the next "
        "run processes everything.", show_default=False)] = None,
    note: Annotated[str, typer.Option("--note", help="With reset: why, kept in the history."
                                      )] = "reset with `cairn checkpoints reset`",
    project: Annotated[Path | None, typer.Option("--project", "-p", help="Project folder.",
                                                 show_default=False)] = None,
) -> None:
    """List checkpoints (`cairn checkpoints [PIPELINE] [--history]`), or reset them for a
    backfill (`cairn checkpoints reset PIPELINE [BLOCK] [--to vN|VALUE]`). Every change,
    resets included, is kept as a version tied to its run."""
    from cairn.cli import _project

    found = _project(project)
    words = list(words or [])
    if words[:1] == ["reset"]:
        _reset(found, words[1:], to, note)
    else:
        _list(found, words, history)


def _list(found: Any, words: list[str], history: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from cairn import service
    from cairn.cli import _console
    from cairn.errors import CairnError, Problem

    if len(words) > 1:
        raise CairnError(Problem("bad-arguments", "give at most one pipeline",
                                 hint="cairn checkpoints [PIPELINE] [--history]"))
    rows = service.list_checkpoints(found, words[0] if words else None, history)
    console = _console()
    if not rows:
        console.print("no checkpoints yet")
        return
    table = Table(title="Checkpoint history" if history else "Checkpoints",
                  title_justify="left")
    for column in ("pipeline", "block", "name", "version", "value", "set by", "at",
                   "note"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.pipeline, row.block, row.name, str(row.version),
                      escape(row.value if row.value is not None else "(none)"),
                      escape(row.run_id or row.source), shown(row.created_at),
                      escape(row.note or ""))
    console.print(table)


def _reset(found: Any, words: list[str], to: str | None, note: str) -> None:
    from cairn import service
    from cairn.cli import _console
    from cairn.errors import CairnError, Problem

    if not 1 <= len(words) <= 2:
        raise CairnError(Problem("bad-arguments", "reset needs a pipeline and at most a block",
                                 hint="cairn checkpoints reset PIPELINE [BLOCK] [--to vN|VALUE]"))
    version = value = None
    if to is not None and (match := _VERSION.fullmatch(to)):
        version = int(match[1])
    elif to is not None:
        try:
            value = json.dumps(json.loads(to))
        except ValueError:
            value = json.dumps(to)  # a bare word: a string
    done = service.reset_checkpoints(found, words[0], words[1] if len(words) == 2 else None,
                                     version, value, note)
    console = _console()
    if not done:
        console.print("no checkpoints to reset")
    for block, name, new_version in done:
        console.print(f"{block}: {name} reset (version {new_version})")
