"""GET /metrics: the run history in Prometheus's text format, scraped from a live server
after real runs and parsed with prometheus_client's own parser."""

from __future__ import annotations

from datetime import UTC

import httpx
from prometheus_client.parser import text_string_to_metric_families
from support import ProjectFolder, RecordingObserver, Server

from cairn import service
from cairn.ids import RunId
from cairn.store.metadata import MetadataStore, utcnow


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_of_real_runs(project: ProjectFolder) -> None:
    project.pipeline("ok", {"a.py": "a = 1\n"})
    project.pipeline("bad", {"b.py": "raise ValueError('no')\n"}, "defaults: {retries: 1}\n")
    project.pipeline("m", {
        "numbers.py": "numbers = [1, 2, 3]\n",
        "square.py": "from cairn import block\n\n@block\ndef square(numbers):\n"
                     "    return numbers ** 2\n",
    }, "blocks:\n  - {name: numbers, fan_out: true}\n  - {name: square, map: zip}\n")
    found = project.load()
    for name in ("ok", "ok", "bad", "m"):
        service.run_pipeline(found, name, RecordingObserver())
    store = MetadataStore(found.metadata_url)
    try:
        # A run queued for a pipeline no scheduler can start, and one going in this process.
        store.create_scheduled_run(RunId("q1"), "gone", "daily", "k", utcnow(), {}, "queued")
        store.create_run(RunId("going"), "ok", ["a"], {}, utcnow())
        last_ok = max(r.ended_at for r in store.list_runs("ok") if r.status == "success")
    finally:
        store.close()

    server = Server(project.root, token="s3cret")
    try:
        assert httpx.get(server.base + "/metrics").status_code == 401
        response = server.http.get("/metrics")
    finally:
        server.stop()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("cairn_runs_total", pipeline="ok", status="success") == 2
    assert value("cairn_runs_total", pipeline="bad", status="failed") == 1
    assert value("cairn_runs_queued", pipeline="gone") == 1
    assert value("cairn_runs_running", pipeline="ok") == 1
    assert value("cairn_block_runs_total", pipeline="bad", block="b", status="failed") == 2
    # Three items and the record collecting them.
    assert value("cairn_block_runs_total", pipeline="m", block="square", status="success") == 4
    assert value("cairn_run_duration_seconds_count", pipeline="ok") == 2
    assert value("cairn_run_duration_seconds_bucket", pipeline="ok", le="+Inf") == 2
    assert value("cairn_run_duration_seconds_bucket", pipeline="ok", le="86400.0") == 2
    assert value("cairn_run_duration_seconds_sum", pipeline="ok") > 0
    assert value("cairn_last_success_timestamp_seconds", pipeline="ok") == (
        last_ok.replace(tzinfo=UTC).timestamp())
    assert ("cairn_last_success_timestamp_seconds", (("pipeline", "bad"),)) not in samples
