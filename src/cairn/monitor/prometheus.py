"""Prometheus metrics of the run history, read from the metadata database at each scrape,
so that runs of every process (`cairn run`, the scheduler's, other hosts') are counted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from cairn.ids import item_of

if TYPE_CHECKING:
    from cairn.store.metadata import MetadataStore

# Upper bounds of the run-duration buckets, in seconds: a minute to a day.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0,
                    86400.0)


class HistoryCollector(Collector):
    """Runs and block runs by pipeline and status, durations, the queue and the running."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata

    def collect(self) -> Iterator[Metric]:
        runs = CounterMetricFamily("cairn_runs", "Pipeline runs recorded, by final or "
                                   "current status.", labels=["pipeline", "status"])
        queued = GaugeMetricFamily("cairn_runs_queued", "Runs waiting to start (queue depth).",
                                   labels=["pipeline"])
        running = GaugeMetricFamily("cairn_runs_running", "Runs going now.",
                                    labels=["pipeline"])
        going: dict[str, dict[str, int]] = {"queued": {}, "running": {}}
        for pipeline, status, count in self.metadata.count_runs():
            runs.add_metric([pipeline, status], count)
            if status in ("queued", "starting", "running"):
                gauge = going["queued" if status == "queued" else "running"]
                gauge[pipeline] = gauge.get(pipeline, 0) + count
        for pipeline, count in sorted(going["queued"].items()):
            queued.add_metric([pipeline], count)
        for pipeline, count in sorted(going["running"].items()):
            running.add_metric([pipeline], count)
        yield from (runs, queued, running)

        blocks = CounterMetricFamily("cairn_block_runs", "Block attempts recorded, by status; "
                                     "the items of a mapped block count under its name.",
                                     labels=["pipeline", "block", "status"])
        totals: dict[tuple[str, str, str], int] = {}
        for pipeline, block, status, count in self.metadata.count_block_runs():
            key = (pipeline, item_of(block) or block, status)
            totals[key] = totals.get(key, 0) + count
        for key, count in sorted(totals.items()):
            blocks.add_metric(list(key), count)
        yield blocks

        durations = HistogramMetricFamily("cairn_run_duration_seconds", "Durations of "
                                          "finished runs.", labels=["pipeline"])
        for pipeline, count, total, *at_most in self.metadata.run_durations(DURATION_BUCKETS):
            buckets = [(str(bound), float(n or 0))
                       for bound, n in zip(DURATION_BUCKETS, at_most, strict=True)]
            durations.add_metric([pipeline], [*buckets, ("+Inf", float(count))],
                                 float(total or 0.0))
        yield durations

        last = GaugeMetricFamily("cairn_last_success_timestamp_seconds", "When each "
                                 "pipeline's newest successful run ended (Unix time).",
                                 labels=["pipeline"])
        for pipeline, ended in self.metadata.last_successes():
            if ended is not None:
                last.add_metric([pipeline], ended.replace(tzinfo=UTC).timestamp())
        yield last


class MetricsExporter:
    """The text exposition of a project's metrics; opens the metadata database on the first
    scrape, not when the server starts."""

    def __init__(self, metadata_url: str) -> None:
        self.metadata_url = metadata_url
        self._registry: CollectorRegistry | None = None
        self._store: MetadataStore | None = None
        self._lock = threading.Lock()

    def render(self) -> bytes:
        with self._lock:
            if self._registry is None:
                from cairn.store.metadata import MetadataStore

                self._store = MetadataStore(self.metadata_url)
                self._registry = CollectorRegistry(auto_describe=False)
                self._registry.register(HistoryCollector(self._store))
            registry = self._registry
        return generate_latest(registry)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
