"""What an agent is asked to do and what it always reads: the action's spec, a turn, the stable prompt prefix.

Base types below the agents and the games: the scheduler hands a `Turn` to whoever acts, a game
describes its actions with `ActionSpec`, and the validator measures `stable_prefix` before a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

if TYPE_CHECKING:
    from sociallm.runtime.scenario import AgentSpec, PhaseSpec, ScenarioSpec


class ActionSpec(BaseModel):
    """What an agent is asked to decide in an action phase, and how the answer is constrained."""

    name: str
    kind: Literal["number", "choice"] = "number"
    description: str = ""
    min: float = 0.0
    max: float = 100.0
    decimals: int = 2
    options: list[str] = []
    unit: str = ""  # printed before the number in the prompt cue, e.g. "$"
    # Completes the transcript line, e.g. "Alice sets her price for round 3 at $".
    cue: str = "{agent} chooses {name}:"


@dataclass
class Turn:
    tick: int
    phase: PhaseSpec
    action: ActionSpec | None = None
    turn_index: int = 0


def stable_prefix(scenario: ScenarioSpec, agent: AgentSpec, rules: str) -> str:
    parts = [scenario.preamble.strip(), rules.strip()]
    notes = [agent.persona.strip()]
    if agent.goals:
        notes.append(f"{agent.name}'s goal: " + "; ".join(agent.goals) + ".")
    if agent.private.strip():
        notes.append(agent.private.strip())
    notes = [n for n in notes if n]
    if notes:
        parts.append(f"Private notes about {agent.name} (only {agent.name} reads these):\n" + "\n".join(notes))
    return "\n\n".join(p for p in parts if p) + "\n"
