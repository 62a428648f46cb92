"""The game-master protocol.

An environment sees every event of the run (`on_event`) and answers with the events it causes:
it collects actions, and when the scheduler closes an action phase (a `system` event with
`payload.event == "phase_end"`) it resolves them into `outcome` events. It never calls agents and
never reaches into them; agents learn about the world only through the events it publishes.

Optional: `appraise(event, agent) -> tuple[float, float] | None` says how an event of the game (an
outcome: a profit drop, a betrayal) feels to `agent`, as (valence, arousal) impulses in [−1, 1];
None when the event means nothing to it. The emotion section calls it (reaching the environment
through `SectionContext.shared["environment"]`) for every outcome the agent sees; it must be pure in
the event and the game's parameters, since every agent calls it, in any order. An environment
without it simply gives outcomes no affect. See `BertrandMarket.appraise` for an example.

Optional, for algorithmic agents (sociallm/agents/strategies; see `BertrandMarket` for examples),
all pure in the event and the game's parameters:
- `feedback(event, agent) -> (actions, reward) | None`: from an outcome, every actor's action value
  this round and `agent`'s reward (what a learner learns from);
- `payoff(agent, actions) -> float`: what `agent` would earn if the actors played `actions` (best
  responses, Calvano's initialisation and self-play pretraining);
- `action_benchmarks(action) -> dict[str, float]`: named reference values of a numeric action
  (`nash`, `monopoly`), which strategy options may name instead of numbers.
"""

from __future__ import annotations

import random
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from sociallm.runtime.events import Event


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


@runtime_checkable
class Environment(Protocol):
    name: str

    def reset(self, agents: list[str], params: dict[str, Any], rng: random.Random) -> list[Event]:
        """Start a fresh game; return the opening events (e.g. private information)."""
        ...

    def rules(self, agent: str) -> str:
        """The rules as the agent reads them; part of the stable prompt prefix."""
        ...

    def action_spec(self, action: str, agent: str) -> ActionSpec:
        """The constraint for `action` (named in the scenario schedule) for this agent."""
        ...

    def on_event(self, event: Event) -> list[Event]: ...

    def metrics(self) -> dict[str, Any]: ...

    @property
    def done(self) -> bool: ...

    def state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class Appraiser(Protocol):
    """The optional affect hook an environment may add (see the module docstring)."""

    def appraise(self, event: Event, agent: str) -> tuple[float, float] | None: ...


class EnvironmentConfigError(ValueError):
    """Bad environment parameters; the message names the parameter and the fix."""
