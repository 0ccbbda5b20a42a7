"""`cairn generate`, `cairn explain` and `cairn fix`: blocks written or read by a model."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any

import typer

ProjectOption = Annotated[Path | None, typer.Option(
    "--project", "-p", help="Project folder.", show_default=False)]
_LEXERS = {"python": "python", "sql": "sql", "r": "r"}


def generate(
    pipeline: Annotated[str, typer.Argument(help="Pipeline to add the block to.")],
    description: Annotated[str, typer.Argument(help="What the block should do.")],
    language: Annotated[str, typer.Option("--language", "-l",
                                          help="python, sql or r.")] = "python",
    name: Annotated[str | None, typer.Option(
        "--name", help="Block name (default: from the description).", show_default=False)
    ] = None,
    show_context: Annotated[bool, typer.Option(
        "--show-context", help="Print exactly what would be sent to the model; send nothing."
    )] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the block; write nothing."
                                          )] = False,
    project: ProjectOption = None,
) -> None:
    """Generate a block from a description, with the model of cairn.yaml's `ai.provider`
    or, without one, a built-in template. The block is validated before it is shown."""
    from cairn.ai import generate as ai
    from cairn.ai.contracts import contract
    from cairn.cli import _console, _project

    found = _project(project)
    contract(language)  # an unknown language fails before anything else
    console = _console()
    if show_context:
        from cairn.ai.context import build_context

        context = build_context(found, pipeline, language)
        console.print(ai.system_prompt(context), markup=False)
        console.print(f"\n--- request ---\n{description}", markup=False)
        return
    made = ai.generate_block(found, pipeline, description, language, name)
    _show_code(console, made.code, made.language)
    if made.source == "model":
        console.print(f"made by the model in {made.attempts} answer(s), "
                      f"{made.attempts - 1} repair round(s)", markup=False)
    else:
        console.print(f"made from the built-in template {made.template!r} (no model is "
                      "configured)", markup=False)
    if made.problems:
        from cairn.errors import CairnError

        raise CairnError(made.problems)
    if not dry_run:
        path = ai.save_block(found, pipeline, made)
        console.print(f"wrote {path.relative_to(found.root)}", markup=False)


def explain(
    pipeline: Annotated[str, typer.Argument(help="Pipeline of the block.")],
    block: Annotated[str, typer.Argument(help="Block to explain.")],
    project: ProjectOption = None,
) -> None:
    """Explain what a block does (with the configured model; else what Cairn knows of it)."""
    from cairn.ai.generate import explain_block
    from cairn.cli import _console, _project

    _console().print(explain_block(_project(project), pipeline, block), markup=False)


def fix(
    pipeline: Annotated[str, typer.Argument(help="Pipeline of the block.")],
    block: Annotated[str, typer.Argument(help="Block to fix.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff; write nothing."
                                          )] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write without asking.")] = False,
    project: ProjectOption = None,
) -> None:
    """Ask the model to fix a block from its source and its latest failed run; shows the
    diff and writes it on confirmation."""
    from cairn.ai.generate import fix_block, save_block
    from cairn.cli import _console, _project

    found = _project(project)
    made = fix_block(found, pipeline, block)
    console = _console()
    old = (made.context.target or {}).get("source", "")
    diff = difflib.unified_diff(str(old).splitlines(keepends=True),
                                made.code.splitlines(keepends=True), f"{block} (saved)",
                                f"{block} (fixed)")
    _show_code(console, "".join(diff) or "(no change)\n", "diff")
    console.print(f"{made.attempts - 1} repair round(s)", markup=False)
    if dry_run or not (yes or typer.confirm("Write the fixed block?", default=False)):
        return
    path = save_block(found, pipeline, made, replace=True)
    console.print(f"wrote {path.relative_to(found.root)}", markup=False)


def _show_code(console: Any, code: str, language: str) -> None:
    from rich.syntax import Syntax

    console.print(Syntax(code, _LEXERS.get(language, language), theme="ansi_dark"))
