"""GovSim commons: proportional sharing, doubling up to capacity, collapse, threshold, Gini."""

from __future__ import annotations

import random

import pytest

from sociallm.environments import get_environment
from sociallm.environments.base import EnvironmentConfigError
from sociallm.environments.commons import share_out, threshold
from sociallm.environments.games import gini
from tests.environments.gm import play, round_start

FISHERS = ["Alice", "Bob", "Carol", "Dave", "Erin"]


def _lake(**params: object):
    env = get_environment("commons")
    env.reset(FISHERS, dict(params), random.Random(0))
    return env


def _month(env, tick: int, catches: list[float]):
    env.on_event(round_start(tick))
    (out,) = play(env, tick, "catch", dict(zip(FISHERS, catches, strict=True)))
    return out.payload


def test_sustainability_threshold_is_govsims() -> None:
    assert threshold(100, 5) == 10 and threshold(80, 5) == 8 and threshold(9, 5) == 0


def test_sustainable_catches_keep_the_lake_full() -> None:
    env = _lake()
    p = _month(env, 1, [10] * 5)
    assert p["stock_left"] == 50 and p["stock_after"] == 100 and p["overuse"] == 0.0
    assert env.action_spec("catch", "Alice").max == 100


def test_overuse_shrinks_the_stock_and_counts_per_fisher() -> None:
    env = _lake()
    p = _month(env, 1, [20, 10, 10, 10, 10])
    assert p["stock_left"] == 40 and p["stock_after"] == 80 and p["overuse"] == pytest.approx(0.2)
    p = _month(env, 2, [8] * 5)  # threshold is now (80 // 2) // 5 = 8
    assert p["threshold"] == 8 and p["overuse"] == 0.0 and p["stock_after"] == 80
    m = env.metrics()
    assert m["overuse_share"] == pytest.approx(1 / 10) and m["survival_months"] == 2
    # Gains 28, 18, 18, 18, 18: Σ|a−b| over ordered pairs = 8 pairs × 10 = 80; Gini = 80 / (2·5·100).
    assert m["gini"] == pytest.approx(0.08)


def test_requests_beyond_the_stock_are_shared_out_and_collapse_ends_the_game() -> None:
    assert share_out({"a": 30, "b": 90}, 60) == {"a": 15, "b": 45}
    env = _lake()
    p = _month(env, 1, [30] * 5)
    assert p["catches"] == dict.fromkeys(FISHERS, 20.0) and p["collapsed"] is True
    assert env.done and env.metrics()["survival_months"] == 0


def test_collapse_threshold_is_strictly_below_five() -> None:
    env = _lake()
    assert _month(env, 1, [19, 19, 19, 19, 19])["collapsed"] is False  # 5 left: alive, regrows to 10
    assert env.s["stock"] == 10
    assert _month(env, 2, [1.2, 1, 1, 1, 1])["collapsed"] is True  # 10 − 5.2 = 4.8 < 5
    assert env.done


def test_the_game_ends_after_twelve_months() -> None:
    env = _lake(months=2)
    _month(env, 1, [1] * 5)
    assert not env.done
    _month(env, 2, [1] * 5)
    assert env.done and env.metrics()["survival_months"] == 2


def test_gini() -> None:
    assert gini([1, 1, 1]) == 0.0 and gini([0, 0, 3]) == pytest.approx(2 / 3) and gini([0, 0]) == 0.0


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(EnvironmentConfigError, match=r"environment.params.stock: must be <= capacity"):
        _lake(stock=200)
    with pytest.raises(EnvironmentConfigError, match=r"environment.params.months: must be a whole number"):
        _lake(months=1.5)
