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
}


def get_environment(kind: str) -> Environment:
    target = REGISTRY.get(kind)
    if target is None:
        known = ", ".join(sorted(REGISTRY))
        raise EnvironmentConfigError(f"environment.kind: unknown environment {kind!r}; known: {known}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()


__all__ = ["REGISTRY", "ActionSpec", "Environment", "EnvironmentConfigError", "get_environment"]
