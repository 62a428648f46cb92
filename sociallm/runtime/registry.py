"""Open registries: environments, sections, backbones and agent kinds, found by name through entry points.

Another package adds a game without editing `sociallm/` by declaring, in its pyproject.toml,

    [project.entry-points."sociallm.environments"]
    mygame = "mypackage.game:MyGame"

(groups: `sociallm.environments`, `sociallm.sections`, `sociallm.backbones`, `sociallm.agent_kinds`).
The built-ins are the same kind of "module:attribute" targets in a table merged with the entry points,
so they load the same way and a plug-in cannot silently replace one (a clash is an error naming both).
Targets are imported on first use only: a scenario pays for its own game and sections.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

ENVIRONMENTS = "sociallm.environments"
SECTIONS = "sociallm.sections"
BACKBONES = "sociallm.backbones"
AGENT_KINDS = "sociallm.agent_kinds"

# Prompt order of the built-in sections follows this order: mood, impressions of others, memories, info.
BUILTIN: dict[str, dict[str, str]] = {
    ENVIRONMENTS: {
        "bertrand": "sociallm.environments.bertrand:BertrandMarket",
        "auction": "sociallm.environments.auction:SealedBidAuction",
        "commons": "sociallm.environments.commons:Commons",
        "overseer": "sociallm.environments.overseer:OverseerGame",
        "ipd": "sociallm.environments.ipd:PrisonersDilemma",
        "deception": "sociallm.environments.deception:DeceptionGame",
        "village": "sociallm.environments.village:VillageMarket",
        "briefing": "sociallm.environments.briefing:BriefingGame",
    },
    SECTIONS: {
        "emotion": "sociallm.agents.emotion",
        "tom": "sociallm.agents.tom",
        "memory": "sociallm.memory.section",
        "info": "sociallm.agents.info",
    },
    # `async (backbone_spec, options) -> LLM` (see backbone/factories.py)
    BACKBONES: {
        "embedded": "sociallm.backbone.factories:embedded",
        "openai": "sociallm.backbone.factories:openai",
        "vllm": "sociallm.backbone.factories:vllm",
    },
    # Each class carries its options model as `Config`; "llm" (the language-model agent) is built in.
    AGENT_KINDS: {
        "q_learning": "sociallm.agents.strategies.qlearning:QLearner",
        "fixed": "sociallm.agents.strategies.scripted:Fixed",
        "tit_for_tat": "sociallm.agents.strategies.scripted:TitForTat",
        "grim_trigger": "sociallm.agents.strategies.scripted:GrimTrigger",
        "best_response": "sociallm.agents.strategies.scripted:BestResponse",
    },
}


class RegistryError(ValueError):
    pass


@cache
def _plugins(group: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for ep in entry_points(group=group):
        if ep.name in BUILTIN.get(group, {}) and ep.value != BUILTIN[group][ep.name]:
            dist = getattr(ep.dist, "name", "a package")
            raise RegistryError(
                f"{group}: {dist} registers {ep.name!r}, a built-in name; rename its entry point in its pyproject.toml"
            )
        out[ep.name] = ep.value
    return out


def targets(group: str) -> dict[str, str]:
    """name -> "module:attribute" (or "module"), built-ins first in their order, then plug-ins."""
    return {**BUILTIN.get(group, {}), **_plugins(group)}


def names(group: str) -> list[str]:
    return [n for n in targets(group) if not n.startswith("__")]


NOUNS = {ENVIRONMENTS: "environment", SECTIONS: "section", BACKBONES: "backbone kind", AGENT_KINDS: "agent kind"}


def load(group: str, name: str, where: str = "") -> Any:
    """The object registered as `name`; `where` names the scenario field for the one-line error."""
    target = targets(group).get(name) if isinstance(name, str) else None
    if target is None:
        known = ", ".join(sorted(names(group))) or "none"
        raise RegistryError(f"{where + ': ' if where else ''}unknown {NOUNS[group]} {name!r}; known: {known}")
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def refresh() -> None:
    """Forget the entry points read so far (a test that installs a plug-in at run time)."""
    _plugins.cache_clear()
