"""What the run history says of each block of a notebook's pipeline: the latest attempt of
every block in a pipeline run (`cairn run`, the scheduler, a backfill, "Run pipeline"),
as a card shows it, so the notebook shows the pipeline's real state and not only its own
runs. The notebook compares these with its own results and shows the newer one."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cairn import service
from cairn.ids import BlockName, RunId
from cairn.io.pool import Databases
from cairn.notebook.preview import describe
from cairn.project.config import Project
from cairn.runtime.values import StoredOutput
from cairn.runtime.variable_store import StoredOutputs
from cairn.store.metadata import MetadataStore

_LOG_LINES = 500
_WHERE = re.compile(r"(?P<file>[^\n]+?):(?P<line>\d+): (?P<message>[^\n]*)")


def iso(moment: datetime) -> str:
    """A history time (UTC without a zone) as the API writes times."""
    return moment.isoformat() + "Z"


@dataclass(frozen=True)
class Recorded:
    """A block's latest recorded attempt: when it happened and the card state it gives."""

    at: datetime
    state: dict[str, Any]
    run_id: RunId
    outputs: list[StoredOutput]


def _failure(text: str | None) -> dict[str, Any] | None:
    """The history keeps `file:line: message` and the traceback as one text."""
    if not text:
        return None
    first, _, rest = text.partition("\n")
    where = _WHERE.fullmatch(first)
    if where is None:
        return {"message": first, "file": None, "line": None, "traceback": rest}
    return {"message": where["message"], "file": where["file"], "line": int(where["line"]),
            "traceback": rest}


def _log_lines(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[-_LOG_LINES:]:
        stream = next((s for s in ("stderr", "log") if line.startswith(f"[{s}] ")), "stdout")
        lines.append({"stream": stream,
                      "line": line if stream == "stdout" else line[len(stream) + 3:]})
    return lines


class RecordedRuns:
    """Reads one pipeline's latest block attempts; what a finished attempt gives is kept,
    so a snapshot reads only what changed since the last one."""

    def __init__(self, project: Project, pipeline: str, databases: Databases) -> None:
        self.project = project
        self.pipeline = pipeline
        self.databases = databases
        self.store = service.variable_store(project)
        self._metadata: MetadataStore | None = None
        self._finished: dict[int, Recorded] = {}  # by block run id
        self._lock = threading.Lock()

    def latest(self) -> dict[BlockName, Recorded]:
        """Each block's latest recorded attempt; in a run going on, the blocks it has not
        started yet are `queued`."""
        with self._lock:
            if self._metadata is None:
                self._metadata = service.open_metadata(self.project)
            metadata = self._metadata
            latest: dict[BlockName, Recorded] = {}
            for row in metadata.latest_block_runs(self.pipeline):
                latest[BlockName(row.block)] = self._recorded(row)
            run = metadata.latest_run(self.pipeline)
            if run is not None and run.status == "running":
                for block in json.loads(run.blocks):
                    known = latest.get(BlockName(block))
                    if known is None or known.run_id != run.id:
                        latest[BlockName(block)] = Recorded(
                            run.started_at, self._state(run.id, run.trigger, run.started_at,
                                                        "queued"), RunId(run.id), [])
            return latest

    def _recorded(self, row: Any) -> Recorded:
        cached = self._finished.get(row.id)
        if cached is not None:
            return cached
        at = row.ended_at or row.started_at or row.run_started_at
        state = self._state(row.run_id, row.trigger, at, row.status)
        outputs = [StoredOutput(**o) for o in json.loads(row.outputs or "[]")]
        state.update(duration_s=row.duration_s, error=_failure(row.error),
                     logs=_log_lines(self.store.log_path(RunId(row.run_id),
                                                         BlockName(row.block))))
        recorded = Recorded(at, state, RunId(row.run_id), outputs)
        readable = True
        if row.status == "success":
            state["outputs"], readable = self._describe(recorded, row.block)
        if row.ended_at is not None and readable:
            self._finished[row.id] = recorded
        return recorded

    def _state(self, run_id: str, trigger: str | None, at: datetime,
               status: str) -> dict[str, Any]:
        return {"status": status, "stale": False, "duration_s": None, "outputs": [],
                "error": None, "logs": [],
                "origin": {"kind": "run", "run_id": run_id, "trigger": trigger or "manual",
                           "at": iso(at)}}

    def _describe(self, recorded: Recorded, block: str) -> tuple[list[dict[str, Any]], bool]:
        """The outputs as the card shows them, and whether all of them could be read."""
        values = self.values(recorded, BlockName(block))
        described, readable = [], True
        for name in values.names():
            try:
                described.append(describe(name, values.get(name), self.databases))
            except Exception as error:  # a table dropped or locked since: say so, retry later
                readable = False
                described.append({"name": name, "kind": "value",
                                  "repr": f"(cannot read it now: {type(error).__name__}: "
                                          f"{error})"})
        return described, readable

    def values(self, recorded: Recorded, block: BlockName) -> StoredOutputs:
        """The outputs of a recorded attempt, read from the run's files when asked."""
        return StoredOutputs(self.store, recorded.run_id, block, recorded.outputs)

    def close(self) -> None:
        if self._metadata is not None:
            self._metadata.close()
