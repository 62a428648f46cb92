"""Everything about a scenario that can be known before a model starts, checked in one place.

`parse_scenario` (and through it `sociallm check`, `run`, `sweep`, `resume` and the Python API) and
`Run` call `spec_problems`, so `check` refuses exactly what `run` would refuse, and a run refuses it
before a model server or a run folder exists. Every problem is one line naming its place in the file.

Nothing here names a game: the environment class declares its parameters (`Params`, a pydantic
model) and its `actions`; when both pass, the game is set up once as the run will set it up
(`reset`), which catches what depends on the whole scenario (e.g. the number of players), and each
act phase's action is asked of it for every agent that will take it.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from sociallm.runtime import registry
from sociallm.runtime.params import EnvironmentConfigError, validate_params
from sociallm.runtime.turn import stable_prefix

if TYPE_CHECKING:
    from sociallm.runtime.scenario import AgentSpec, ScenarioSpec

ALL = "all"  # a channel's `members: all`


# ---- one line per problem, at its place in the file --------------------------------------------


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "model-")):
            continue  # pydantic's validator frames, not a place in the file
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _allowed_fields(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    """The field names valid where an unknown field was found, by walking the spec models."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        inner = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return []
        model = inner[0]
    return list(model.model_fields)


def format_validation_error(exc: ValidationError, prefix: str = "", root: type[BaseModel] | None = None) -> list[str]:
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_fields(tuple(err["loc"]), root) if root is not None else []
            msg = "unknown field; check the spelling" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
        where = _loc(err["loc"])
        lines.append(f"{prefix + '.' + where if prefix else where}: {msg}")
    return lines


# ---- sections: each validates its own options --------------------------------------------------


def section_module(name: str) -> Any:
    """The module of a section (its `Config`, `build`, and optionally `needs`), by its scenario name."""
    try:
        return registry.load(registry.SECTIONS, name)
    except registry.RegistryError as exc:
        raise ValueError(str(exc)) from None


def section_order() -> list[str]:
    return registry.names(registry.SECTIONS)


def merged_options(scenario: ScenarioSpec, agent: AgentSpec) -> dict[str, dict[str, Any]]:
    out = {name: dict(opts or {}) for name, opts in scenario.sections.items()}
    for name, opts in agent.sections.items():
        out.setdefault(name, {}).update(opts or {})
    return out


def section_problems(spec: ScenarioSpec) -> list[str]:
    """Each section validates its own options; report problems at their place in the file."""
    places = [("sections", spec.sections)] + [(f"agents[{i}].sections", a.sections) for i, a in enumerate(spec.agents)]
    problems: list[str] = []
    for where, sections in places:
        for name, options in sections.items():
            problems += _check_section(f"{where}.{name}", name, options, section_module)
    if not problems:  # each part is valid alone; the merged options must be too
        for i, agent in enumerate(spec.agents):
            for name, options in merged_options(spec, agent).items():
                problems += _check_section(f"agents[{i}].sections.{name}", name, options, section_module)
    return problems


def _check_section(where: str, name: str, options: dict[str, Any], section_module: Any) -> list[str]:
    try:
        config = section_module(name).Config
    except ValueError as exc:  # unknown section name
        return [f"{where}: {exc}"]
    try:
        config.model_validate(options or {})
    except ValidationError as exc:
        return format_validation_error(exc, prefix=where, root=config)
    return []


def spec_problems(spec: ScenarioSpec) -> list[str]:
    problems = structure_problems(spec) + section_problems(spec)
    # The game is set up only for sound agents and channels; its declared checks run anyway.
    return problems + environment_problems(spec, set_up=not problems)


def _twice(names: list[str], where: str, what: str, fold: bool = False) -> list[str]:
    keys = [n.lower() if fold else n for n in names]
    counts = Counter(keys)
    out = []
    for i, (name, key) in enumerate(zip(names, keys, strict=True)):
        if counts[key] > 1 and keys.index(key) != i:
            first = keys.index(key)
            same = " (names differ only in case)" if fold and names[first] != name else ""
            out.append(
                f"{where}[{i}].name: {what} {name!r} is used twice (also {where}[{first}]){same}; names must be unique"
            )
    return out


def structure_problems(spec: ScenarioSpec) -> list[str]:
    """Names, members and references: what the models alone cannot see."""
    problems = _twice(spec.agent_names, "agents", "agent name", fold=True)
    problems += _twice([c.name for c in spec.channels], "channels", "channel")
    problems += _twice([p.name for p in spec.schedule], "schedule", "phase")
    names = set(spec.agent_names)
    channels = {c.name for c in spec.channels}
    for i, ch in enumerate(spec.channels):
        if ch.members == ALL:
            continue
        if not ch.members:
            problems.append(f"channels[{i}].members: empty; list at least one agent, or write `members: all`")
        for m, n in Counter(ch.members).items():
            if n > 1:
                problems.append(f"channels[{i}].members: {m!r} is listed {n} times")
        for m in dict.fromkeys(ch.members):
            if m not in names:
                problems.append(f"channels[{i}].members: unknown agent {m!r}; agents: {', '.join(spec.agent_names)}")
    for i, ph in enumerate(spec.schedule):
        if ph.channel not in channels:
            problems.append(f"schedule[{i}].channel: unknown channel {ph.channel!r}; add it under channels:")
        if ph.kind == "talk" and ph.action is not None:
            problems.append(f"schedule[{i}].action: a talk phase takes no action; make it `kind: act` or drop it")
    return problems


