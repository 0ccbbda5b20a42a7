"""The brokers of the `streaming` workload, as plain clients: publish events, consume them
the fastest simple way (the raw rate a stream is compared with), and clean up.

Each broker gets two topics named after a random tag: `topic`, which the stream reads,
and `raw_topic`, which only the raw consumer reads. `clean_up` deletes both.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"
BATCH = 1_000  # messages per fetch, as the stream's batches
_CHUNK = 10_000  # events sent per round of a bulk publish
_TICK_S = 0.005  # a paced publisher sends what is due this often


def chunks(items: Iterable[bytes], size: int = _CHUNK) -> Iterator[list[bytes]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Broker:
    """What the workload does with a broker: `publish` sends many events before they are
    consumed, `publish_now` a few (acknowledged by the broker) while a stream runs."""

    kind = ""
    url = ""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.topic = ""
        self.raw_topic = ""

    def unreachable(self) -> str | None:
        """Why the broker cannot be used, or None."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Make what must exist before events are published."""

    def publish(self, topic: str, payloads: Iterable[bytes]) -> None:
        for chunk in chunks(payloads):
            self.publish_now(topic, chunk)

    def publish_now(self, topic: str, payloads: list[bytes]) -> None:
        raise NotImplementedError

    def publish_paced(self, topic: str, rate: float, seconds: float,
                      make: Callable[[int, float], bytes]) -> tuple[int, float]:
        """Publish `rate` events a second for `seconds`, each made with its number and the
        time it is sent; the number published and the seconds it took."""
        sent = 0
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate) - sent
            if due > 0:
                now = time.time()
                self.publish_now(topic, [make(sent + i, now) for i in range(due)])
                sent += due
            time.sleep(_TICK_S)
        return sent, time.monotonic() - started

    def raw_consume(self, count: int) -> float:
        """Seconds a plain client loop takes to consume and acknowledge `count` events
        already waiting on `raw_topic`, in batches of BATCH."""
        raise NotImplementedError

    def clean_up(self) -> None:
        raise NotImplementedError


class RedisBroker(Broker):
    """Redis Streams: XADD (pipelined), XREADGROUP COUNT 1000 + XACK."""

    kind = "redis"
    url = REDIS_URL

    def __init__(self, tag: str) -> None:
        import redis

        super().__init__(tag)
        self.topic, self.raw_topic = f"{tag}:events", f"{tag}:raw"
        self.client = redis.Redis.from_url(self.url, socket_connect_timeout=2)

    def unreachable(self) -> str | None:
        import redis

        try:
            self.client.ping()
        except redis.ConnectionError:
            return "Redis not reachable at 127.0.0.1:6379"
        return None

    def publish_now(self, topic: str, payloads: list[bytes]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for payload in payloads:
            pipe.xadd(topic, {"value": payload})
        pipe.execute()

    def raw_consume(self, count: int) -> float:
        self.client.xgroup_create(self.raw_topic, "raw", id="0")
        got = 0
        started = time.perf_counter()
        while got < count:
            answer: Any = self.client.xreadgroup("raw", "raw", {self.raw_topic: ">"},
                                                 count=BATCH)
            ids = [entry_id for _, entries in answer or [] for entry_id, _ in entries]
            if not ids:
                raise SystemExit(f"Redis gave {got:,} of the {count:,} events")
            self.client.xack(self.raw_topic, "raw", *ids)
            got += len(ids)
        return time.perf_counter() - started

    def clean_up(self) -> None:
        self.client.delete(self.topic, self.raw_topic)
        self.client.close()


class NatsBroker(Broker):
    """NATS JetStream: a stream per topic, asynchronous publishes whose acknowledgements are
    awaited, a durable pull consumer fetching 1,000 and acknowledging them (the last one
    synchronously, as the stream's source does)."""

    kind = "nats"
    url = NATS_URL

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.topic, self.raw_topic = f"{tag}.events", f"{tag}.raw"
        self.streams = {self.topic: f"{tag}-events", self.raw_topic: f"{tag}-raw"}
        # The client's tasks run whenever a call runs the loop; calls are short and few.
        self.loop = asyncio.new_event_loop()
        self.client: Any = None

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def unreachable(self) -> str | None:
        import nats

        try:
            self.client = self.run(asyncio.wait_for(nats.connect(
                self.url, connect_timeout=2, allow_reconnect=False), 5))
        except Exception:  # any refusal: the workload is skipped with the reason
            self.loop.close()
            return "NATS not reachable at 127.0.0.1:4222"
        self.js = self.client.jetstream()
        return None

    def prepare(self) -> None:
        for subject, name in self.streams.items():
            self.run(self.js.add_stream(name=name, subjects=[subject]))

    def publish(self, topic: str, payloads: Iterable[bytes]) -> None:
        self.run(self._publish_bulk(topic, payloads))

    async def _publish_bulk(self, topic: str, payloads: Iterable[bytes]) -> None:
        # Plain NATS publishes, which the stream stores without an acknowledgement each
        # (many times faster in this client); the stream's count then shows none was lost.
        stream = self.streams[topic]
        expected = (await self.js.stream_info(stream)).state.messages
        for chunk in chunks(payloads):
            for payload in chunk:
                await self.client.publish(topic, payload)
            await self.client.flush()
            expected += len(chunk)
        deadline = time.monotonic() + 30
        while (stored := (await self.js.stream_info(stream)).state.messages) < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"JetStream stored {stored:,} of {expected:,} events")
            await asyncio.sleep(0.05)

    def publish_now(self, topic: str, payloads: list[bytes]) -> None:
        self.run(self._publish(topic, payloads))

    async def _publish(self, topic: str, payloads: list[bytes]) -> None:
        acks = [await self.js.publish_async(topic, payload) for payload in payloads]
        await asyncio.gather(*acks)

    def raw_consume(self, count: int) -> float:
        return float(self.run(self._raw_consume(count)))

    async def _raw_consume(self, count: int) -> float:
        from nats.js.api import AckPolicy, ConsumerConfig

        sub = await self.js.pull_subscribe(
            self.raw_topic, durable="raw", stream=self.streams[self.raw_topic],
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=BATCH))
        got = 0
        started = time.perf_counter()
        while got < count:
            msgs = await sub.fetch(BATCH, timeout=5)
            for msg in msgs[:-1]:
                await msg.ack()
            await msgs[-1].ack_sync()
            got += len(msgs)
        elapsed = time.perf_counter() - started
        await sub.unsubscribe()
        return elapsed

    def clean_up(self) -> None:
        try:
            for name in self.streams.values():
                with contextlib.suppress(Exception):  # not made, when preparing failed
                    self.run(self.js.delete_stream(name))
            self.run(self.client.close())
        finally:
            self.loop.close()


BROKERS: dict[str, Callable[[str], Broker]] = {"redis": RedisBroker, "nats": NatsBroker}
