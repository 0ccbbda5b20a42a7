"""Where a run's outputs and logs live on disk: `.cairn/runs/<run>/<block>/`."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.ids import BlockName, RunId
from cairn.runtime.values import StoredOutput, read_value, write_items, write_value


class VariableStore:
    """Block outputs tied to the run that wrote them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def block_dir(self, run_id: RunId, block: BlockName) -> Path:
        return self.root / run_id / block

    def log_path(self, run_id: RunId, block: BlockName) -> Path:
        return self.root / run_id / f"{block}.log"

    def save(self, run_id: RunId, block: BlockName,
             outputs: Mapping[str, Any]) -> list[StoredOutput]:
        folder = self.block_dir(run_id, block)
        folder.mkdir(parents=True, exist_ok=True)
        return [write_value(value, folder, name) for name, value in outputs.items()]

    def save_items(self, run_id: RunId, block: BlockName,
                   items: Mapping[str, list[StoredOutput]]) -> list[StoredOutput]:
        """Collect the outputs of a mapped block's items (`{unit: stored}`, in order) into
        one list per output name; an item that lacks a name contributes None."""
        folder = self.block_dir(run_id, block)
        folder.mkdir(parents=True, exist_ok=True)
        by_unit = {unit: {o.name: o for o in stored} for unit, stored in items.items()}
        names = dict.fromkeys(name for outputs in by_unit.values() for name in outputs)
        return [write_items(folder, name, [(unit, outputs.get(name))
                                           for unit, outputs in by_unit.items()])
                for name in names]

    def load(self, run_id: RunId, block: BlockName, output: StoredOutput) -> Any:
        return read_value(output, self.block_dir(run_id, block))


class StoredOutputs:
    """A finished block's outputs from an earlier process, read from disk on first use."""

    def __init__(self, store: VariableStore, run_id: RunId, block: BlockName,
                 outputs: list[StoredOutput]) -> None:
        self.store = store
        self.run_id = run_id
        self.block = block
        self.outputs = {o.name: o for o in outputs}
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self.outputs)

    def get(self, name: str) -> Any:
        with self._lock:
            if name not in self._values:
                self._values[name] = self.store.load(self.run_id, self.block, self.outputs[name])
            return self._values[name]
