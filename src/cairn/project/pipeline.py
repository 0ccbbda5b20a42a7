"""A pipeline folder: its block files, parsed, and the optional `pipeline.yaml`."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cairn.blocks.parse import SQLTargets, parse_block
from cairn.blocks.spec import BlockSpec
from cairn.errors import CairnError, Problem, closest
from cairn.ids import BlockName
from cairn.project.conditions import TriggerRule, check_expression
from cairn.project.config import Project, RunSettings
from cairn.project.streaming import BatchSettings, RestartSettings, SinkSettings, SourceSettings
from cairn.project.triggers import SLASettings, TriggerSettings
from cairn.project.yaml_file import validate

PIPELINE_FILE = "pipeline.yaml"
BLOCK_SUFFIXES = {".py": "python", ".sql": "sql", ".R": "r", ".r": "r"}


class SensorSettings(BaseModel):
    """A sensor block runs again every `interval` seconds until its main output is truthy."""

    model_config = ConfigDict(extra="forbid")

    interval: float = Field(gt=0)
    timeout: float = Field(gt=0)


class BlockSettings(RunSettings):
    """Per-block settings in `pipeline.yaml`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    upstream: list[str] = Field(default_factory=list)
    sensor: SensorSettings | None = None
    connection: str | None = None
    materialize: Literal["table", "view"] | None = None
    write: Literal["replace", "append", "fail", "upsert"] | None = None
    key: list[str] | None = None  # `write: upsert`: the columns that identify a row
    dialect: str | None = None
    run_if: str | None = None  # runs only when this expression is true
    trigger_rule: TriggerRule = "all_success"
    condition: bool = False  # a false main output skips the blocks downstream
    fan_out: bool = False  # its main output is a list: mapped children run once per item
    partition_rows: int = Field(default=10_000, gt=0)  # a fan-out DataFrame's items' size
    map: Literal["zip", "cross"] | None = None  # run once per item of the fan-out parents
    # SQL: checkpoint name -> an expression over the block's table giving its new value.
    checkpoints: dict[str, str] = Field(default_factory=dict)

    @field_validator("run_if")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_expression(value)
            except SyntaxError as error:
                raise ValueError(f"run_if is not an expression: {error.msg}") from None
        return value


@dataclass(frozen=True)
class RunPolicy:
    """A block's effective retries, delays and timeout, once inherited; built-in defaults."""

    retries: int = 0
    retry_delay: float = 0.0
    retry_backoff: float = 1.0
    retry_max_delay: float | None = None
    timeout: float | None = None
    isolation: Literal["thread", "process"] = "thread"

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before `attempt` (1 for the first) of a run."""
        if attempt < 2:
            return 0.0
        delay = self.retry_delay * self.retry_backoff ** (attempt - 2)
        return delay if self.retry_max_delay is None else min(delay, self.retry_max_delay)


def resolve_policy(*layers: RunSettings) -> RunPolicy:
    """Each key from the first layer (most specific first) that sets it, even to null."""
    chosen: dict[str, Any] = {}
    for key in RunSettings.model_fields:
        setting = next((layer for layer in layers if key in layer.model_fields_set), None)
        if setting is not None and getattr(setting, key) is not None:
            chosen[key] = getattr(setting, key)
    return RunPolicy(**chosen)


class PipelineSettings(BaseModel):
    """What `pipeline.yaml` may hold."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    defaults: RunSettings = Field(default_factory=RunSettings)
    blocks: list[BlockSettings] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)
    triggers: list[TriggerSettings] = Field(default_factory=list)
    max_concurrent_runs: int = Field(default=1, ge=1)
    on_overlap: Literal["queue", "skip"] = "queue"  # a scheduled run while one is going
    sla: SLASettings | None = None  # alerts `sla_miss` when a run takes too long
    # A streaming pipeline runs its blocks on micro-batches from `source` into `sinks`.
    type: Literal["batch", "streaming"] = "batch"
    source: SourceSettings | None = None
    sinks: list[SinkSettings] = Field(default_factory=list)
    dead_letter: SinkSettings | None = None  # default: JSON lines under .cairn/streams/
    batch: BatchSettings = Field(default_factory=BatchSettings)
    restart: RestartSettings = Field(default_factory=RestartSettings)

    @model_validator(mode="after")
    def _streaming_parts(self) -> PipelineSettings:
        if self.type == "streaming" and (self.source is None or not self.sinks):
            raise ValueError("a streaming pipeline needs a `source` and at least one sink "
                             "under `sinks`")
        if self.type == "batch" and (self.source is not None or self.sinks):
            raise ValueError("`source` and `sinks` belong to a pipeline with "
                             "`type: streaming`")
        return self

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
    policies: dict[BlockName, RunPolicy]  # what the runner follows, defaults applied
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
    for linked, path in list(files.items()):
        if not project.is_inside(path):  # neither read, shown nor run
            del files[linked]
            problems.append(Problem(
                "outside-project", f"block file {path.name} links outside the project",
                file=str(path), hint="copy the file into the pipeline, or list the folder "
                "it links to under `allow_links_to:` in cairn.yaml"))
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
    policies = {b: resolve_policy(entry, settings.defaults, project.settings.block_defaults)
                for b, entry in block_settings.items()}
    for block_name, spec in blocks.items():
        if block_settings[block_name].sensor and spec.language == "sql":
            # A SQL block's output is a table, which is always there: it could never wait.
            problems.append(Problem(
                "sql-sensor", f"block {block_name} is a sensor, but a SQL block cannot be one",
                file=str(settings_file), hint="write the sensor as a Python or R block"))
        if block_settings[block_name].checkpoints and spec.language != "sql":
            problems.append(Problem(
                "checkpoints-setting", f"block {block_name} sets `checkpoints:`, which only "
                "SQL blocks read", file=str(settings_file),
                hint="a Python block calls context.set_checkpoint(name, value); an R block "
                "set_checkpoint(name, value)"))
    return Pipeline(name, folder, settings, blocks, block_settings, policies,
                    merged_variables, problems)