def _params_problems(cls: type, params: Any, agents: list[str]) -> list[str]:
    model = getattr(cls, "Params", None)
    if model is None:
        return []
    try:
        validate_params(model, params, agents)
    except EnvironmentConfigError as exc:
        return list(exc.lines)
    return []


def _action_problem(i: int, action: Any, kind: str, actions: tuple[str, ...]) -> str:
    known = ", ".join(actions) if actions else f"none ({kind} has no act phases; use talk phases)"
    return f"schedule[{i}].action: unknown action {action!r} for {kind}; known: {known}"


def loose_environment_problems(data: dict[str, Any]) -> list[str]:
    """The environment's checks on a file whose other parts failed the models, as far as it can be read,
    so one pass of `check` lists the environment's problems too."""
    env = data.get("environment")
    if not isinstance(env, dict) or not isinstance(env.get("kind"), str):
        return []
    try:
        cls = registry.load(registry.ENVIRONMENTS, env["kind"], "environment.kind")
    except registry.RegistryError as exc:
        return [str(exc)]
    raw_agents = data.get("agents")
    agents = (
        [a["name"] for a in raw_agents if isinstance(a, dict) and isinstance(a.get("name"), str)]
        if isinstance(raw_agents, list)
        else []
    )
    params = env.get("params") or {}
    problems = _params_problems(cls, params, agents) if isinstance(params, dict) else []  # else the model says
    actions = getattr(cls, "actions", None)
    schedule = data.get("schedule")
    if actions is not None and isinstance(schedule, list):
        for i, ph in enumerate(schedule):
            if isinstance(ph, dict) and ph.get("kind") == "act" and isinstance(ph.get("action"), str):
                if ph["action"] not in actions:
                    problems.append(_action_problem(i, ph["action"], env["kind"], tuple(actions)))
    return problems


def environment_problems(spec: ScenarioSpec, set_up: bool = True) -> list[str]:
    kind = spec.environment.kind
    try:
        cls = registry.load(registry.ENVIRONMENTS, kind, "environment.kind")
    except registry.RegistryError as exc:
        return [str(exc)]
    problems = _params_problems(cls, spec.environment.params, spec.agent_names)
    actions = getattr(cls, "actions", None)
    acts = [(i, ph) for i, ph in enumerate(spec.schedule) if ph.kind == "act"]
    if actions is not None:
        problems += [_action_problem(i, ph.action, kind, tuple(actions)) for i, ph in acts if ph.action not in actions]
    if problems or not set_up:
        return problems
    env = cls()
    try:
        env.reset(spec.agent_names, spec.environment.params, random.Random(spec.seed))
    except EnvironmentConfigError as exc:
        return list(getattr(exc, "lines", [str(exc)]))
    except Exception as exc:  # an environment's own bug must still be one line, not a traceback
        return [f"environment: {kind} cannot start with these settings ({type(exc).__name__}: {exc})"]
    for i, ph in acts:
        for name in spec.members(ph.channel):
            try:
                env.action_spec(str(ph.action), name)
            except Exception as exc:
                problems.append(f"schedule[{i}].action: {exc}")
                break
    return problems + prompt_problems(spec, env)


def prompt_problems(spec: ScenarioSpec, env: Any) -> list[str]:
    """The fixed part of every prompt (setting, persona, goals, private notes, rules) must leave room."""
    limit = spec.backbone.max_prompt_chars
    problems = []
    for i, agent in enumerate(spec.agents):
        rules = env.rules(agent.name)
        size = len(stable_prefix(spec, agent, rules))
        if size <= limit:
            continue
        parts = {
            "preamble": len(spec.preamble),
            f"agents[{i}].persona": len(agent.persona),
            f"agents[{i}].goals": sum(len(g) for g in agent.goals),
            f"agents[{i}].private": len(agent.private),
            f"environment (the rules {spec.environment.kind} writes for {agent.name})": len(rules),
        }
        where = max(parts, key=lambda k: parts[k])
        problems.append(
            f"{where}: makes {agent.name}'s prompt {size:,} characters before anything is said, over "
            f"backbone.max_prompt_chars ({limit:,}); shorten it ({parts[where]:,} characters) or raise the limit"
        )
    return problems
