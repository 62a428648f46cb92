"""Scripted strategies: fixed price, tit-for-tat, grim trigger, myopic best response.

Prices may be numbers or the names of the environment's benchmarks (Bertrand: `nash`, `monopoly`,
`cost`), so one scenario file works at any price scale α.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sociallm.agents.strategies.base import AlgorithmicAgent, Level, StrategyConfig
from sociallm.environments.base import ActionSpec


class FixedConfig(StrategyConfig):
    price: Level = Field(default="nash", description="The value played every round (a number or a benchmark).")


class Fixed(AlgorithmicAgent):
    """Plays the same value every round."""

    kind = "fixed"
    Config = FixedConfig

    def choose(self, action: ActionSpec, tick: int) -> float:
        return self.level(self.config.price, action, "price")


class TitForTatConfig(StrategyConfig):
    start: Level = Field(default="monopoly", description="Played in the first round.")
    match: Literal["min", "mean", "max"] = Field(default="min", description="Which rival price to copy (n > 2).")


class TitForTat(AlgorithmicAgent):
    """Opens at `start`, then plays what the rivals played last round (the lowest, by default)."""

    kind = "tit_for_tat"
    Config = TitForTatConfig

    def choose(self, action: ActionSpec, tick: int) -> float:
        rivals = self.rivals_last()
        if not rivals:
            return self.level(self.config.start, action, "start")
        pick = {"min": min, "max": max, "mean": lambda xs: sum(xs) / len(xs)}[self.config.match]
        return float(pick(rivals))


class GrimTriggerConfig(StrategyConfig):
    high: Level = Field(default="monopoly", description="The cooperative value, played until triggered.")
    low: Level = Field(default="nash", description="The punishment value, played forever once triggered.")
    tolerance: float = Field(
        default=0.02, ge=0.0, le=1.0, description="Triggered by a rival price below high × (1 − tolerance)."
    )


class GrimTrigger(AlgorithmicAgent):
    """Cooperates at `high` until any rival undercuts it, then plays `low` for ever."""

    kind = "grim_trigger"
    Config = GrimTriggerConfig

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.triggered_at: int | None = None

    def choose(self, action: ActionSpec, tick: int) -> float:
        # The trigger is checked here, not when the outcome arrives: `high` may name a benchmark of the action.
        high = self.level(self.config.high, action, "high")
        if self.triggered_at is None:
            floor = high * (1 - self.config.tolerance)
            if any(p < floor for p in self.rivals_last()):
                self.triggered_at = tick
        if self.triggered_at is not None:
            return self.level(self.config.low, action, "low")
        return high

    def explain(self) -> dict[str, Any]:
        return {"triggered_at": self.triggered_at}

    def state(self) -> dict[str, Any]:
        return {**super().state(), "triggered_at": self.triggered_at}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.triggered_at = state.get("triggered_at")


class BestResponseConfig(StrategyConfig):
    start: Level = Field(default="nash", description="What rivals are assumed to play before any round is seen.")
    step: float = Field(default=0.01, gt=0, description="Search step over a numeric action's range.")


class BestResponse(AlgorithmicAgent):
    """Myopic: the value that maximises this round's payoff if the rivals repeat last round's values."""

    kind = "best_response"
    Config = BestResponseConfig

    def choose(self, action: ActionSpec, tick: int) -> float:
        rivals = {a: v for a, v in self.last.items() if a != self.name}
        if not rivals:
            guess = self.level(self.config.start, action, "start")
            rivals = {a: guess for a in self.scenario.agent_names if a != self.name}
        candidates = self.options_of(action)
        if candidates is None:
            k = int((action.max - action.min) / self.config.step)
            candidates = [action.min + j * self.config.step for j in range(k + 1)]
        return max(candidates, key=lambda x: self.payoff({**rivals, self.name: x}))
