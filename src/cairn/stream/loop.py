"""The micro-batch loop: fetch, transform, write every sink, then acknowledge.

One batch at a time, in this order, is what makes a stream lose nothing: a source's
messages are acknowledged only after every sink (and the dead-letter destination) has
durably written what came of them, so a process killed at any instant replays at most
the batch it held. It is also the backpressure: a slow sink delays the next fetch, and
no more than one batch is ever held in memory.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cairn.project.streaming import BatchSettings
from cairn.stream.message import Message, Rows
from cairn.stream.ports import Sink, Source
from cairn.stream.transform import Transformer

REPORT_EVERY_S = 1.0


@dataclass
class StreamStats:
    """Counters of one stream process, and the figures its reports show."""

    messages_in: int = 0
    messages_out: int = 0
    dead_letters: int = 0
    batches: int = 0
    rate: float | None = None  # messages per second since the previous report
    lag: int | None = None
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    _counted: int = 0
    _counted_at: float = field(default_factory=time.monotonic)

    def percentile(self, share: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def close_interval(self) -> None:
        now = time.monotonic()
        self.rate = (self.messages_in - self._counted) / max(now - self._counted_at, 1e-9)
        self._counted, self._counted_at = self.messages_in, now


@dataclass
class SinkTarget:
    """A sink and the output name it writes."""

    sink: Sink
    output: str


class StreamLoop:
    """Runs batches until `stop` is set (or the source stays idle for `stop_when_idle`)."""

    def __init__(self, source: Source, transformer: Transformer, sinks: Sequence[SinkTarget],
                 dead_letter: Sink, batch: BatchSettings,
                 committed: Callable[[Source], None],
                 report: Callable[[StreamStats], None], stop: threading.Event) -> None:
        self.source = source
        self.transformer = transformer
        self.sinks = sinks
        self.dead_letter = dead_letter
        self.batch = batch
        self.committed = committed  # records the source's position once it moved
        self.report = report
        self.stats = StreamStats()
        self.stop = stop

    def run(self, stop_when_idle: float | None = None) -> None:
        last_message = last_report = time.monotonic()
        while not self.stop.is_set():
            messages = self.source.fetch(self.batch.max_messages, self.batch.max_wait)
            now = time.monotonic()
            if messages:
                self.process(messages)
                last_message = now
            elif stop_when_idle is not None and now - last_message >= stop_when_idle:
                break
            if now - last_report >= REPORT_EVERY_S:
                self._report()
                last_report = now
        self._report()

    def process(self, messages: Sequence[Message]) -> None:
        """One batch, from transform to acknowledgement. An exception (a sink that cannot
        write) leaves it unacknowledged: the next process starts with it."""
        result = self.transformer.run(messages)
        written = 0
        for target in self.sinks:
            rows = Rows(result.outputs.get(target.output))
            target.sink.write(rows)
            written = max(written, len(rows))
        if result.dead:
            pipeline = self.transformer.pipeline.name
            self.dead_letter.write(Rows([dead.record(pipeline) for dead in result.dead]))
            for dead in result.dead:
                print(f"dead letter: message {dead.message.position or '?'} failed in block "
                      f"{dead.block} (line {dead.failure.line}): {dead.failure.message}",
                      flush=True)
        self.source.commit(messages)
        self.committed(self.source)
        done = time.time()
        stats = self.stats
        stats.batches += 1
        stats.messages_in += len(messages)
        stats.messages_out += written
        stats.dead_letters += len(result.dead)
        stats.latencies_ms.extend((done - m.timestamp) * 1000 for m in messages
                                  if m.timestamp is not None)

    def _report(self) -> None:
        self.stats.close_interval()
        self.stats.lag = self.source.lag()
        self.report(self.stats)
