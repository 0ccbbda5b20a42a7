"""The project: found by its `cairn.yaml`, holding settings and the pipelines folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cairn.errors import CairnError, Problem, closest, relative
from cairn.project.ai import AISettings
from cairn.project.alerts import AlertSettings
from cairn.project.names import check_pipeline_name
from cairn.project.yaml_file import validate

PROJECT_FILE = "cairn.yaml"
STATE_DIR = ".cairn"


class RunSettings(BaseModel):
    """How a block's attempts are retried and timed out. A key left out here is inherited
    (a block's entry, then pipeline.yaml `defaults`, then cairn.yaml `block_defaults`);
    `null` means the built-in default (see `cairn.project.pipeline.RunPolicy`)."""

    model_config = ConfigDict(extra="forbid")

    retries: int | None = Field(default=None, ge=0)
    retry_delay: float | None = Field(default=None, ge=0)
    retry_backoff: float | None = Field(default=None, ge=1)
    retry_max_delay: float | None = Field(default=None, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    # `process`: a Python block runs in a process of its own, so one that ends the
    # interpreter (os._exit, a crashing C extension) fails alone.
    isolation: Literal["thread", "process"] | None = None


class RetentionSettings(BaseModel):
    """How long runs keep their files and their history (`cairn clean`; the scheduler applies
    it hourly). The files of each block's latest successful run are always kept."""

    model_config = ConfigDict(extra="forbid")

    outputs_days: float | None = Field(
        default=30, gt=0, description="delete outputs and logs of runs older than this")
    keep_last: int = Field(default=10, ge=0, description="newest runs per pipeline kept whole")
    history_days: float | None = Field(
        default=None, gt=0, description="delete run records older than this; null: never")

    @model_validator(mode="after")
    def _history_outlives_files(self) -> RetentionSettings:
        if (self.history_days is not None and self.outputs_days is not None
                and self.history_days < self.outputs_days):
            raise ValueError("history_days must not be shorter than outputs_days: a run's "
                             "files go before its record")
        return self


class ProjectSettings(BaseModel):
    """What `cairn.yaml` may hold."""

    model_config = ConfigDict(extra="forbid")

    name: str = "cairn-project"
    metadata_db: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite in .cairn/ by default"
    )
    warehouse: str = Field(default=f"{STATE_DIR}/warehouse.duckdb", description="DuckDB file")
    default_connection: str = Field(
        default="warehouse", description="connection of SQL blocks that name none"
    )
    max_parallel: int = Field(default=4, ge=1, le=256)
    block_defaults: RunSettings = Field(default_factory=RunSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per line, for log shippers")
    ai: AISettings = Field(default_factory=AISettings)
    allow_links_to: list[str] = Field(
        default_factory=list,
        description="folders outside the project that pipelines/ may link to (symlinks); "
        "relative paths are relative to the project")


@dataclass(frozen=True)
class Project:
    root: Path
    settings: ProjectSettings
    profile: str = "default"  # which profile of io_config.yaml is active

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def pipelines_dir(self) -> Path:
        return self.root / "pipelines"

    @property
    def metadata_url(self) -> str:
        return self.settings.metadata_db or f"sqlite:///{self.state_dir / 'cairn.db'}"

    @property
    def warehouse_path(self) -> Path:
        return self.root / self.settings.warehouse

    def pipeline_names(self) -> list[str]:
        """The pipelines: folders under pipelines/ with a valid name, not hidden, and not
        linking outside the project."""
        if not self.pipelines_dir.is_dir():
            return []
        return sorted(p.name for p in self.pipelines_dir.iterdir() if p.is_dir()
                      and not p.name.startswith((".", "_")) and self._valid(p.name)
                      and self.is_inside(p))

    @staticmethod
    def _valid(name: str) -> bool:
        try:
            check_pipeline_name(name)
        except CairnError:
            return False
        return True

    def is_inside(self, path: Path) -> bool:
        """Whether `path`, links followed, is in the project or a folder of `allow_links_to`."""
        resolved = path.resolve()
        root = self.root.resolve()
        allowed = [root, *((root / Path(p).expanduser()).resolve()
                           for p in self.settings.allow_links_to)]
        return any(resolved.is_relative_to(folder) for folder in allowed)

    def check_inside(self, path: Path) -> Path:
        """`path` if it stays in the project (see `is_inside`); else an `outside-project`
        problem, so that a link can neither show nor overwrite files elsewhere."""
        if not self.is_inside(path):
            raise CairnError(Problem(
                "outside-project", f"{relative(path, self.root)} links outside the project",
                hint="list the folder it links to under `allow_links_to:` in cairn.yaml if "
                "that is intended"))
        return path

    def pipeline_dir(self, name: str) -> Path:
        check_pipeline_name(name)  # a name, never a path: `/abs/dir` or `../x` go no further
        folder = self.pipelines_dir / name
        if not folder.is_dir() or name.startswith((".", "_")):
            raise CairnError(
                Problem(
                    "unknown-pipeline",
                    f"no pipeline named {name!r} in {self.pipelines_dir}",
                    hint=closest(name, self.pipeline_names()),
                )
            )
        return self.check_inside(folder)


def find_project(explicit: Path | None = None, start: Path | None = None,
                 profile: str | None = None) -> Project:
    """The project at `explicit`, or the nearest folder upwards holding `cairn.yaml`.
    The profile is `profile`, else $CAIRN_PROFILE, else `default`."""
    if explicit is not None:
        candidates = [explicit.resolve()]
    else:
        here = (start or Path.cwd()).resolve()
        candidates = [here, *here.parents]
    for folder in candidates:
        settings_file = folder / PROJECT_FILE
        if settings_file.is_file():
            chosen = profile or os.environ.get("CAIRN_PROFILE") or "default"
            return Project(folder, validate(ProjectSettings, settings_file), chosen)
    where = str(explicit) if explicit else f"{candidates[0]} or any folder above it"
    raise CairnError(
        Problem(
            "no-project",
            f"no {PROJECT_FILE} found in {where}",
            hint="run inside a project, pass --project DIR, or create one with `cairn init DIR`",
        )
    )
