"""JSON-structured logs for log shippers (`log_format: json`): one object per line, with
`timestamp` (UTC), `level`, `event` and `message`, plus what the event is about (pipeline,
run_id, block, attempt, status, duration_s, ...). Secrets are masked as in the plain logs."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from cairn.ids import BlockName
from cairn.io.secrets import redact

if TYPE_CHECKING:
    from cairn.runtime.runner import Outcome


def _timestamp(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_line(level: str, event: str, message: str, timestamp: str | None = None,
              **fields: Any) -> str:
    """One event as a line of JSON; fields that are None are left out."""
    record = {"timestamp": timestamp or _timestamp(), "level": level, "event": event,
              "message": redact(message),
              **{key: value for key, value in fields.items() if value is not None}}
    return json.dumps(record, default=str, ensure_ascii=False)


class JsonRunLog:
    """A run observer that writes the run's events as JSON lines instead of the Rich display.
    Blocks report from their own threads, so each line is written whole under a lock."""

    def __init__(self, stream: TextIO, pipeline: str, run_id: str | None) -> None:
        self.stream = stream
        self.pipeline = pipeline
        self.run_id = run_id
        self._lock = threading.Lock()

    def emit(self, level: str, event: str, message: str, **fields: Any) -> None:
        line = json_line(level, event, message, pipeline=self.pipeline, run_id=self.run_id,
                         **fields)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def run_started(self, blocks: list[BlockName], resumed: bool) -> None:
        verb = "resumed" if resumed else "started"
        self.emit("info", "run_started", f"run of {self.pipeline} {verb} with "
                  f"{len(blocks)} blocks", blocks=blocks, resumed=resumed)

    def run_finished(self, status: str, blocks: Mapping[BlockName, str],
                     duration_s: float) -> None:
        self.emit("info" if status == "success" else "error", "run_finished",
                  f"run of {self.pipeline} finished: {status}", status=status,
                  duration_s=round(duration_s, 3), blocks=dict(blocks))

    # -- RunObserver ---------------------------------------------------------------------
    def block_started(self, block: BlockName, attempt: int) -> None:
        self.emit("info", "block_started", f"{block} started (attempt {attempt})",
                  block=block, attempt=attempt)

    def block_output(self, block: BlockName, stream: str, line: str) -> None:
        self.emit("warning" if stream == "stderr" else "info", "block_output", line,
                  block=block, stream=stream)

    def block_finished(self, block: BlockName, outcome: Outcome) -> None:
        failed = outcome.status == "failed"
        reason = outcome.failure.describe() if failed and outcome.failure else (
            outcome.failure.message if outcome.failure else None)
        message = f"{block} {outcome.status}" + (f": {reason.splitlines()[0]}" if reason
                                                 else "")
        ran = outcome.attempt > 0  # 0: not run (skipped, upstream failed)
        self.emit("error" if failed else "info", "block_finished", message, block=block,
                  attempt=outcome.attempt or None, status=outcome.status,
                  duration_s=round(outcome.duration_s, 3) if ran else None,
                  rows_out=outcome.rows_out,
                  output_bytes=outcome.output_bytes if outcome.stored else None,
                  error=redact(reason) if reason else None)


def log_event(logger: logging.Logger, level: int, event: str, message: str,
              **fields: Any) -> None:
    """A log record that is one line of text on a terminal and, as JSON, carries `event`
    and `fields` (pipeline, run_id, ...) for log shippers to filter on."""
    logger.log(level, "%s", message, extra={"event": event, "fields": fields})


class JsonFormatter(logging.Formatter):
    """Log records (the scheduler's, the server's) as JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        error = self.formatException(record.exc_info) if record.exc_info else None
        fields = getattr(record, "fields", None) or {}
        return json_line(record.levelname.lower(), getattr(record, "event", "log"),
                         record.getMessage(),
                         _timestamp(datetime.fromtimestamp(record.created, UTC)),
                         logger=record.name, error=redact(error) if error else None, **fields)


class TextFormatter(logging.Formatter):
    """Log records on an operator's terminal: `2026-12-04 15:32:49 UTC scheduler: ...`."""

    def format(self, record: logging.LogRecord) -> str:
        from cairn.times import shown

        moment = datetime.fromtimestamp(record.created, UTC)
        source = record.name.removeprefix("cairn.")
        text = f"{shown(moment)} {source}: {redact(record.getMessage())}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def uvicorn_log_config(as_json: bool) -> dict[str, Any]:
    """uvicorn's logging configuration: its own, or its records as JSON lines on stderr."""
    if not as_json:
        from uvicorn.config import LOGGING_CONFIG

        return LOGGING_CONFIG
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stderr"}
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {"json": handler},
            "loggers": {name: {"handlers": ["json"], "level": "INFO", "propagate": False}
                        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}}
