"""Steering a run while it plays: pause, step one round, inject a moderator message, stop.

The UI (or a script) holds the run's `RunControl`; the run awaits `gate()` before each round. Pausing
takes effect between rounds, so a round is never left half-played and checkpoints stay whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sociallm.runtime.events import PUBLIC, Event

MODERATOR = "moderator"


class RunControl:
    def __init__(self) -> None:
        self._running = asyncio.Event()
        self._running.set()
        self._steps = 0
        self.stop_requested = False
        self._emit: Callable[[Event], Awaitable[Any]] | None = None
        self._tick: Callable[[], int] = lambda: 0

    def attach(self, emit: Callable[[Event], Awaitable[Any]], tick: Callable[[], int]) -> None:
        self._emit = emit
        self._tick = tick

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._steps = 0
        self._running.set()

    def step(self) -> None:
        """While paused: let exactly one more round play, then pause again."""
        if self.paused or self._steps:  # a second press before the first round began adds a round
            self._steps += 1
            self._running.set()

    def stop(self) -> None:
        """End the run after the current round (it can be resumed later)."""
        self.stop_requested = True
        self._running.set()

    async def gate(self) -> bool:
        """Wait until the next round may start; False when the run should stop instead."""
        await self._running.wait()
        if self.stop_requested:
            return False
        if self._steps:
            self._steps -= 1
            if not self._steps:
                self._running.clear()
        return True

    async def inject(self, text: str, channel: str = PUBLIC, to: list[str] | None = None) -> Event:
        """Publish a moderator message; agents see it like any other message."""
        if self._emit is None:
            raise RuntimeError("the run has not started yet")
        text = text.strip()
        if not text:
            raise ValueError("an injected message needs text")
        event = Event(
            kind="message",
            source=MODERATOR,
            channel=channel,
            to=list(to or []),
            tick=self._tick(),
            payload={"text": text, "injected": True},
        )
        return await self._emit(event)
