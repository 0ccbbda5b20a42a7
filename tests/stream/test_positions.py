"""A stream's source position is kept as checkpoint versions, only the newest few."""

from __future__ import annotations

from pathlib import Path

from cairn.store.metadata import MetadataStore


def test_only_the_newest_versions_of_a_position_stay(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'cairn.db'}")
    for offset in range(1, 6):
        store.save_checkpoints("events", "source", {"offset": offset * 10}, "run-1", keep=3)
    versions = store.checkpoint_versions("events", "source", "offset")
    assert [(row.version, row.value) for row in versions] == [(3, "30"), (4, "40"), (5, "50")]
    assert store.checkpoint_values("events", "source") == {"offset": 50}
    store.close()
