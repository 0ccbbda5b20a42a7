"""Pull requests to a durable JetStream consumer, made by hand on a private inbox.

The client's own `fetch` makes two asyncio tasks per message, and keeps what arrives
after it gave up in a queue of its own, out of reach of acknowledgements. Here one core
subscription appends what the server sends to a list: a fetch takes from it, and what
no fetch took yet is still there to be given back at close.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import DEFAULT_PREFIX

from cairn.stream.message import Message

KEY_HEADER = "Cairn-Key"
_LINGER = 0.005  # a wait shorter than this asks with `no_wait`: only what is there now
_MARGIN = 0.001  # a request expires this long before its fetch gives up, so rarely after
# A server may drop an expired request without a word (2.9 does when a message comes just
# after the expiry), and a lost connection drops it too: it counts as over this long after.
_SILENT = 0.01
_ENDS = ("404", "408")  # no messages (to `no_wait`), expired
# 409s of a moment: the request is over, but asking again at once would be refused again.
_BUSY = ("Exceeded MaxWaiting", "Leadership Change", "Server Shutdown")


def parse_reply(reply: str) -> tuple[str, float]:
    """The stream sequence and the stored time (epoch seconds) in a message's reply
    subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sequence>.<consumer sequence>.
    <nanoseconds>.<pending>`, or with `<domain>.<account>` after `$JS.ACK` (newer servers,
    which may add a last token)."""
    tokens = reply.split(".")
    if tokens[:2] != ["$JS", "ACK"] or len(tokens) not in (9, 11, 12):
        raise ValueError(f"not the reply subject of a JetStream message: {reply!r}")
    at = 5 if len(tokens) == 9 else 7
    return tokens[at], int(tokens[at + 2]) / 1e9


def _message(msg: Msg) -> Message:
    sequence, stored = parse_reply(msg.reply)
    headers = msg.headers or {}
    key = headers.get(KEY_HEADER)
    return Message(msg.data, key.encode() if key is not None else None, headers, msg.subject,
                   sequence, stored, msg.reply)


class Pull:
    """Fetches for one durable consumer with one pull request open at a time (as far as
    it can tell), so the server sends little more than the batch being filled."""

    def __init__(self, client: Client, stream: str, consumer: str) -> None:
        self._client = client
        self._next = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = client.new_inbox()  # request n answers to `<inbox>.<n>`
        self._requests = 0
        self.arrived: list[Message] = []  # delivered, not yet returned by a fetch
        self._reply = ""  # the subject the open request answers to
        self._asked = 0  # messages the open request may still bring
        self._until = 0.0  # loop time after which the open request counts as over
        self._wanted = 0  # arrivals that fill the fetch waiting now
        self._failure: str | None = None
        self._wake = asyncio.Event()
        self._sub: Subscription | None = None

    async def start(self) -> None:
        # No client-side limits: the requests bound what comes, and a message the client
        # dropped would wait on the server for its `ack_wait`.
        self._sub = await self._client.subscribe(f"{self._inbox}.*", cb=self._arrive,
                                                 pending_msgs_limit=0, pending_bytes_limit=0)

    async def fetch(self, count: int, max_wait: float) -> list[Message]:
        """Up to `count` messages, once there are that many or `max_wait` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        asked = False
        self._wanted = count
        while True:
            self._wake.clear()  # before looking, so an arrival from here on wakes the wait
            left = deadline - loop.time()
            if len(self.arrived) >= count or self._failure or left <= 0:
                break
            if self._asked > 0 and loop.time() > self._until:
                self._asked = 0  # over without a word
            if self._asked <= 0:  # no request open
                if left >= _LINGER:
                    await self._request(count - len(self.arrived), left - _MARGIN)
                elif not asked:  # too short to linger: only what is there now
                    await self._request(count - len(self.arrived), None)
                asked = True
            # Woken by arrivals, or when the open request counts as over, to ask again.
            wait = min(left, self._until - loop.time()) if self._asked > 0 else left
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
        failure, self._failure = self._failure, None
        if failure:
            raise nats.errors.Error(failure)  # what arrived stays, for a fetch or close
        taken, self.arrived = self.arrived[:count], self.arrived[count:]
        return taken

    async def _request(self, count: int, expires: float | None) -> None:
        self._requests += 1
        self._reply = f"{self._inbox}.{self._requests}"
        self._asked = count
        self._until = asyncio.get_running_loop().time() + (expires or 0.0) + _SILENT
        body = {"batch": count, **({"expires": int(expires * 1e9)} if expires
                                   else {"no_wait": True})}
        await self._client.publish(self._next, json.dumps(body).encode(), reply=self._reply)

    async def _arrive(self, msg: Msg) -> None:
        # A stored message, sent with its own subject: it cannot say which request it
        # answers, so a late one of an earlier request counts towards the open one.
        if msg.reply:  # status messages come without one, to the request's subject
            self.arrived.append(_message(msg))
            self._asked -= 1
            if self._asked <= 0 or len(self.arrived) >= self._wanted:
                self._wake.set()
            return
        headers = msg.headers or {}
        status, description = headers.get("Status", ""), headers.get("Description", "")
        if status == "409" and description in _BUSY:
            return  # it counts as open until its expiry, so the next is not asked at once
        if status not in _ENDS:  # a request the consumer refuses (409, 400), or none answers
            self._failure = f"{status} {description}".strip()
        elif msg.subject != self._reply:
            return  # the end of a request already counted as over
        self._asked = 0
        self._wake.set()

    async def release(self, held: Iterable[str]) -> None:
        """End the open request and give back, at once, the messages held (by their reply
        subjects) and those that arrived after the last fetch."""
        sub, self._sub = self._sub, None
        # A lost connection ends the request too; what was held comes back after `ack_wait`.
        with contextlib.suppress(nats.errors.Error):
            if sub is not None:
                # Interest goes first, or a message given back would come straight back
                # here; the round trip inside lets the callback take all sent before it.
                await sub.drain()  # type: ignore[no-untyped-call]
            replies = [*held, *(message.handle for message in self.arrived)]
            self.arrived = []
            for reply in replies:
                await self._client.publish(reply, b"-NAK")
            await self._client.flush(timeout=5)
