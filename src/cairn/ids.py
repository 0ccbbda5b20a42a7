"""Typed identifiers for the names that are easy to mix up."""

from __future__ import annotations

import re
from typing import NewType

BlockName = NewType("BlockName", str)
VariableName = NewType("VariableName", str)
RunId = NewType("RunId", str)

_ITEM = re.compile(r"(?P<block>.+)\[\d+\]")


def item_of(unit: str) -> BlockName | None:
    """The mapped block a recorded unit is one item of (`block[3]` -> `block`), else None."""
    item = _ITEM.fullmatch(unit)
    return BlockName(item["block"]) if item else None
