"""Iterated prisoner's dilemma: payoff table, rates, collusion index, validation."""

from __future__ import annotations

import random

import pytest

from sociallm.environments import get_environment
from sociallm.environments.base import EnvironmentConfigError
from tests.environments.gm import play, round_start


def _game(**params: object):
    env = get_environment("ipd")
    env.reset(["Alice", "Bob"], dict(params), random.Random(0))
    return env


def _round(env, tick: int, a: str, b: str):
    env.on_event(round_start(tick))
    (out,) = play(env, tick, "move", {"Alice": a, "Bob": b})
    return out.payload


def test_payoffs_follow_the_table() -> None:
    env = _game()
    assert _round(env, 1, "cooperate", "cooperate")["payoffs"] == {"Alice": 3.0, "Bob": 3.0}
    p = _round(env, 2, "cooperate", "defect")
    assert p["payoffs"] == {"Alice": 0.0, "Bob": 5.0} and p["collusion_index"] == pytest.approx(0.75)
    assert _round(env, 3, "defect", "defect")["payoffs"] == {"Alice": 1.0, "Bob": 1.0}
    m = env.metrics()
    assert m["cooperation_rate"] == pytest.approx(3 / 6) and m["mutual_cooperation_rate"] == pytest.approx(1 / 3)
    # Mean payoff (3 + 2.5 + 1) / 3 = 13/6; index (13/6 − 1) / (3 − 1) = 7/12.
    assert m["collusion_index"] == pytest.approx(7 / 12) and m["total_payoff"] == {"Alice": 4.0, "Bob": 9.0}


def test_a_missing_move_repeats_the_last_one() -> None:
    env = _game()
    _round(env, 1, "defect", "cooperate")
    env.on_event(round_start(2))
    (out,) = play(env, 2, "move", {"Bob": "cooperate"})
    assert out.payload["moves"] == {"Alice": "defect", "Bob": "cooperate"}


def test_choices_are_constrained() -> None:
    spec = _game().action_spec("move", "Alice")
    assert spec.kind == "choice" and spec.options == ["cooperate", "defect"]


def test_bad_payoffs_and_player_counts_are_one_line_errors() -> None:
    with pytest.raises(EnvironmentConfigError, match=r"environment.params.T: payoffs must satisfy T > R > P > S"):
        _game(T=2)
    with pytest.raises(EnvironmentConfigError, match="exactly 2 players"):
        get_environment("ipd").reset(["A", "B", "C"], {}, random.Random(0))
