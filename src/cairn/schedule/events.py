"""Files arriving under a folder or an object-store prefix, for event triggers (fsspec)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cairn.project.triggers import EventSettings


def _modified(info: dict[str, Any]) -> datetime | None:
    """A listing's modification time as naive UTC (local files give seconds, S3 a date)."""
    value = info.get("mtime", info.get("LastModified", info.get("last_modified")))
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return None


def changed_files(event: EventSettings, root: Path, since: datetime,
                  ) -> Iterator[tuple[str, datetime]]:
    """(URL, modified) of the files matching the event's pattern modified after `since`,
    oldest first."""
    import fsspec

    url = event.url
    if "://" not in url and not Path(url).is_absolute():
        url = str(root / url)
    filesystem, path = fsspec.core.url_to_fs(url, **event.options)
    found = []
    for name, info in filesystem.find(path, detail=True).items():
        modified = _modified(info)
        if modified is None or modified <= since:
            continue
        if fnmatch.fnmatch(name.rsplit("/", 1)[-1], event.pattern):
            found.append((filesystem.unstrip_protocol(name), modified))
    yield from sorted(found, key=lambda item: item[1])
