"""Rename a block and, if asked, the references its readers make to its old name.

Renaming `orders.sql` to `sales.sql` renames its table; a block that read `orders` would
then read a name nothing defines. The readers are the blocks that read the old name when
nothing else will define it after the rename. Every reader's new text is made (and
parsed) before any file changes, so a reader that cannot be rewritten stops the rename.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cairn.atomic import write_atomically
from cairn.blocks.spec import BlockSpec
from cairn.errors import CairnError, Problem, closest, relative
from cairn.project import editing
from cairn.project.config import Project
from cairn.project.lock import edit_lock
from cairn.project.pipeline import Pipeline, load_pipeline


@dataclass(frozen=True)
class Reader:
    """A block that reads the renamed block's old name."""

    block: str
    file: str  # relative to the project
    language: str
    # False when the reader has no positions to edit by (R, templated SQL): by hand.
    updatable: bool
    updated: bool = False


@dataclass(frozen=True)
class Renamed:
    block: editing.BlockFile
    readers: list[Reader]


def _readers(pipeline: Pipeline, old: str) -> list[BlockSpec]:
    """Blocks that read `old` and would find nothing under that name after the rename."""
    if old not in pipeline.blocks:
        raise CairnError(Problem("unknown-block", f"pipeline {pipeline.name} has no block "
                                 f"{old!r}", hint=closest(old, pipeline.blocks)))
    renamed = pipeline.blocks[old]  # type: ignore[index]
    # A script-style Python or R block's outputs are its variables, not its file name.
    keeps_outputs = renamed.language == "r" or renamed.style == "script"
    still_defined = (old in renamed.defines and keeps_outputs) or old in pipeline.variables \
        or any(old in spec.defines for name, spec in pipeline.blocks.items() if name != old)
    if still_defined:
        return []
    return [spec for name, spec in pipeline.blocks.items()
            if name != old and old in spec.references]


def _updatable(spec: BlockSpec) -> bool:
    templated = "{{" in spec.source or "{%" in spec.source
    return spec.language == "python" or (spec.language == "sql" and not templated)


def _new_text(project: Project, spec: BlockSpec, old: str, new: str) -> str | None:
    """The reader's source reading `new`; None when it must be updated by hand."""
    from cairn.blocks.rename import rename_python_input, rename_sql_table

    filename = relative(spec.file, project.root)
    if spec.language == "python":
        return rename_python_input(spec.source, filename, old, new)
    if spec.language == "sql":
        from cairn.io.config import load_connections

        connection = load_connections(project).get(spec.connection or "")
        return rename_sql_table(spec.source, filename, old, new, spec.dialect or "duckdb",
                                connection.schema if connection is not None else None)
    return None


def readers_of(project: Project, pipeline: str, block: str) -> list[Reader]:
    """The blocks a rename of `block` would break, and whether each can be rewritten."""
    loaded = load_pipeline(project, pipeline)
    return [Reader(spec.name, relative(spec.file, project.root), spec.language,
                   _updatable(spec))
            for spec in _readers(loaded, block)]


def rename_block(project: Project, pipeline: str, old: str, new: str,
                 update_readers: bool = False) -> Renamed:
    """Rename `old` to `new`; with `update_readers`, rewrite the readers that can be (the
    others are listed, not updated)."""
    with edit_lock(project):  # the readers read now are the readers rewritten
        loaded = load_pipeline(project, pipeline)
        readers = _readers(loaded, old)
        rewritten: dict[Path, str] = {}
        if update_readers:
            for spec in readers:  # all of them, before anything is written
                text = _new_text(project, spec, old, new)
                if text is not None:
                    rewritten[project.check_inside(spec.file)] = text
        block = editing.rename_block(project, pipeline, old, new)
        for path, text in rewritten.items():
            write_atomically(path, text.encode("utf-8"))
    return Renamed(block, [
        Reader(spec.name, relative(spec.file, project.root), spec.language,
               _updatable(spec), spec.file in rewritten)
        for spec in readers])
