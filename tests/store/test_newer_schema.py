"""A metadata database upgraded by a newer Cairn is refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cairn.errors import CairnError
from cairn.store.metadata import MetadataStore
from cairn.store.schema import HEAD_REVISION


def test_a_newer_schema_is_refused_not_downgraded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    MetadataStore(url).close()
    newer = f"{int(HEAD_REVISION) + 1:04d}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": newer})
    engine.dispose()
    with pytest.raises(CairnError, match=f"upgraded by a newer Cairn \\(schema {newer}"):
        MetadataStore(url)
