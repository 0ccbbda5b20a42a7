"""Change a pipeline's files from the notebook: save, add, rename and delete blocks.

Saving compares the file with the version the editor started from, so an edit made
outside the browser is never silently overwritten. `pipeline.yaml` is edited round-trip
(comments and order kept) so that it follows renames and deletions. Every change reads,
checks and writes under the project's edit lock (`cairn.project.lock`) and writes whole
files atomically: of two editors saving from one version, one wins and the other gets a
conflict; fifty blocks added at once are fifty entries of `blocks:`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.atomic import write_atomically
from cairn.errors import CairnError, Problem, closest, relative
from cairn.project.config import Project
from cairn.project.lock import edit_lock
from cairn.project.names import check_pipeline_name
from cairn.project.pipeline import BLOCK_SUFFIXES, PIPELINE_FILE, block_files

SUFFIX_OF = {"python": ".py", "sql": ".sql", "r": ".R"}
_NEW_PIPELINE = ("# Settings of this pipeline (docs/projects.md). Its blocks are the .py, .sql "
                 "and .R files\n# of this folder; `blocks:` lists them in display order.\n"
                 "description: \"\"\n")
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
    return project.check_inside(files[block])  # type: ignore[index]


def read_block(project: Project, pipeline: str, block: str) -> BlockFile:
    path = _block_path(project, pipeline, block)
    data = path.read_bytes()
    return BlockFile(block, BLOCK_SUFFIXES[path.suffix], relative(path, project.root),
                     data.decode("utf-8"), content_hash(data))


def save_block(project: Project, pipeline: str, block: str, source: str,
               base_hash: str | None) -> BlockFile:
    """Write a block's new source, unless the file changed since `base_hash`."""
    with edit_lock(project):  # compare and swap: nobody writes between the check and ours
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
    with edit_lock(project):
        _check_name(name, block_files(folder))
        write_atomically(folder / f"{name}{SUFFIX_OF[language]}",
                         TEMPLATES[language].encode())
        _edit_settings(folder, lambda blocks: blocks.append(name))
        return read_block(project, pipeline, name)


def rename_block(project: Project, pipeline: str, old: str, new: str) -> BlockFile:
    with edit_lock(project):
        folder = project.pipeline_dir(pipeline)
        path = _block_path(project, pipeline, old)
        _check_name(new, block_files(folder))
        path.rename(path.with_name(new + path.suffix))
        _edit_settings(folder, _renamer(old, new))
        return read_block(project, pipeline, new)


def _renamer(old: str, new: str) -> Any:
    """A change of `blocks:` naming `new` where it named `old`."""

    def rename(blocks: Any) -> None:
        for index, entry in enumerate(blocks):
            if entry == old:
                blocks[index] = new
            elif isinstance(entry, dict) and entry.get("name") == old:
                entry["name"] = new

    return rename


def delete_block(project: Project, pipeline: str, block: str) -> None:
    with edit_lock(project):
        folder = project.pipeline_dir(pipeline)
        _block_path(project, pipeline, block).unlink()
        _edit_settings(folder, _remover(block))


def _remover(block: str) -> Any:
    def remove(blocks: Any) -> None:
        for entry in list(blocks):
            if entry == block or (isinstance(entry, dict) and entry.get("name") == block):
                blocks.remove(entry)

    return remove


def reorder_blocks(project: Project, pipeline: str, order: list[str]) -> None:
    """Write `order` (every block of the pipeline, once) as the `blocks:` list of
    pipeline.yaml: entries with settings keep them, other lines and comments stay."""
    with edit_lock(project):
        _reorder(project, pipeline, order)


def _reorder(project: Project, pipeline: str, order: list[str]) -> None:
    folder = project.pipeline_dir(pipeline)
    files = block_files(folder)
    if sorted(order) != sorted(files):
        missing = sorted(set(files) - set(order))
        extra = sorted(set(order) - set(files)) + sorted({b for b in order if order.count(b) > 1})
        raise CairnError(Problem(
            "bad-order", f"a new order must name every block of {pipeline} once"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; unknown or repeated: {', '.join(extra)}" if extra else ""),
            hint="reload the page: blocks were added, renamed or deleted meanwhile"))

    def reorder(blocks: Any) -> None:
        def name_of(entry: Any) -> Any:
            return entry.get("name") if isinstance(entry, dict) else entry

        entries = {name_of(entry): entry for entry in blocks}
        unknown = [entry for entry in blocks if name_of(entry) not in files]
        blocks[:] = [entries.get(name, name) for name in order] + unknown

    _edit_settings(folder, reorder, create=True)


def create_pipeline(project: Project, name: str) -> None:
    """An empty pipeline: its folder with a pipeline.yaml saying what goes in it."""
    check_pipeline_name(name)
    folder = project.pipelines_dir / name
    with edit_lock(project):
        if folder.exists() or folder.is_symlink():
            raise CairnError(Problem("pipeline-exists", f"pipeline {name} exists already",
                                     file=relative(folder, project.root)))
        project.check_inside(project.pipelines_dir)  # a linked pipelines/ must be allowed
        folder.mkdir(parents=True)
        write_atomically(folder / PIPELINE_FILE, _NEW_PIPELINE.encode("utf-8"))


def _edit_settings(folder: Path, change: Any, create: bool = False) -> None:
    """Apply `change` to the `blocks:` list of pipeline.yaml, keeping comments and order.
    Without a `blocks:` list the display order follows the DAG, so there is nothing to do,
    unless `create` asks for the list (and the file) to be made."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    path = folder / PIPELINE_FILE
    if not path.is_file() and not create:
        return
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    document = yaml.load(path.read_text(encoding="utf-8")) if path.is_file() else None
    if document is None and create:  # no file, or an empty one
        document = CommentedMap()
    if not isinstance(document, dict):
        return
    if not isinstance(document.get("blocks"), list):
        if not create:
            return
        document["blocks"] = CommentedSeq()
    change(document["blocks"])
    if not document["blocks"]:
        document["blocks"].fa.set_flow_style()  # `blocks: []`, not `blocks:` (null)
    else:
        document["blocks"].fa.set_block_style()
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    write_atomically(path, buffer.getvalue().encode("utf-8"))


# Files the file API never serves: they hold credentials (io_config.yaml may hold
# passwords inline) or Cairn's own state; hidden files (.env, .git) are refused as well.
PRIVATE_FILES = ("secrets.yaml", "io_config.yaml")


def project_file(project: Project, path: str) -> Path:
    """A file inside the project that may be shown; anything that resolves outside it
    (links followed), a secret or a hidden file is refused."""
    root = project.root.resolve()
    if "\0" in path or Path(path).is_absolute():
        raise PermissionError(f"{path!r} is not a path inside the project")
    candidate = (root / path).resolve()
    if not candidate.is_relative_to(root):
        raise PermissionError(f"{path} is outside the project")
    parts = candidate.relative_to(root).parts
    if any(part.startswith(".") for part in parts) or (
            parts and parts[0] in PRIVATE_FILES):
        raise PermissionError(f"{path} is not served: it may hold secrets or Cairn's state")
    return candidate
