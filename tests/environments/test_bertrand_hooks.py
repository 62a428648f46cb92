"""Bertrand's price menu and the hooks algorithmic agents use (feedback, payoff, action_benchmarks)."""

from __future__ import annotations

import random

import pytest

from sociallm.environments.base import EnvironmentConfigError
from sociallm.environments.bertrand import BertrandMarket, equilibrium_prices, profits
from tests.environments.gm import play

NASH, MONO = equilibrium_prices(2)


def market(**params) -> BertrandMarket:
    env = BertrandMarket()
    env.reset(["Alice", "Bob"], params, random.Random(0))
    return env


def test_menu_is_a_choice_over_calvanos_range_or_given_prices() -> None:
    spec = market(menu=5).action_spec("price", "Alice")
    span = MONO - NASH
    assert spec.kind == "choice" and spec.options[0] == f"{NASH - 0.1 * span:.2f}"
    assert spec.options[-1] == f"{MONO + 0.1 * span:.2f}" and len(spec.options) == 5
    env = market(menu=[1.9, 1.5], alpha=3.2)
    assert env.action_spec("price", "Bob").options == ["1.50", "1.90"]
    assert "menu: $1.50, $1.90" in env.rules("Bob")
    (out,) = play(env, 1, "price", {"Alice": "1.50", "Bob": "1.90"})
    assert out.payload["prices"] == {"Alice": 1.5, "Bob": 1.9}
    for bad in (1, [1.5], [1.5, 1.5], "five", 30):
        with pytest.raises(EnvironmentConfigError, match=r"environment\.params\.menu"):
            market(menu=bad)


def test_hooks_speak_agent_facing_units() -> None:
    env = market(alpha=3.2)
    marks = env.action_benchmarks("price")
    assert marks["nash"] == pytest.approx(3.2 * NASH) and marks["monopoly"] == pytest.approx(3.2 * MONO)
    assert marks["cost"] == pytest.approx(3.2)
    assert env.payoff("Alice", {"Alice": 6.0, "Bob": 5.0}) == pytest.approx(3.2 * profits([6 / 3.2, 5 / 3.2])[0])
    (out,) = play(env, 1, "price", {"Alice": 6.0, "Bob": 5.0})
    prices, reward = env.feedback(out, "Bob")
    assert prices == {"Alice": 6.0, "Bob": 5.0} and reward == pytest.approx(out.payload["profits"]["Bob"])
    assert env.feedback(out, "Carol") is None
