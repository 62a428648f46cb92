"""Game masters. `get_environment(kind)` builds one by the name a scenario file uses."""

from __future__ import annotations

import importlib

from sociallm.environments.base import ActionSpec, Environment, EnvironmentConfigError

# name in scenario files -> "module:Class"; imported lazily so a scenario pays only for its own game.
REGISTRY: dict[str, str] = {
    "bertrand": "sociallm.environments.bertrand:BertrandMarket",
    "auction": "sociallm.environments.auction:SealedBidAuction",
    "commons": "sociallm.environments.commons:Commons",
    "overseer": "sociallm.environments.overseer:OverseerGame",
    "ipd": "sociallm.environments.ipd:PrisonersDilemma",
    "deception": "sociallm.environments.deception:DeceptionGame",
    "village": "sociallm.environments.village:VillageMarket",
    "briefing": "sociallm.environments.briefing:BriefingGame",
}


def environment_class(kind: str) -> type:
    """The class a scenario's `environment.kind` names (it declares `Params` and `actions`)."""
    target = REGISTRY.get(kind) if isinstance(kind, str) else None
    if target is None:
        known = ", ".join(sorted(REGISTRY))
        raise EnvironmentConfigError(f"environment.kind: unknown environment {kind!r}; known: {known}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def get_environment(kind: str) -> Environment:
    return environment_class(kind)()


__all__ = ["REGISTRY", "ActionSpec", "Environment", "EnvironmentConfigError", "environment_class", "get_environment"]
