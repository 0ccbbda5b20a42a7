"""Search the logs a run's blocks wrote: the matching lines, with their numbers."""

from __future__ import annotations

from dataclasses import dataclass

from cairn.errors import CairnError, Problem
from cairn.ids import BlockName, RunId
from cairn.io.secrets import redact
from cairn.runtime.variable_store import VariableStore
from cairn.store.metadata import MetadataStore

MAX_LINES = 2000  # a page of the log viewer; a search that finds more says so


@dataclass
class LogLine:
    block: str
    line: int  # from 1, in the block's log file
    text: str


@dataclass
class LogSearch:
    run_id: str
    lines: list[LogLine]
    truncated: bool  # more lines matched than `lines` holds


def search_logs(metadata: MetadataStore, store: VariableStore, run_id: str,
                block: str | None = None, query: str = "",
                limit: int = MAX_LINES) -> LogSearch:
    """The lines of a run's logs (of one block, or of all in the order they first ran)
    holding `query`, ignoring case; every line when it is empty. Secrets are masked
    before matching, so a search cannot tell whether a log held one."""
    record = metadata.find_run(run_id)
    names = list(dict.fromkeys(a.block for a in metadata.block_runs(record.id)))
    if block is not None and block not in names:
        raise CairnError(Problem("unknown-block", f"run {record.id} has no block {block!r}",
                                 hint="blocks in this run: " + ", ".join(names)))
    needle = query.casefold()
    found: list[LogLine] = []
    for name in [block] if block else names:
        path = store.log_path(RunId(record.id), BlockName(name))
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as log:
            for number, raw in enumerate(log, 1):
                text = redact(raw.rstrip("\n"))
                if needle in text.casefold():
                    if len(found) == limit:
                        return LogSearch(record.id, found, truncated=True)
                    found.append(LogLine(name, number, text))
    return LogSearch(record.id, found, truncated=False)
