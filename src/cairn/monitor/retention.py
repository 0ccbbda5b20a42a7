"""Retention: remove the files of old runs, and old run records, as cairn.yaml's `retention`
says, without ever removing what a later run reads.

A run's files are `.cairn/runs/<run>/<unit>/` (outputs) and `<unit>.log`, where a unit is a
block or an item `block[i]` of a mapped block. They are kept when the run is going or
queued, is among its pipeline's `keep_last` newest, or is younger than `outputs_days`; and
a unit's files are always kept when its block run is the one `latest_success` finds (the
runner reads it for blocks that do not run), with the items of a kept mapped block. For a
pipeline with runs going, the outputs those runs may have read when they started are kept
as well.

Stopping a clean at any moment leaves nothing that breaks a later run: the history first
forgets a unit's files (its outputs keep their name and size, with no file), then they are
deleted; a run's record is deleted before its folder; and a later clean deletes what a
stopped one left: a folder of an expired run, or one no record names. It also deletes the
temporary files of writes (outputs, saved blocks) whose process died before renaming them
(`atomic.py`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.atomic import orphaned_temporaries, remove_orphaned_temporaries
from cairn.ids import item_of
from cairn.project.config import Project, RetentionSettings

if TYPE_CHECKING:
    from cairn.store.metadata import MetadataStore

NOT_FINISHED = ("queued", "starting", "running")


@dataclass
class Removal:
    """What one clean takes, or would take, of one run."""

    run_id: str
    pipeline: str | None  # None: a folder that no run record names
    started_at: datetime | None
    paths: list[Path] = field(default_factory=list)
    bytes: int = 0
    record: bool = False  # the run's record goes too
    kept: list[str] = field(default_factory=list)  # units kept as the latest successes


@dataclass
class CleanReport:
    removals: list[Removal]
    dry_run: bool
    # Temporaries of writes whose process died, removed (or, dry, to be removed).
    orphans: list[Path] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(r.bytes for r in self.removals)


def clean(project: Project, metadata: MetadataStore, dry_run: bool = False,
          now: datetime | None = None) -> CleanReport:
    """Apply the project's retention (or, with `dry_run`, only say what it would remove)."""
    from cairn.store.metadata import utcnow

    runs_dir = project.state_dir / "runs"
    # Listed before the history is read: a folder that appears later belongs to a run
    # whose record exists by then, and must not pass for an orphan.
    folders = sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    summaries = metadata.run_summaries()
    removals = _plan(project.settings.retention, folders, summaries, _kept_units(metadata),
                     now or utcnow())
    # Outputs, notebook values and stream inboxes are under the state folder; the editors'
    # saves of blocks and pipeline.yaml under pipelines/.
    find = orphaned_temporaries if dry_run else remove_orphaned_temporaries
    orphans = [path for root in (project.state_dir, project.pipelines_dir)
               for path in find(root)]
    if not dry_run:
        note = f"removed by retention on {(now or utcnow()):%Y-%m-%d}"
        for removal in removals:
            if removal.pipeline is not None and not removal.record:
                metadata.forget_outputs(removal.run_id, set(removal.kept), note)
        metadata.delete_runs([r.run_id for r in removals if r.record])
        for removal in removals:
            for path in removal.paths:
                _remove(path)
            if removal.paths and not removal.kept:
                _remove(runs_dir / removal.run_id)
    return CleanReport(removals, dry_run, orphans)


def _plan(settings: RetentionSettings, folders: list[Path], summaries: list[Any],
          kept: dict[str, set[str]], now: datetime) -> list[Removal]:
    newest: set[str] = set()
    seen: dict[str, int] = {}
    for run in summaries:  # each pipeline's newest first
        seen[run.pipeline] = seen.get(run.pipeline, 0) + 1
        if seen[run.pipeline] <= settings.keep_last:
            newest.add(run.id)

    def expired(run: Any, days: float | None) -> bool:
        return (days is not None and run.status not in NOT_FINISHED and run.id not in newest
                and run.started_at < now - timedelta(days=days))

    known = {run.id: run for run in summaries}
    records = {run.id for run in summaries
               if expired(run, settings.history_days) and run.id not in kept}
    removals: dict[str, Removal] = {}
    for folder in folders:
        run = known.get(folder.name)
        if run is None:
            removals[folder.name] = Removal(folder.name, None, None, [folder], _size(folder))
        elif run.id in records or expired(run, settings.outputs_days):
            units = kept.get(run.id, set())
            keep = [e for e in folder.iterdir() if _unit_kept(_unit(e), units)]
            gone = [e for e in folder.iterdir() if e not in keep]
            if gone:
                removals[run.id] = Removal(run.id, run.pipeline, run.started_at, sorted(gone),
                                           sum(_size(e) for e in gone),
                                           kept=sorted(_unit(e) for e in keep))
    for run_id in sorted(records):
        run = known[run_id]
        removal = removals.setdefault(run_id, Removal(run_id, run.pipeline, run.started_at))
        removal.record = True
    return sorted(removals.values(), key=lambda r: (r.started_at or datetime.min, r.run_id))


def _kept_units(metadata: MetadataStore) -> dict[str, set[str]]:
    """Run id -> the units whose files a run may still read."""
    kept: dict[str, set[str]] = {}

    def keep(rows: Iterable[Any], items_too: bool = False) -> None:
        for row in rows:
            # An item's files belong with its mapped block, kept when the block is.
            if items_too or item_of(row.block) is None:
                kept.setdefault(row.run_id, set()).add(row.block)

    keep(metadata.latest_successes())
    going: dict[str, datetime] = {}
    for run in metadata.active_runs():
        going[run.pipeline] = min(run.started_at, going.get(run.pipeline, run.started_at))
    for pipeline, since in going.items():
        keep(metadata.latest_successes(pipeline, ended_before=since))
        keep(metadata.successes_since(pipeline, since), items_too=True)
    return kept


def _unit(entry: Path) -> str:
    return entry.name.removesuffix(".log") if entry.is_file() else entry.name


def _unit_kept(unit: str, kept: set[str]) -> bool:
    return unit in kept or item_of(unit) in kept


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # another clean took it
                total += os.stat(os.path.join(folder, name)).st_size
    return total


def _remove(path: Path) -> None:
    """Delete a file or folder; one already gone (a concurrent clean) is fine."""
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
