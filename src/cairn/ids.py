"""Typed identifiers for the names that are easy to mix up."""

from __future__ import annotations

from typing import NewType

BlockName = NewType("BlockName", str)
VariableName = NewType("VariableName", str)
RunId = NewType("RunId", str)


def is_item(unit: str) -> bool:
    """Whether a recorded unit is one item of a mapped block: `block[i]`."""
    return unit.endswith("]") and "[" in unit
