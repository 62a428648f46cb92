"""Experiments: conditions × seeds of one scenario, with scripted interventions, sharing one backend.

A *condition* is a named set of overrides on the scenario file: any field by its dotted path (the same
paths as `sociallm run --set`, e.g. `environment.params.mu`, `agents.0.persona`) or a shortcut:

    comm   none | public | private   drop the talk phases / talk on the public channel / on a private
                                     channel of all agents (`backroom`)
    n      2..8                      number of agents (the first ones are kept, more are added)

A game's own parameters have no shortcut: they are set by path (`environment.params.alpha=1,3.2`), so
conditions work the same for every game, a plug-in's included.

An *intervention* changes a run while it plays, at given rounds, in given conditions, or when a metric
of the environment crosses a threshold (warnings only): a regulator's warning message, muting a
channel, swapping an agent's persona. Interventions are written next to the run
(`interventions.json`) so `sociallm resume` and `sociallm replay` apply them again.

    exp = Experiment("bertrand", seeds=5, rounds=10)
    exp.condition("silent", comm="none")
    exp.condition("chat", comm="public")
    exp.intervene(at=6, warn="The competition authority is watching prices.", conditions=["chat"])
    result = exp.run("sweeps/demo")          # results.parquet, results.csv, one folder per run
"""

from __future__ import annotations

import copy
import itertools
import json
import operator
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sociallm.runtime.events import Event
from sociallm.runtime.scenario import (
    ScenarioError,
    ScenarioSpec,
    apply_overrides,
    format_validation_error,
    load_raw,
    parse_scenario,
    resolve,
)
from sociallm.runtime.scheduler import system_event

INTERVENTIONS_FILE = "interventions.json"
SHORTCUTS = ("comm", "n")
COMM = ("none", "public", "private")
PRIVATE_CHANNEL = "backroom"
EXTRA_NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi"]
_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
REGULATOR = "regulator"


class ConditionError(ValueError):
    """A condition or intervention that cannot be used; one line naming the key and the fix."""


# --------------------------------------------------------------------------------------------------
# Conditions.


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _set_comm(data: dict[str, Any], value: Any) -> None:
    if value not in COMM:
        raise ConditionError(f"comm: must be one of {', '.join(COMM)} (got {value!r})")
    schedule = [p for p in data.get("schedule", []) if isinstance(p, dict)]
    talk = [p for p in schedule if p.get("kind") == "talk"]
    # Keep the preamble true to the condition (the built-in scenarios' wording; other text is left alone).
    pre = data.get("preamble")
    if isinstance(pre, str):
        data["preamble"] = pre.replace(
            "may talk in a public chat, then",
            {"none": "cannot talk to each other;", "public": "may talk in a public chat, then",
             "private": "may talk in a private chat, then"}[value],
        )  # fmt: skip
    if value == "none":
        data["schedule"] = [p for p in schedule if p.get("kind") != "talk"]
        return
    if not talk:  # a silent scenario gets one chat phase before everything else
        talk = [{"name": "chat", "kind": "talk", "mode": "sequential", "channel": "public", "turns": 1}]
        data["schedule"] = talk + schedule
    channels = [c for c in data.get("channels", [{"name": "public", "members": "all"}]) if isinstance(c, dict)]
    if value == "private":
        names = [a.get("name") for a in data.get("agents", []) if isinstance(a, dict)]
        if not any(c.get("name") == PRIVATE_CHANNEL for c in channels):
            channels.append(
                {"name": PRIVATE_CHANNEL, "members": names, "description": "a private chat among the agents"}
            )
    elif not any(c.get("name") == "public" for c in channels):
        channels.append({"name": "public", "members": "all"})
    data["channels"] = channels
    for p in talk:
        p["channel"] = PRIVATE_CHANNEL if value == "private" else "public"


