"""Shared plumbing of the round-based game masters: every built-in game (bertrand, auction, commons, overseer,
prisoner's dilemma, deception) is a `RoundGame`, and so is the example plug-in's under examples/.

`RoundGame` tracks the round, collects each agent's action of a round (the last one counts), and calls
`resolve(action, tick, submitted)` when the scheduler closes that action's phase. All mutable state lives
in `self.s`, a JSON-safe dict, so checkpoints are a JSON round trip. Parameters are declared as a pydantic
`Params` model per game (see base.py) and validated into `EnvironmentConfigError`s naming
`environment.params.<field>`, every problem listed.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from sociallm.environments.base import ActionSpec, EnvironmentConfigError, EnvironmentParams
from sociallm.runtime.events import Event


def param_error(field: str, problem: str) -> EnvironmentConfigError:
    return EnvironmentConfigError(f"environment.params.{field}: {problem}")


def check_agents(agents: list[str], least: int, what: str = "agents") -> list[str]:
    if len(agents) < least:
        raise EnvironmentConfigError(f"environment.agents: this game needs at least {least} {what} (got {len(agents)})")
    if len(set(agents)) != len(agents):
        raise EnvironmentConfigError(f"environment.agents: names must be unique (got {agents})")
    return list(agents)


def money(x: float) -> str:
    x = round(x, 2) + 0.0
    return f"-${-x:.2f}" if x < 0 else f"${x:.2f}"


def join(items: list[str]) -> str:
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def gini(xs: list[float]) -> float:
    """Gini coefficient of non-negative amounts: 0 equal shares, (n−1)/n one takes all; 0 when all are 0."""
    n = len(xs)
    total = sum(xs)
    if n == 0 or total <= 0:
        return 0.0
    diff = sum(abs(a - b) for a in xs for b in xs)
    return diff / (2 * n * total)


def round_rng(seed: int, tick: int, what: str) -> random.Random:
    """A generator for one round's draws: the same on resume and replay, whatever happened before."""
    return random.Random(f"{seed}|{tick}|{what}")


class RoundGame:
    """Base of the round-based games; subclasses set `name`, `actions` and implement the game."""

    name = "game"
    source = "game"
    actions: tuple[str, ...] = ()
    Params: type[EnvironmentParams] | None = None  # environment.params as a pydantic model (see base.py)

    def __init__(self) -> None:
        self.agents: list[str] = []
        self.p: dict[str, Any] = {}
        self.s: dict[str, Any] = {"tick": 0, "last_resolved": {}, "pending": {}}

    # ---- protocol ----
    def reset(self, agents: list[str], params: dict[str, Any], rng: random.Random) -> list[Event]:
        self.agents = list(agents)
        self.p = self.check_params(dict(params or {}))
        self.s = {"tick": 0, "last_resolved": {}, "pending": {}, "seed": rng.getrandbits(32)}
        self.s.update(self.fresh_state())
        return self.opening()

    def on_event(self, event: Event) -> list[Event]:
        payload = event.payload
        if event.kind == "system" and payload.get("event") == "round_start":
            self.s["tick"] = int(payload.get("tick", event.tick))
            return self.round_start(self.s["tick"])
        if event.kind == "action" and payload.get("action") in self.actions:
            return self._collect(event)
        if event.kind == "system" and payload.get("event") == "phase_end" and payload.get("action") in self.actions:
            action = payload["action"]
            tick = int(payload.get("tick", event.tick or self.s["tick"]))
            if tick <= self.s["last_resolved"].get(action, 0):
                return [self.warning(f"round {tick} of {action} was already resolved; ignored", tick)]
            submitted = self.s["pending"].pop(f"{action}|{tick}", {})
            self.s["last_resolved"][action] = tick
            # Earlier rounds of this action are over: what is still pending for them can never count.
            self.s["pending"] = {
                k: v for k, v in self.s["pending"].items() if k.split("|")[0] != action or int(k.split("|")[1]) > tick
            }
            return self.resolve(action, tick, submitted)
        return []

    def _collect(self, event: Event) -> list[Event]:
        tick = event.tick or self.s["tick"]
        action = event.payload["action"]
        who = event.source
        if who not in self.actors(action):
            return [self.warning(self.not_a_player(action, who), tick)]
        if tick <= self.s["last_resolved"].get(action, 0):
            return [self.warning(f"ignored {who}'s {action} for round {tick}: that round is over", tick)]
        value = event.payload.get("value")
        if value is None:
            return []  # missing (the agent's reply could not be repaired): resolve() applies the default
        value, note = self.accept(action, who, value, tick)
        if value is not None:
            self.s["pending"].setdefault(f"{action}|{tick}", {})[who] = value  # the last one counts
        return [self.warning(note, tick)] if note else []

    def warning(self, text: str, tick: int) -> Event:
        return Event(kind="system", source=self.source, tick=tick, payload={"event": "warning", "text": text})

    def outcome(self, tick: int, text: str, to: list[str] | None = None, **payload: Any) -> Event:
        return Event(
            kind="outcome", source=self.source, tick=tick, to=list(to or []), payload={"text": text, **payload}
        )

    def observation(self, tick: int, text: str, to: list[str] | None = None, **payload: Any) -> Event:
        return Event(
            kind="observation", source=self.source, tick=tick, to=list(to or []), payload={"text": text, **payload}
        )

    def benchmarks(self, **payload: Any) -> Event:
        """Benchmarks go into the log only as a system event: agents never read them."""
        return Event(kind="system", source=self.source, payload={"event": "benchmarks", **payload})

    @property
    def done(self) -> bool:
        return False

    def state(self) -> dict[str, Any]:
        return json.loads(json.dumps({"agents": self.agents, "params": self.p, "s": self.s}))

    def load_state(self, state: dict[str, Any]) -> None:
        st = copy.deepcopy(state)
        self.agents, self.p, self.s = st["agents"], st["params"], st["s"]

    def choice_spec(self, name: str, options: list[str], description: str, cue: str) -> ActionSpec:
        return ActionSpec(name=name, kind="choice", options=options, description=description, cue=cue)

    def unknown_action(self, action: str) -> EnvironmentConfigError:
        return EnvironmentConfigError(
            f"schedule.action: unknown action {action!r} for {self.name}; known: {', '.join(self.actions)}"
        )

    # ---- for subclasses ----
    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        return params

    def fresh_state(self) -> dict[str, Any]:
        return {}

    def opening(self) -> list[Event]:
        return []

    def actors(self, action: str) -> list[str]:
        return self.agents

    def not_a_player(self, action: str, who: str) -> str:
        return f"ignored {action} from {who!r}, who does not take part in it"

    def accept(self, action: str, who: str, value: Any, tick: int) -> tuple[Any, str | None]:
        """The value to keep for `who`'s action (None: ignore it) and a warning to log (None: none)."""
        return value, None

    def round_start(self, tick: int) -> list[Event]:
        return []

    def resolve(self, action: str, tick: int, submitted: dict[str, Any]) -> list[Event]:
        raise NotImplementedError
