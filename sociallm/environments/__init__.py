"""Game masters. `get_environment(kind)` builds one by the name a scenario file uses.

The names come from the `sociallm.environments` registry (runtime/registry.py): the built-in games and
any installed package's entry points, so a plug-in game is found exactly like bertrand.
"""

from __future__ import annotations

from typing import Any

from sociallm.environments.base import ActionSpec, Environment, EnvironmentConfigError
from sociallm.environments.view import EMPTY, GameView, view_of
from sociallm.runtime import registry


def environment_class(kind: str) -> type:
    """The class a scenario's `environment.kind` names (it declares `Params`, `actions` and `view`)."""
    try:
        return registry.load(registry.ENVIRONMENTS, kind, "environment.kind")
    except registry.RegistryError as exc:
        raise EnvironmentConfigError(str(exc)) from None


def environment_view(kind: Any) -> GameView:
    """What a game declares for the TUI, reports and sweeps; a game that cannot be found shows nothing."""
    try:
        return view_of(environment_class(kind))
    except (EnvironmentConfigError, ImportError):
        return EMPTY


def get_environment(kind: str) -> Environment:
    return environment_class(kind)()


__all__ = [
    "ActionSpec",
    "Environment",
    "EnvironmentConfigError",
    "environment_class",
    "environment_view",
    "get_environment",
]
