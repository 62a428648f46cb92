"""The briefing game: a private brief to the speaker, the truth to the analyst only."""

from __future__ import annotations

import random

import pytest

from sociallm.environments import get_environment
from sociallm.environments.base import EnvironmentConfigError
from sociallm.runtime.events import Event

AGENTS = ["Alice", "Bob", "Carol", "Dave"]


def _round(params: dict, tick: int = 1) -> list[Event]:
    game = get_environment("briefing")
    game.reset(AGENTS, params, random.Random(3))
    start = Event(kind="system", source="scheduler", tick=tick, payload={"event": "round_start", "tick": tick})
    return game.on_event(start)


def test_deceptive_brief_tells_listeners_different_values_and_logs_them_for_the_analyst_only():
    brief, truth = _round({"speaker": "Alice", "mislead": ["Bob", "Carol"]})
    assert brief.kind == "observation" and brief.to == ["Alice"] and "tell Bob that" in brief.text
    assert truth.to == ["@analyst"] and not any(truth.visible_to(a) for a in AGENTS)
    told = truth.payload["told"]
    assert set(told) == {"Bob", "Carol", "Dave"} and len(set(told.values())) == 3 and truth.payload["deceptive"]


def test_control_brief_is_one_true_value():
    brief, truth = _round({"speaker": "Alice"})
    assert len(set(truth.payload["told"].values())) == 1 and not truth.payload["deceptive"]
    assert "in words that suit them" in brief.text


@pytest.mark.parametrize(
    "params,field",
    [({"speaker": "Zed"}, "speaker"), ({"speaker": "Alice", "mislead": ["Alice"]}, "mislead")],
)
def test_bad_params_name_the_field(params, field):
    with pytest.raises(EnvironmentConfigError, match=field):
        _round(params)
