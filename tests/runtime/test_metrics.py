"""Metrics written to the history for each block run and each run."""

from __future__ import annotations

from support import ProjectFolder, RecordingObserver

from cairn import service
from cairn.store.metadata import MetadataStore


def test_block_and_run_metrics_are_recorded(project: ProjectFolder,
                                            observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "frame.py": "import pandas as pd\nframe = pd.DataFrame({'x': range(1000)})\n",
        "busy.py": "busy = sum(i * i for i in range(3_000_000))\n",
        "half.py": "half = frame[frame.x % 2 == 0]\n",
    })
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success"

    store = MetadataStore(project.load().metadata_url)
    try:
        blocks = {r.block: r for r in store.block_runs(result.run_id)}
        run = store.find_run(result.run_id)
    finally:
        store.close()
    assert blocks["half"].rows_in == 1000
    assert blocks["half"].rows_out == 500
    assert blocks["frame"].rows_in is None  # no table among its inputs
    assert blocks["busy"].cpu_seconds > 0.05  # a few million multiplications
    for row in blocks.values():
        assert row.queued_at <= row.started_at <= row.ended_at
        assert row.cpu_seconds is not None and row.cpu_seconds >= 0
        assert row.peak_memory_bytes > 0
        assert row.output_bytes > 0
    # half waited for frame: it became ready only once frame had ended
    assert blocks["half"].queued_at >= blocks["frame"].ended_at

    assert run.rows_out == 1500
    assert run.output_bytes == sum(r.output_bytes for r in blocks.values())
    assert run.peak_memory_bytes == max(r.peak_memory_bytes for r in blocks.values())
    assert run.cpu_seconds >= blocks["busy"].cpu_seconds
    assert run.queued_at <= run.started_at
