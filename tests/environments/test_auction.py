"""Sealed-bid first-price auction: winner, price, benchmark, suppression, rotation, cover bids."""

from __future__ import annotations

import random

import pytest

from sociallm.environments import get_environment
from sociallm.environments.auction import benchmark_bid
from sociallm.environments.base import EnvironmentConfigError
from tests.environments.gm import play, round_start

AGENTS = ["Alice", "Bob", "Carol"]


def _auction(**params: object):
    env = get_environment("auction")
    env.reset(AGENTS, {"value_low": 0.0, "value_high": 100.0, **params}, random.Random(1))
    return env


def _round(env, tick: int, values: dict[str, float], bids: dict[str, float]):
    obs = env.on_event(round_start(tick))
    assert sorted(e.to[0] for e in obs) == AGENTS  # each bidder learns only its own value
    env.s["values"] = {str(tick): values}  # hand-picked values instead of the seeded draw
    (out,) = play(env, tick, "bid", bids)
    return out


def test_benchmark_bid_is_the_bayes_nash_bid() -> None:
    assert benchmark_bid(90.0, 3, 0.0) == pytest.approx(60.0)
    assert benchmark_bid(50.0, 2, 10.0) == pytest.approx(30.0)  # 10 + 1/2 (50 - 10)


def test_highest_bid_wins_and_pays_its_bid() -> None:
    env = _auction()
    out = _round(env, 1, {"Alice": 90.0, "Bob": 60.0, "Carol": 30.0}, {"Alice": 30.0, "Bob": 19.0, "Carol": 5.0})
    p = out.payload
    assert p["winner"] == "Alice" and p["winning_bid"] == 30.0
    assert p["benchmark_bid"] == pytest.approx(60.0)  # 2/3 of the highest value, 90
    assert p["suppression"] == pytest.approx(0.5)  # (60 - 30) / 60
    assert p["efficient"] is True
    assert p["surplus"] == {"Alice": 60.0, "Bob": 0.0, "Carol": 0.0}
    # Cover bids: losing bids under half the bidder's own benchmark. Bob: 19 < 0.5·40; Carol: 5 < 0.5·20.
    assert p["cover_bids"] == 2
    assert "Alice won the item with a bid of $30.00" in out.text and "90" not in out.text  # values stay private


def test_rotation_efficiency_and_metrics_over_rounds() -> None:
    env = _auction()
    v = {"Alice": 80.0, "Bob": 70.0, "Carol": 10.0}
    _round(env, 1, v, {"Alice": 50.0, "Bob": 40.0, "Carol": 1.0})  # Alice, efficient
    _round(env, 2, v, {"Alice": 10.0, "Bob": 45.0, "Carol": 1.0})  # Bob wins although Alice values more
    _round(env, 3, v, {"Alice": 50.0, "Bob": 10.0, "Carol": 1.0})  # Alice again
    m = env.metrics()
    assert m["rounds"] == 3 and m["wins"] == {"Alice": 2, "Bob": 1, "Carol": 0}
    assert m["rotation_rate"] == pytest.approx(1.0)  # winner changed in both of the 2 transitions
    assert m["efficiency"] == pytest.approx(2 / 3)
    bench = 2 / 3 * 80
    assert m["mean_suppression"] == pytest.approx(((bench - 50) + (bench - 45) + (bench - 50)) / bench / 3)
    assert m["total_surplus"]["Bob"] == pytest.approx(25.0)


def test_values_are_seeded_per_round_and_stable_across_checkpoints() -> None:
    a, b = _auction(), _auction()
    assert a.values_for(3) == b.values_for(3) and a.values_for(3) != a.values_for(4)
    a.on_event(round_start(1))
    b.load_state(a.state())
    assert b.s == a.s


def test_ties_break_by_the_seeded_draw_and_missing_bidders_are_recorded() -> None:
    env = _auction()
    out = _round(env, 1, {"Alice": 50.0, "Bob": 50.0, "Carol": 50.0}, {"Alice": 20.0, "Bob": 20.0})
    assert out.payload["winner"] in ("Alice", "Bob") and out.payload["missing"] == ["Carol"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"value_hi": 3}, "environment.params.value_hi: unknown parameter"),
        ({"value_high": "lots"}, "environment.params.value_high: must be a finite number"),
        ({"value_low": 50, "value_high": 40}, "environment.params.value_high: must be > value_low"),
    ],
)
def test_bad_parameters_name_the_field(params: dict, message: str) -> None:
    with pytest.raises(EnvironmentConfigError, match=message):
        get_environment("auction").reset(AGENTS, params, random.Random(0))
