"""A pipeline folder: its block files, parsed, and the optional `pipeline.yaml`."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cairn.blocks.parse import SQLTargets, parse_block
from cairn.blocks.spec import BlockSpec
from cairn.errors import CairnError, Problem, closest
from cairn.ids import BlockName
from cairn.project.config import Project
from cairn.project.yaml_file import validate

PIPELINE_FILE = "pipeline.yaml"
BLOCK_SUFFIXES = {".py": "python", ".sql": "sql", ".R": "r", ".r": "r"}


class BlockSettings(BaseModel):
    """Per-block settings in `pipeline.yaml`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    upstream: list[str] = Field(default_factory=list)
    retries: int = Field(default=0, ge=0)
    retry_delay: float = Field(default=0.0, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    connection: str | None = None
    materialize: Literal["table", "view"] | None = None
    write: Literal["replace", "append", "fail"] | None = None
    dialect: str | None = None


class PipelineSettings(BaseModel):
    """What `pipeline.yaml` may hold."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    blocks: list[BlockSettings] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)

    @field_validator("blocks", mode="before")
    @classmethod
    def _names_are_settings(cls, value: Any) -> Any:
        """`- load_orders` is short for `- name: load_orders`."""
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value


@dataclass
class Pipeline:
    """A loaded pipeline: blocks in display order, their settings, and any problems."""

    name: str
    folder: Path
    settings: PipelineSettings
    blocks: dict[BlockName, BlockSpec]
    block_settings: dict[BlockName, BlockSettings]
    variables: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)


def block_files(folder: Path) -> dict[BlockName, Path]:
    """Every block file in a pipeline folder, by block name."""
    files: dict[BlockName, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix in BLOCK_SUFFIXES and path.is_file() and not path.name.startswith(
            (".", "_")
        ):
            files[BlockName(path.stem)] = path
    return files


def load_pipeline(
    project: Project, name: str, variables: Mapping[str, Any] | None = None,
    sources: Mapping[str, str] | None = None,
) -> Pipeline:
    """Read a pipeline folder. Problems in blocks are collected, not raised. `sources`
    stand in for the saved text of some blocks (the notebook's unsaved edits)."""
    folder = project.pipeline_dir(name)
    settings_file = folder / PIPELINE_FILE
    settings = (
        validate(PipelineSettings, settings_file) if settings_file.is_file()
        else PipelineSettings()
    )
    merged_variables = {**settings.variables, **(variables or {})}
    files = block_files(folder)
    configured = {entry.name: entry for entry in settings.blocks}
    problems: list[Problem] = []
    for block_name in configured:
        if block_name not in files:
            problems.append(
                Problem(
                    "unknown-block",
                    f"pipeline.yaml names block {block_name!r} but there is no "
                    f"{block_name}.py, .sql or .R",
                    file=str(settings_file),
                    hint=closest(block_name, files),
                )
            )

    order = [BlockName(b) for b in configured if b in files]
    order += [b for b in files if b not in configured]
    r_files = [path for path in files.values() if BLOCK_SUFFIXES[path.suffix] == "r"]
    if r_files:  # one R process parses them all; parse_block then reads the cache
        from cairn.blocks.r_analysis import analyze_r

        with contextlib.suppress(CairnError):  # each R block reports it below, with its file
            analyze_r(r_files)
    targets = None
    if any(path.suffix == ".sql" for path in files.values()):
        from cairn.io.config import load_connections

        targets = SQLTargets(load_connections(project), project.settings.default_connection)
    blocks: dict[BlockName, BlockSpec] = {}
    for block_name in order:
        path = files[block_name]
        settings_of = configured.get(block_name)
        try:
            blocks[block_name] = parse_block(
                block_name, path, merged_variables, targets,
                settings_of.connection if settings_of else None,
                settings_of.dialect if settings_of else None,
                (sources or {}).get(block_name))
        except CairnError as error:
            problems.extend(error.problems)
            language = BLOCK_SUFFIXES[path.suffix]
            blocks[block_name] = BlockSpec(block_name, language, path, "")  # type: ignore[arg-type]
    block_settings = {
        b: configured.get(b) or BlockSettings(name=b) for b in blocks
    }
    return Pipeline(name, folder, settings, blocks, block_settings, merged_variables, problems)
