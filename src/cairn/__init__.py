"""Cairn: data pipelines of Python and SQL block files with inferred dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__version__ = "0.1.0"
__all__ = ["__version__", "block"]

Function = TypeVar("Function", bound=Callable[..., Any])


def block(function: Function) -> Function:
    """Mark the function whose parameters are a block's inputs and whose result its output."""
    function.__cairn_block__ = True  # type: ignore[attr-defined]
    return function
