"""What a running block can see of its run: ids, dates, variables, a logger, and its
checkpoints."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cairn.errors import BlockError
from cairn.ids import BlockName, RunId


def _no_checkpoints() -> Mapping[str, Any]:
    return {}


@dataclass
class RunContext:
    """Passed to blocks as `context` (a global in script style, a parameter in function style)."""

    run_id: RunId
    pipeline: str
    block: BlockName
    execution_date: datetime
    variables: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    # The block's committed checkpoints, read on first use; and the values it sets, which
    # the run commits only if this attempt succeeds.
    load_checkpoints: Callable[[], Mapping[str, Any]] = _no_checkpoints
    new_checkpoints: dict[str, Any] = field(default_factory=dict)
    _checkpoints: Mapping[str, Any] | None = field(default=None, init=False, repr=False)

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(f"cairn.block.{self.pipeline}.{self.block}")

    def var(self, name: str, default: Any = None) -> Any:
        return self.variables.get(name, default)

    def checkpoint(self, name: str, default: Any = None) -> Any:
        """The checkpoint's value as the last successful run of this block left it (not
        what this attempt set), or `default` when it has none (first run, after a reset)."""
        if self._checkpoints is None:
            self._checkpoints = self.load_checkpoints()
        return self._checkpoints.get(name, default)

    def set_checkpoint(self, name: str, value: Any) -> None:
        """The checkpoint's new value, committed when the block succeeds; a failed, killed
        or retried attempt leaves the previous value. `value` must be JSON (numbers,
        strings, lists, dicts; a datetime as its ISO text)."""
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise BlockError(f"checkpoint {name!r} must be a JSON value: {error}",
                             detail="hint: store a datetime as value.isoformat()") from None
        self.new_checkpoints[name] = value
