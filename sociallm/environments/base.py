"""The game-master protocol.

An environment sees every event of the run (`on_event`) and answers with the events it causes:
it collects actions, and when the scheduler closes an action phase (a `system` event with
`payload.event == "phase_end"`) it resolves them into `outcome` events. It never calls agents and
never reaches into them; agents learn about the world only through the events it publishes.

Optional: `appraise(event, agent) -> tuple[float, float] | None` says how an event of the game (an
outcome: a profit drop, a betrayal) feels to `agent`, as (valence, arousal) impulses in [−1, 1];
None when the event means nothing to it. The emotion section calls it (reaching the environment
through the run's resources, `ctx.environment`) for every outcome the agent sees; it must be pure in
the event and the game's parameters, since every agent calls it, in any order. An environment
without it simply gives outcomes no affect. See `BertrandMarket.appraise` for an example.

Declared next to the rules, read by the scenario validator before anything starts (so `sociallm
check` refuses what `run` would refuse, listing every problem):
- `Params`: a pydantic model (subclass `EnvironmentParams`) of `environment.params`. Checks that
  depend on who plays read the agent names from the validation context (`agents_of(info)`).
- `actions`: the action names an `act` phase may name.

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

import math
import random
from typing import Annotated, Any, Protocol, runtime_checkable

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from sociallm.runtime.events import Event
from sociallm.runtime.params import EnvironmentConfigError, params_problems, validate_params
from sociallm.runtime.resources import Appraiser
from sociallm.runtime.turn import ActionSpec

__all__ = [
    "ActionSpec",
    "Appraiser",
    "Environment",
    "EnvironmentConfigError",
    "EnvironmentParams",
    "params_problems",
    "validate_params",
]


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


# ---- parameter models ------------------------------------------------------------------------


class EnvironmentParams(BaseModel):
    """Base of an environment's `Params`: unknown keys are errors, values are checked as written."""

    model_config = ConfigDict(extra="forbid")


def finite(value: Any) -> float:
    # bool is an int subclass; `mu: true` in a YAML file is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"must be a finite number (got {value!r})")
    return float(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number (got {value!r})")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (got {value!r})")
    return value


Number = Annotated[float, BeforeValidator(finite)]
Whole = Annotated[int, BeforeValidator(_whole)]
Flag = Annotated[bool, BeforeValidator(_flag)]


def at_least(value: float, lo: float, strict: bool = False) -> float:
    """`value`, or a ValueError in the environments' wording (`must be > 0 (got -1)`)."""
    if value < lo or (strict and value == lo):
        raise ValueError(f"must be {'>' if strict else '>='} {lo:g} (got {value:g})")
    return value


def agents_of(info: ValidationInfo) -> list[str] | None:
    """The agent names passed as validation context, or None when validating without them."""
    ctx = info.context or {}
    agents = ctx.get("agents")
    return list(agents) if isinstance(agents, list | tuple) else None
