"""Algorithmic agents: firms (or fishers, bidders...) that decide by a rule, not by a language model.

They take part in a run exactly like language-model agents: the scheduler gives them turns, their
decisions are `action` events with the same payload (`action`, `phase`, `value`, `shown`, `raw`,
plus `strategy`, the kind), they see the events visible to them, and their state goes into every
checkpoint. They make no model calls. In a talk phase they stay silent (a `message` event marked
`silent`, as a language model's empty reply is).

What they learn from comes from the environment through two optional hooks (see
environments/base.py): `feedback(event, agent)` turns an outcome into every actor's action value
and this agent's reward; `payoff(agent, actions)` says what `agent` would earn at given actions
(for best responses and Calvano's initialisation); `action_benchmarks(action)` names reference
values (Bertrand: `nash`, `monopoly`, `cost`) that options may use instead of numbers.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from sociallm.environments.base import ActionSpec
from sociallm.runtime.events import Event

if TYPE_CHECKING:
    from sociallm.agents.agent import Turn
    from sociallm.agents.sections import SectionContext

Level = float | str  # a number, or the name of one of the environment's action benchmarks


class StrategyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StrategyError(ValueError):
    """An algorithmic agent that cannot play this game as configured; one line naming the option."""


class AlgorithmicAgent:
    kind = "algorithmic"

    def __init__(self, ctx: SectionContext, config: Any) -> None:
        self.ctx = ctx
        self.spec = ctx.agent
        self.name = ctx.agent.name
        self.scenario = ctx.scenario
        self.config = config
        self.env = ctx.environment  # the run's game, from its resources
        self.sections: list[Any] = []  # no cognitive parts: nothing to prepare, render or close
        self.prefix = ""  # experiments may swap personas; an algorithm has none to read
        self.last: dict[str, float] = {}  # every actor's action value in the last resolved round
        self.rounds_seen = 0

    # -- helpers ----------------------------------------------------------------------------------
    def where(self, option: str) -> str:
        i = self.scenario.agent_names.index(self.name)
        return f"agents[{i}].options.{option}"

    def level(self, value: Level, action: ActionSpec, option: str) -> float:
        """A number, or an environment benchmark by name (e.g. `nash`)."""
        if isinstance(value, int | float):
            return float(value)
        marks = self.benchmarks(action.name)
        if value not in marks:
            known = ", ".join(marks) or "none (give a number)"
            raise StrategyError(f"{self.where(option)}: {value!r} is not a benchmark of this game; known: {known}")
        return float(marks[value])

    def benchmarks(self, action: str) -> dict[str, float]:
        hook = getattr(self.env, "action_benchmarks", None)
        return dict(hook(action)) if hook is not None else {}

    def payoff(self, actions: dict[str, float]) -> float:
        hook = getattr(self.env, "payoff", None)
        if hook is None:
            raise StrategyError(
                f"agents[{self.scenario.agent_names.index(self.name)}].kind: {self.kind} needs the environment's "
                f"payoff(), which {getattr(self.env, 'name', 'this environment')} does not offer"
            )
        return float(hook(self.name, actions))

    @staticmethod
    def options_of(action: ActionSpec) -> list[float] | None:
        """The numeric values a `choice` action offers (a price menu), else None."""
        if action.kind != "choice":
            return None
        try:
            return [float(o) for o in action.options]
        except ValueError:
            return None

    def fit(self, value: float, action: ActionSpec) -> tuple[Any, str]:
        """The value an action accepts: clamped to the range, or the nearest option of a menu."""
        if action.kind == "choice":
            opts = self.options_of(action)
            if opts is None:
                raise StrategyError(f"agents.{self.name}: action {action.name!r} has non-numeric options")
            k = min(range(len(opts)), key=lambda j: abs(opts[j] - value))
            return action.options[k], action.options[k]
        v = min(max(value, action.min), action.max)
        return v, f"{action.unit}{v:.{action.decimals}f}"

    # -- the actor protocol ---------------------------------------------------------------------
    def observe(self, event: Event) -> None:
        if not event.visible_to(self.name) or event.kind != "outcome":
            return
        hook = getattr(self.env, "feedback", None)
        got = hook(event, self.name) if hook is not None else None
        if got is None:
            return
        actions, reward = got
        clean = {a: float(v) for a, v in actions.items() if isinstance(v, int | float) and math.isfinite(v)}
        self.learn(clean, float(reward))
        self.last = clean
        self.rounds_seen += 1

    async def act(self, turn: Turn) -> Event:
        phase = turn.phase
        if phase.kind == "talk":
            members = self.scenario.members(phase.channel)
            to = [m for m in members if m != self.name] if self.scenario.channel(phase.channel).private else []
            payload = {"text": "…", "raw": "", "phase": phase.name, "silent": True, "strategy": self.kind}
            return Event(
                kind="message", source=self.name, channel=phase.channel, to=to, tick=turn.tick, payload=payload
            )
        assert turn.action is not None
        await self.prepare(turn)
        value = self.choose(turn.action, turn.tick)
        fitted, shown = self.fit(value, turn.action)
        payload = {
            "action": turn.action.name,
            "phase": phase.name,
            "value": fitted,
            "shown": shown,
            "raw": "",
            "strategy": self.kind,
            **self.explain(),
        }
        return Event(kind="action", source=self.name, channel="public", to=[self.name], tick=turn.tick, payload=payload)

    async def after_act(self, event: Event) -> None:
        return None

    # -- for subclasses -------------------------------------------------------------------------
    async def prepare(self, turn: Turn) -> None:
        return None

    def choose(self, action: ActionSpec, tick: int) -> float:
        raise NotImplementedError

    def learn(self, actions: dict[str, float], reward: float) -> None:
        return None

    def explain(self) -> dict[str, Any]:
        """Extra keys for the action payload (e.g. whether a Q-learner explored)."""
        return {}

    def state(self) -> dict[str, Any]:
        return {"last": dict(self.last), "rounds_seen": self.rounds_seen}

    def load_state(self, state: dict[str, Any]) -> None:
        self.last = {k: float(v) for k, v in state.get("last", {}).items()}
        self.rounds_seen = int(state.get("rounds_seen", 0))

    def rivals_last(self) -> list[float]:
        return [v for a, v in self.last.items() if a != self.name]
