"""Change a pipeline's files from the notebook: save, add, rename and delete blocks.

Saving compares the file with the version the editor started from, so an edit made
outside the browser is never silently overwritten. `pipeline.yaml` is edited round-trip
(comments and order kept) so that it follows renames and deletions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.atomic import write_atomically
from cairn.errors import CairnError, Problem, closest, relative
from cairn.project.config import Project
from cairn.project.pipeline import BLOCK_SUFFIXES, PIPELINE_FILE, block_files

SUFFIX_OF = {"python": ".py", "sql": ".sql", "r": ".R"}
TEMPLATES = {
    "python": "# Top-level names are this block's outputs; names other blocks define are "
              "its inputs.\n",
    "sql": "-- The result of the last query becomes a table named after this block.\n"
           "SELECT 1 AS one\n",
    "r": "# Top-level assignments are this block's outputs.\n",
}


@dataclass(frozen=True)
class BlockFile:
    name: str
    language: str
    file: str  # relative to the project
    source: str
    hash: str


class EditConflict(Exception):
    """The file changed on disk since the editor loaded it."""

    def __init__(self, current: BlockFile) -> None:
        super().__init__(f"{current.file} changed on disk")
        self.current = current


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _block_path(project: Project, pipeline: str, block: str) -> Path:
    files = block_files(project.pipeline_dir(pipeline))
    if block not in files:
        raise CairnError(Problem("unknown-block", f"pipeline {pipeline} has no block {block!r}",
                                 hint=closest(block, files)))
    return files[block]  # type: ignore[index]


def read_block(project: Project, pipeline: str, block: str) -> BlockFile:
    path = _block_path(project, pipeline, block)
    data = path.read_bytes()
    return BlockFile(block, BLOCK_SUFFIXES[path.suffix], relative(path, project.root),
                     data.decode("utf-8"), content_hash(data))


def save_block(project: Project, pipeline: str, block: str, source: str,
               base_hash: str | None) -> BlockFile:
    """Write a block's new source, unless the file changed since `base_hash`."""
    current = read_block(project, pipeline, block)
    if base_hash is not None and base_hash != current.hash:
        raise EditConflict(current)
    write_atomically(_block_path(project, pipeline, block), source.encode("utf-8"))
    return read_block(project, pipeline, block)


def _check_name(name: str, taken: dict[Any, Path]) -> None:
    if not name.isidentifier() or name.startswith("_"):
        raise CairnError(Problem("bad-name", f"{name!r} cannot name a block",
                                 hint="use letters, digits and underscores, starting with a "
                                 "letter (it becomes a table and variable name)"))
    if name in taken:
        raise CairnError(Problem("block-exists", f"a block named {name!r} exists already"))


def create_block(project: Project, pipeline: str, name: str, language: str) -> BlockFile:
    folder = project.pipeline_dir(pipeline)
    if language not in SUFFIX_OF:
        raise CairnError(Problem("bad-language", f"unknown block language {language!r}",
                                 hint="python, sql or r"))
    _check_name(name, block_files(folder))
    write_atomically(folder / f"{name}{SUFFIX_OF[language]}", TEMPLATES[language].encode())
    _edit_settings(folder, lambda blocks: blocks.append(name))
    return read_block(project, pipeline, name)


def rename_block(project: Project, pipeline: str, old: str, new: str) -> BlockFile:
    folder = project.pipeline_dir(pipeline)
    path = _block_path(project, pipeline, old)
    _check_name(new, block_files(folder))
    path.rename(path.with_name(new + path.suffix))

    def rename(blocks: Any) -> None:
        for index, entry in enumerate(blocks):
            if entry == old:
                blocks[index] = new
            elif isinstance(entry, dict) and entry.get("name") == old:
                entry["name"] = new

    _edit_settings(folder, rename)
    return read_block(project, pipeline, new)


def delete_block(project: Project, pipeline: str, block: str) -> None:
    folder = project.pipeline_dir(pipeline)
    _block_path(project, pipeline, block).unlink()

    def remove(blocks: Any) -> None:
        for entry in list(blocks):
            if entry == block or (isinstance(entry, dict) and entry.get("name") == block):
                blocks.remove(entry)

    _edit_settings(folder, remove)


def _edit_settings(folder: Path, change: Any) -> None:
    """Apply `change` to the `blocks:` list of pipeline.yaml, keeping comments and order.
    Without a `blocks:` list the display order is by file name, so there is nothing to do."""
    import io

    from ruamel.yaml import YAML

    path = folder / PIPELINE_FILE
    if not path.is_file():
        return
    yaml = YAML()
    document = yaml.load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("blocks"), list):
        return
    change(document["blocks"])
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    write_atomically(path, buffer.getvalue().encode("utf-8"))


def project_file(project: Project, path: str) -> Path:
    """A file inside the project; anything that resolves outside it is refused."""
    root = project.root.resolve()
    candidate = (root / path).resolve()
    if Path(path).is_absolute() or not candidate.is_relative_to(root):
        raise PermissionError(f"{path} is outside the project")
    return candidate
