"""The message bus: topic-pattern pub/sub for events.

Topics are `sociallm/<run>/<channel>`; patterns use MQTT wildcards (`+` one level, `#` the rest) so
the in-process bus and the MQTT bus accept the same subscriptions.

Two ways to listen:
- `subscribe(pattern)` gives an async iterator over a bounded queue. A full queue makes `publish`
  wait (backpressure): a slow subscriber slows the run, it never loses events.
- `add_tap(pattern, fn)` calls `fn(event)` inline, in publish order, before `publish` returns. Taps
  are for cheap bookkeeping that must see every event in order (the event log, agents' inboxes);
  they must not block.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from sociallm.runtime.events import Event, topic_for

Tap = Callable[[Event], None]


def topic_matches(pattern: str, topic: str) -> bool:
    if pattern == topic or pattern == "#":
        return True
    pat = pattern.split("/")
    top = topic.split("/")
    for i, part in enumerate(pat):
        if part == "#":
            return True
        if i >= len(top) or (part != "+" and part != top[i]):
            return False
    return len(pat) == len(top)


class Bus(Protocol):
    run: str

    async def publish(self, event: Event) -> Event: ...

    def subscribe(self, pattern: str, maxsize: int = 1024) -> Subscription: ...

    def add_tap(self, pattern: str, fn: Tap) -> None: ...

    async def aclose(self) -> None: ...


_CLOSED = object()


class Subscription:
    """An async iterator of events; ends when closed or when the bus closes."""

    def __init__(self, bus: InProcessBus, pattern: str, maxsize: int) -> None:
        self.pattern = pattern
        self._bus = bus
        self._queue: asyncio.Queue[Event | object] = asyncio.Queue(maxsize=maxsize)
        self._closed = False

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _CLOSED:
            self._closed = True
            raise StopAsyncIteration
        return item  # type: ignore[return-value]

    async def _deliver(self, event: Event) -> None:
        if self._closed:
            return
        await self._queue.put(event)

    def _end(self) -> None:
        self._closed = True
        try:
            self._queue.put_nowait(_CLOSED)
        except asyncio.QueueFull:
            # A full queue means the consumer is not waiting: it drains, then sees closed + empty.
            pass

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        if not self._closed:
            self._bus._remove(self)
            self._end()


class InProcessBus:
    """The default bus: one asyncio loop, no copies, sequence numbers stamped here."""

    def __init__(self, run: str, start_seq: int = 0) -> None:
        self.run = run
        self._seq = start_seq
        self._subs: list[Subscription] = []
        self._taps: list[tuple[str, Tap]] = []
        # topic -> (taps, subscriptions); rebuilt lazily when listeners change.
        self._routes: dict[str, tuple[list[Tap], list[Subscription]]] = {}
        self._closed = False

    @property
    def seq(self) -> int:
        return self._seq

    async def publish(self, event: Event) -> Event:
        if self._closed:
            raise RuntimeError("publish on a closed bus")
        self._seq += 1
        event.seq = self._seq
        event.run = self.run
        topic = topic_for(self.run, event.channel)
        route = self._routes.get(topic)
        if route is None:
            route = self._route(topic)
        taps, subs = route
        for tap in taps:
            tap(event)
        for sub in subs:
            await sub._deliver(event)
        return event

    def _route(self, topic: str) -> tuple[list[Tap], list[Subscription]]:
        route = (
            [fn for pat, fn in self._taps if topic_matches(pat, topic)],
            [s for s in self._subs if topic_matches(s.pattern, topic)],
        )
        self._routes[topic] = route
        return route

    def subscribe(self, pattern: str, maxsize: int = 1024) -> Subscription:
        sub = Subscription(self, pattern, maxsize)
        self._subs.append(sub)
        self._routes.clear()
        if self._closed:
            sub._end()
        return sub

    def add_tap(self, pattern: str, fn: Tap) -> None:
        self._taps.append((pattern, fn))
        self._routes.clear()

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._routes.clear()

    async def aclose(self) -> None:
        self._closed = True
        for sub in list(self._subs):
            sub._end()
        self._subs.clear()
        self._routes.clear()
