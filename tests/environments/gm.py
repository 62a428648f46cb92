"""Driving a game master by hand: the events the scheduler and agents would publish."""

from __future__ import annotations

from typing import Any

from sociallm.runtime.events import Event


def round_start(tick: int) -> Event:
    return Event(kind="system", source="scheduler", tick=tick, payload={"event": "round_start", "tick": tick})


def act(agent: str, action: str, value: Any, tick: int) -> Event:
    return Event(kind="action", source=agent, tick=tick, payload={"action": action, "value": value})


def phase_end(action: str, tick: int) -> Event:
    return Event(
        kind="system", source="scheduler", tick=tick, payload={"event": "phase_end", "action": action, "tick": tick}
    )


def play(env: Any, tick: int, action: str, values: dict[str, Any]) -> list[Event]:
    out: list[Event] = []
    for agent, value in values.items():
        out += env.on_event(act(agent, action, value, tick))
    return out + env.on_event(phase_end(action, tick))
