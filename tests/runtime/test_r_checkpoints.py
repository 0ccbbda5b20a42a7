"""R blocks read and set checkpoints; a failed R block leaves them as they were."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import ProjectFolder, RecordingObserver

from cairn import service
from cairn.store.metadata import MetadataStore

pytestmark = pytest.mark.skipif(
    shutil.which("Rscript") is None,
    reason="R is not installed (the test command installs r-base-core and r-cran-jsonlite "
    "from Debian's packages when it runs as root)")

# Appends the ids after its checkpoint to `processed`, one line per run, and keeps a
# compound value (a timestamp and a vector) to show it crosses whole.
INCREMENTAL = """
last <- checkpoint("last_id", 0)
ids <- as.integer(readLines({source!r}))
batch <- ids[ids > last]
cat(paste(batch, collapse = ","), "\\n", file = {processed!r}, append = TRUE, sep = "")
if (length(batch) > 0) set_checkpoint("last_id", max(batch))
seen <- checkpoint("seen", list(at = NULL, keys = integer(0)))
set_checkpoint("seen", list(at = as.POSIXct("2024-05-01 10:00:00", tz = "UTC"),
                            keys = I(c(seen$keys, length(batch)))))
if (file.exists({fail!r})) stop("failing after reading")
"""


@pytest.fixture(autouse=True)
def parse_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def checkpoints(project: ProjectFolder) -> dict[str, object]:
    store = MetadataStore(project.load().metadata_url)
    try:
        return store.checkpoint_values("p", "incremental")
    finally:
        store.close()


def test_r_blocks_process_only_new_rows_and_a_failure_keeps_the_checkpoint(
        project: ProjectFolder, observer: RecordingObserver, tmp_path: Path) -> None:
    files = {name: tmp_path / name for name in ("source", "processed", "fail")}
    project.pipeline("p", {"incremental.R": INCREMENTAL.format(
        **{name: str(path) for name, path in files.items()})})
    files["source"].write_text("1\n2\n3\n")
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    assert checkpoints(project) == {
        "last_id": 3, "seen": {"at": "2024-05-01T10:00:00Z", "keys": [3]}}

    files["source"].write_text("1\n2\n3\n4\n5\n")
    files["fail"].touch()
    assert service.run_pipeline(project.load(), "p", observer).status == "failed"
    failure = observer.outcomes["incremental"].failure
    assert failure is not None and "failing after reading" in failure.message
    assert checkpoints(project)["last_id"] == 3

    files["fail"].unlink()
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    assert service.run_pipeline(project.load(), "p", observer).status == "success"
    assert files["processed"].read_text().splitlines() == ["1,2,3", "4,5", "4,5", ""]
    assert checkpoints(project) == {
        "last_id": 5, "seen": {"at": "2024-05-01T10:00:00Z", "keys": [3, 2, 0]}}
