"""Who acts when: the scenario's schedule played out round by round.

A round is the scenario's phases in order. A `sequential` phase gives the agents turns one after
another (round-robin; with `order: rotate` the first speaker moves one place each round), so each
sees what the previous one said. A `simultaneous` phase asks everyone at once, so their model calls
go out together and the server batches them; nobody sees the others' answers until all are in.
Every boundary is a `system` event, which is how the environment knows when to resolve.

`settle` (set by the run) is awaited before every turn and before every phase ends: sections that
measure in the background (information content) publish then. In a simultaneous phase, what each
agent emits while it works (its model calls, memory, affect) is held back (`HELD`) and published per
agent in turn order once all are done. So the log's order is fixed by the schedule, not by which
model reply, store write or encoder call happened to come back first, and a seed replays to the
same log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from sociallm.runtime.events import Event, make_event
from sociallm.runtime.scenario import PhaseSpec, ScenarioSpec
from sociallm.runtime.turn import Turn

if TYPE_CHECKING:
    from sociallm.environments.base import Environment  # the type only: the run hands the game in


SYSTEM = "system"

# Set inside an agent's work in a simultaneous phase: the run's `emit` appends to it instead of publishing.
HELD: ContextVar[list[Event] | None] = ContextVar("sociallm_held_events", default=None)


class Actor(Protocol):
    name: str

    async def act(self, turn: Turn) -> Event: ...

    async def after_act(self, event: Event) -> None: ...


Emit = Callable[[Event], Awaitable[Any]]


def system_event(tick: int, event: str, /, **payload: Any) -> Event:
    return make_event("system", "scheduler", channel=SYSTEM, tick=tick, payload={"event": event, **payload})


def turn_order(names: list[str], phase: PhaseSpec, tick: int) -> list[str]:
    if phase.order == "fixed" or not names:
        return list(names)
    k = (tick - 1) % len(names)
    return names[k:] + names[:k]


class Scheduler:
    def __init__(self, spec: ScenarioSpec, agents: Mapping[str, Actor], env: Environment, emit: Emit) -> None:
        self.spec = spec
        self.agents = agents
        self.env = env
        self.emit = emit
        self.muted: set[str] = set()  # channels whose talk phases are skipped (an experiment's intervention)
        self.round_hooks: list[Callable[[int], Awaitable[Any]]] = []  # awaited after each round_start
        self.settle: Callable[[], Awaitable[Any]] | None = None

    async def _settle(self) -> None:
        if self.settle is not None:
            await self.settle()

    async def run_round(self, tick: int) -> None:
        await self.emit(system_event(tick, "round_start", tick=tick))
        for hook in self.round_hooks:
            await hook(tick)
        for phase in self.spec.schedule:
            await self.run_phase(tick, phase)
        await self.emit(system_event(tick, "round_end", tick=tick))

    async def run_phase(self, tick: int, phase: PhaseSpec) -> None:
        names = turn_order(self.spec.members(phase.channel), phase, tick)
        info = {"phase": phase.name, "kind": phase.kind, "mode": phase.mode, "action": phase.action}
        if phase.kind == "talk" and phase.channel in self.muted:
            await self.emit(system_event(tick, "phase_skipped", reason="channel muted", channel=phase.channel, **info))
            return
        await self.emit(system_event(tick, "phase_start", **info))
        for t in range(phase.turns):
            turns = {n: self._turn(tick, phase, n, t) for n in names}
            if phase.mode == "sequential":
                for n in names:
                    await self._settle()
                    ev = await self.emit(await self.agents[n].act(turns[n]))
                    await self.agents[n].after_act(ev)
            else:
                await self._settle()
                acted = await asyncio.gather(*(self._held(self.agents[n].act(turns[n])) for n in names))
                for _, held in acted:
                    for ev in held:
                        await self.emit(ev)
                events = [await self.emit(ev) for ev, _ in acted]
                # Follow-ups (e.g. affect self-labels) of a simultaneous phase go out together too.
                followed = await asyncio.gather(*(self._held(self.agents[ev.source].after_act(ev)) for ev in events))
                for _, held in followed:
                    for ev in held:
                        await self.emit(ev)
        await self._settle()
        await self.emit(system_event(tick, "phase_end", **info))

    @staticmethod
    async def _held(work: Awaitable[Any]) -> tuple[Any, list[Event]]:
        """Run one agent's share of a simultaneous step, holding back what it emits (see HELD)."""
        held: list[Event] = []
        token = HELD.set(held)
        try:
            return await work, held
        finally:
            HELD.reset(token)

    def _turn(self, tick: int, phase: PhaseSpec, name: str, index: int) -> Turn:
        action = self.env.action_spec(phase.action, name) if phase.kind == "act" and phase.action else None
        return Turn(tick=tick, phase=phase, action=action, turn_index=index)
