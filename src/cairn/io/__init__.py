"""Connections to databases and file stores, named in io_config.yaml.

Blocks use `from cairn.io import read_sql, write_table, read_file, write_file`; they are
loaded on first use so that importing this package stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["read_file", "read_sql", "write_file", "write_table"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cairn.io import api

        return getattr(api, name)
    raise AttributeError(f"module 'cairn.io' has no attribute {name!r}")