def _set_n(data: dict[str, Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= len(EXTRA_NAMES):
        raise ConditionError(f"n: must be a whole number from 1 to {len(EXTRA_NAMES)} (got {value!r})")
    agents = [a for a in data.get("agents", []) if isinstance(a, dict)]
    old = [a.get("name") for a in agents]
    if value <= len(agents):
        agents = agents[:value]
    else:
        template = agents[-1] if agents else {}
        spare = [n for n in EXTRA_NAMES if n not in old]
        for name in spare[: value - len(agents)]:
            extra = copy.deepcopy(template)
            extra["name"] = name
            extra["persona"] = f"{name} runs a firm of its own."
            agents.append(extra)
    data["agents"] = agents
    names = [a["name"] for a in agents]
    for c in data.get("channels", []):
        if isinstance(c, dict) and isinstance(c.get("members"), list):
            c["members"] = [m for m in c["members"] if m in names] or names
    # Keep the preamble true: "two firms, Alice and Bob," becomes "three firms, Alice, Bob and Carol,".
    pre = data.get("preamble")
    if isinstance(pre, str) and old:
        words = "|".join([*_NUMBER_WORDS.values(), r"\d+"])
        pattern = rf"\b({words}) (\w+), {re.escape(_join(old))}"
        count = _NUMBER_WORDS.get(value, str(value))
        data["preamble"] = re.sub(pattern, lambda m: f"{count} {m.group(2)}, {_join(names)}", pre, count=1)


_SHORTCUT_FNS = {"comm": _set_comm, "n": _set_n}


def apply_condition(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Apply shortcuts first (n before comm, so a private channel lists the final agents), then paths."""
    data = copy.deepcopy(data)
    fields = set(ScenarioSpec.model_fields)
    for key in overrides:
        if key not in SHORTCUTS and key.split(".")[0] not in fields:
            raise ConditionError(
                f"{key}: unknown condition key; use a dotted scenario path (e.g. environment.params.mu, "
                f"agents.0.persona) or a shortcut ({', '.join(SHORTCUTS)})"
            )
    for key in ("n", "comm"):
        if key in overrides:
            _SHORTCUT_FNS[key](data, overrides[key])
    paths = {k: v for k, v in overrides.items() if k not in SHORTCUTS}
    try:
        return apply_overrides(data, paths)
    except ScenarioError as exc:
        raise ConditionError(exc.lines[0]) from None


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    overrides: dict[str, Any] = Field(default_factory=dict)


def condition_name(overrides: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in overrides.items()) or "base"


def grid(values: dict[str, list[Any]]) -> list[Condition]:
    """The cartesian product of per-key value lists, one condition per combination."""
    keys = list(values)
    out = []
    for combo in itertools.product(*(values[k] for k in keys)):
        overrides = dict(zip(keys, combo, strict=True))
        out.append(Condition(name=condition_name(overrides), overrides=overrides))
    return out


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "base"


# --------------------------------------------------------------------------------------------------
# Interventions.

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}


class Trigger(BaseModel):
    """Fires at a round's start when the environment's metric compares true (e.g. last_delta > 0.5)."""

    model_config = ConfigDict(extra="forbid")
    metric: str
    op: Literal[">", ">=", "<", "<=", "=="] = ">"
    value: float

    def holds(self, metrics: dict[str, Any]) -> bool:
        x = metrics.get(self.metric)
        return isinstance(x, int | float) and not isinstance(x, bool) and _OPS[self.op](x, self.value)


class Intervention(BaseModel):
    """One scripted change. `at` (first round, 1-based) and `until` (last round, inclusive) bound it;
    `conditions` limits it to named conditions; `when` (warnings only) makes it depend on a metric."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["warn", "mute", "persona"]
    at: int | None = Field(default=None, ge=1)
    until: int | None = Field(default=None, ge=1)
    when: Trigger | None = None
    conditions: list[str] | None = None
    text: str = Field(default="", description="warn: the message; persona: the new persona.")
    channel: str = "public"
    agent: str | None = Field(default=None, description="persona: whose persona is swapped.")
    source: str = REGULATOR

    @model_validator(mode="after")
    def _check(self) -> Intervention:
        if self.kind == "warn" and not self.text.strip():
            raise ValueError("a warning needs text")
        if self.kind == "persona" and (not self.agent or not self.text.strip()):
            raise ValueError("a persona swap needs agent and text (the new persona)")
        if self.kind != "warn" and self.when is not None:
            raise ValueError("`when` triggers apply to warnings only; give mute/persona a round with `at`")
        if self.at is None and self.when is None:
            raise ValueError("give a round (`at`) or a trigger (`when`)")
        if self.at is not None and self.until is not None and self.until < self.at:
            raise ValueError(f"until ({self.until}) is before at ({self.at})")
        return self

    def active(self, tick: int) -> bool:
        return (self.at is None or tick >= self.at) and (self.until is None or tick <= self.until)

    def check_against(self, spec: ScenarioSpec, where: str) -> None:
        channels = {c.name for c in spec.channels}
        if self.kind in ("warn", "mute") and self.channel not in channels:
            raise ConditionError(f"{where}.channel: unknown channel {self.channel!r}; known: {', '.join(channels)}")
        if self.kind == "persona" and self.agent not in spec.agent_names:
            raise ConditionError(f"{where}.agent: unknown agent {self.agent!r}; known: {', '.join(spec.agent_names)}")


def parse_interventions(raw: list[Any], where: str = "interventions") -> list[Intervention]:
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, Intervention):
            out.append(item)
            continue
        try:
            out.append(Intervention.model_validate(item))
        except ValidationError as exc:
            line = format_validation_error(exc, f"{where}[{i}]", Intervention)[0]
            raise ConditionError(line.replace(".(top level)", "")) from None
    return out


def attach_interventions(run: Any, interventions: list[Intervention], condition: str | None = None) -> None:
    """Register `interventions` on a Run as one round hook (idempotent per round, so resume re-applies)."""
    mine = [iv for iv in interventions if iv.conditions is None or condition in iv.conditions]
    if not mine:
        return
    base_personas = {a.name: a for a in run.spec.agents}

    async def hook(run: Any, tick: int) -> None:
        from sociallm.agents.prompts import stable_prefix

        metrics = run.env.metrics()
        muted: set[str] = set()
        personas: dict[str, str] = {}
        for k, iv in enumerate(mine):
            if not iv.active(tick):
                continue
            starts = tick == iv.at
            if iv.kind == "warn":
                if (iv.when is None and starts) or (iv.when is not None and iv.when.holds(metrics)):
                    await run.emit(
                        Event(
                            kind="message",
                            source=iv.source,
                            channel=iv.channel,
                            tick=tick,
                            payload={"text": iv.text.strip(), "injected": True, "intervention": k},
                        )
                    )
                continue
            if iv.kind == "mute":
                muted.add(iv.channel)
            else:
                personas[iv.agent or ""] = iv.text.strip()
            if starts:
                detail = {"channel": iv.channel} if iv.kind == "mute" else {"agent": iv.agent, "persona": iv.text}
                await run.emit(system_event(tick, "intervention", kind=iv.kind, index=k, **detail))
        run.muted.clear()
        run.muted.update(muted)
        for name, agent in run.agents.items():
            spec = base_personas[name]
            if name in personas:
                spec = spec.model_copy(update={"persona": personas[name]})
            if agent.spec is not spec:
                agent.spec = spec
                agent.prefix = stable_prefix(run.spec, spec, run.env.rules(name))

    run.round_hooks.append(hook)


def save_interventions(run_dir: Path, interventions: list[Intervention], condition: str | None) -> None:
    if not interventions:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    data = {"condition": condition, "interventions": [iv.model_dump(mode="json") for iv in interventions]}
    (run_dir / INTERVENTIONS_FILE).write_text(json.dumps(data, indent=2), encoding="utf-8")


def load_interventions(run_dir: Path) -> tuple[list[Intervention], str | None]:
    path = Path(run_dir) / INTERVENTIONS_FILE
    if not path.exists():
        return [], None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConditionError(f"{path}: cannot be read ({type(exc).__name__}); the file is damaged") from None
    if not isinstance(data, dict) or not isinstance(data.get("interventions", []), list):
        raise ConditionError(f"{path}: expected an object with a list of interventions; the file is damaged")
    return parse_interventions(data.get("interventions", []), str(path)), data.get("condition")


# --------------------------------------------------------------------------------------------------
# Building and checking specs.


def build_spec(scenario: str | Path, overrides: dict[str, Any], where: str = "condition") -> ScenarioSpec:
    """The scenario with a condition's overrides applied, through the one validation path
    (`parse_scenario`); every problem is one line of the ConditionError."""
    try:
        path = resolve(str(scenario))
        data = load_raw(path)
    except ScenarioError as exc:
        raise ConditionError("\n".join(f"{exc.source}: {line}" for line in exc.lines)) from None
    if not isinstance(data, dict):
        raise ConditionError(f"{path}: the file must be a YAML mapping")
    try:
        data = apply_condition(data, overrides)
    except ConditionError as exc:
        raise ConditionError(f"{where}: {exc}") from None
    try:
        return parse_scenario(data, str(path))
    except ScenarioError as exc:
        raise ConditionError("\n".join(f"{where}: {line}" for line in exc.lines)) from None
