"""What a running block can see of its run: ids, dates, variables and a logger."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cairn.ids import BlockName, RunId


@dataclass
class RunContext:
    """Passed to blocks as `context` (a global in script style, a parameter in function style)."""

    run_id: RunId
    pipeline: str
    block: BlockName
    execution_date: datetime
    variables: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(f"cairn.block.{self.pipeline}.{self.block}")

    def var(self, name: str, default: Any = None) -> Any:
        return self.variables.get(name, default)
