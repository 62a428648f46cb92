"""Where the UI's events come from: a live run's bus tap, a finished run's log, or a log being written.

Every feed fills one unbounded deque that the app drains on a timer. The live tap only appends (a
bus tap runs inline in `publish`, so anything slower would slow the run, and a bound would mean
dropping events); the UI catches up at its own pace.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from sociallm.runtime.eventlog import read_events
from sociallm.runtime.events import Event

if TYPE_CHECKING:
    from sociallm.runtime.mqtt import BrokerConfig
    from sociallm.runtime.mqtt_security import Credential


class Feed:
    live = False  # whether a RunControl stands behind this feed
    mode = "feed"

    def __init__(self) -> None:
        self.buffer: deque[Event] = deque()
        self.problems: list[str] = []
        self.finished = False  # no more events will come
        self.paused = False

    def drain(self, limit: int = 5000) -> list[Event]:
        """Take up to `limit` events; the rest wait for the next tick, none is dropped."""
        n = min(limit, len(self.buffer))
        return [self.buffer.popleft() for _ in range(n)]

    @property
    def pending(self) -> int:
        return len(self.buffer)

    async def pump(self) -> None:
        """Produce events until the source ends (live feeds are pushed to instead)."""

    def describe(self) -> str:
        return self.mode


class LiveFeed(Feed):
    live = True
    mode = "live"

    def tap(self, event: Event) -> None:
        self.buffer.append(event)


class ReplayFeed(Feed):
    """A finished log played back at `speed` events per second (None: all at once)."""

    mode = "replay"

    def __init__(self, path: Path, speed: float | None = 50.0) -> None:
        super().__init__()
        self.path = path
        self.speed = speed
        log = read_events(path)
        self.events = log.events
        self.problems += log.problems
        self.played = 0

    def describe(self) -> str:
        pace = "instant" if self.speed is None else f"{self.speed:g} ev/s"
        return f"replay {self.played}/{len(self.events)} ({pace})"

    async def pump(self) -> None:
        if self.speed is None:
            self.buffer.extend(self.events)
            self.played = len(self.events)
            self.finished = True
            return
        # Pace by a clock, not by sleeping 1/speed per event: sleeps overshoot, and at high speed
        # one wake-up releases every event that is due.
        started, done_before = time.monotonic(), 0
        while self.played < len(self.events):
            if self.paused:
                await asyncio.sleep(0.05)
                started, done_before = time.monotonic(), self.played
                continue
            due = done_before + int((time.monotonic() - started) * self.speed) + 1
            due = min(due, len(self.events))
            if due > self.played:
                self.buffer.extend(self.events[self.played : due])
                self.played = due
            await asyncio.sleep(min(0.05, 1.0 / self.speed))
        self.finished = True


class FollowFeed(Feed):
    """Tail a log that a run is still appending to.

    Only whole lines are parsed: a line without its newline yet is kept until the writer finishes it,
    so a torn last line (a run that died mid-write) is reported, never parsed as garbage.
    """

    mode = "follow"

    def __init__(self, path: Path, poll_s: float = 0.2) -> None:
        super().__init__()
        self.path = path
        self.poll_s = poll_s
        self.offset = 0
        self.partial = b""
        self.lines = 0

    def describe(self) -> str:
        torn = f", {len(self.partial)} bytes of an unfinished line" if self.partial else ""
        return f"follow {self.path.name} ({self.lines} lines{torn})"

    def read_new(self) -> int:
        """Read what was appended since the last call; returns the number of events added."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return 0
        if not chunk:
            return 0
        self.offset += len(chunk)
        data = self.partial + chunk
        *whole, self.partial = data.split(b"\n")
        added = 0
        for raw in whole:
            self.lines += 1
            if not raw.strip():
                continue
            try:
                self.buffer.append(Event.model_validate(json.loads(raw)))
                added += 1
            except (ValueError, ValidationError) as exc:
                reason = str(exc).splitlines()[0][:120]
                self.problems.append(f"{self.path.name}:{self.lines}: unreadable line skipped ({reason})")
        return added

    async def pump(self) -> None:
        while not self.finished:
            if not self.paused:
                self.read_new()
            await asyncio.sleep(self.poll_s)


class BusFeed(Feed):
    """A live run heard over its MQTT broker, from the moment of attaching (in seq order, exactly once).

    Only what the run signed is shown; sealed payloads open with a watcher's key (or the run's own).
    """

    mode = "bus"

    def __init__(self, config: BrokerConfig, run: str, credential: Credential) -> None:
        super().__init__()
        self.config = config
        self.run = run
        self.credential = credential
        self.stream = None

    def describe(self) -> str:
        seen = f", at seq {self.stream.last}" if self.stream is not None and self.stream.last else ", waiting"
        return f"bus {self.config.url} run {self.run}{seen}"

    async def pump(self) -> None:
        import secrets

        from sociallm.runtime.mqtt import BusError, listen

        try:
            link, self.stream = await listen(
                self.config, self.run, f"sociallm-watch-{secrets.token_hex(4)}", None, credential=self.credential
            )
        except BusError as exc:
            self.problems.append(str(exc))
            self.finished = True
            return
        try:
            while not self.finished:
                ev = await self.stream.queue.get()
                self.buffer.append(ev)
                if ev.kind == "system" and ev.payload.get("event") == "run_end":
                    self.finished = True
                self.problems.extend(self.stream.dropped)
                self.stream.dropped.clear()
        finally:
            await link.aclose(drain_s=0)
