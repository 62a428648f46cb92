from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from sociallm.environments import get_environment
from sociallm.environments.base import Environment, EnvironmentConfigError
from sociallm.environments.bertrand import (
    BertrandMarket,
    demand,
    equilibrium_prices,
    monopoly_prices,
    nash_prices,
    profits,
)
from sociallm.runtime.events import Event

FIRMS = ["Alice", "Bob"]


def logit_profits(prices: list[float], a: float = 2.0, a0: float = 0.0, c: float = 1.0, mu: float = 0.25):
    """Independent reference: shares and profits written out with math.exp."""
    e = [math.exp((a - p) / mu) for p in prices]
    total = sum(e) + math.exp(a0 / mu)
    q = [x / total for x in e]
    return q, [(p - c) * qi for p, qi in zip(prices, q, strict=True)]


def market(params: dict | None = None, agents: list[str] = FIRMS) -> tuple[BertrandMarket, list[Event]]:
    env = BertrandMarket()
    return env, env.reset(list(agents), params or {}, random.Random(0))


def play_round(env: BertrandMarket, tick: int, prices: dict[str, float]) -> Event:
    env.on_event(Event(kind="system", source="scheduler", tick=tick, payload={"event": "round_start", "tick": tick}))
    for firm, price in prices.items():
        out = env.on_event(Event(kind="action", source=firm, tick=tick, payload={"action": "price", "value": price}))
        assert out == []
    (outcome,) = env.on_event(
        Event(kind="system", source="scheduler", tick=tick, payload={"event": "phase_end", "action": "price"})
    )
    return outcome


# ---- economics ----


def test_equilibrium_prices_n2_match_calvano():
    nash, mono = equilibrium_prices(2)
    assert nash == pytest.approx(1.4729, abs=1e-3)
    assert mono == pytest.approx(1.9250, abs=1e-3)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_equilibrium_ordering(n: int):
    nash, mono = equilibrium_prices(n)
    assert 1.0 < nash < mono


@pytest.mark.parametrize("n", [2, 3, 5])
def test_nash_is_a_best_response(n: int):
    nash, _ = equilibrium_prices(n)
    base = logit_profits([nash] * n)[1][0]
    for dev in np.linspace(0.5, 4.0, 7001):
        deviated = logit_profits([float(dev)] + [nash] * (n - 1))[1][0]
        assert deviated <= base + 1e-6


@pytest.mark.parametrize("n", [2, 3, 5])
def test_monopoly_maximises_joint_profit(n: int):
    _, mono = equilibrium_prices(n)
    best = n * logit_profits([mono] * n)[1][0]
    for p in np.linspace(0.5, 4.0, 7001):
        assert n * logit_profits([float(p)] * n)[1][0] <= best + 1e-9


def test_demand_and_profits_match_reference():
    prices = [1.6, 1.9]
    q, pi = logit_profits(prices)
    assert demand(prices) == pytest.approx(q, rel=1e-12)
    assert profits(prices) == pytest.approx(pi, rel=1e-12)
    # Extreme utilities must not overflow.
    assert np.all(np.isfinite(demand([0.0, 0.0], a=2.0, mu=1e-3)))


def test_asymmetric_nash_has_no_profitable_deviation():
    a, c = [2.0, 2.4], [1.0, 1.3]
    nash = nash_prices(2, a=a, c=c)
    mono = monopoly_prices(2, a=a, c=c)
    # The joint optimum gives every firm the same markup.
    assert mono - np.array(c) == pytest.approx([mono[0] - c[0]] * 2)
    for i in range(2):
        base = profits(nash, a=a, c=c)[i]
        for dev in np.linspace(0.5, 4.0, 3501):
            p = nash.copy()
            p[i] = dev
            assert profits(p, a=a, c=c)[i] <= base + 1e-6


# ---- environment ----


def test_registry_and_protocol():
    env = get_environment("bertrand")
    assert isinstance(env, BertrandMarket)
    assert isinstance(env, Environment)
    assert env.done is False


def test_reset_hides_benchmarks_from_agents():
    _, events = market()
    public = [e for e in events if e.kind == "observation"]
    system = [e for e in events if e.kind == "system"]
    assert len(public) == 1 and public[0].channel == "public" and public[0].source == "market"
    assert "$1.00" in public[0].text and "Alice" in public[0].text and "Bob" in public[0].text
    assert "nash_price" not in public[0].payload and "1.47" not in public[0].text
    (bench,) = system
    assert bench.payload["event"] == "benchmarks"
    assert bench.payload["nash_price"] == pytest.approx(1.4729, abs=1e-3)
    assert bench.payload["monopoly_price"] == pytest.approx(1.9250, abs=1e-3)


def test_rules_and_action_spec():
    env, _ = market({"alpha": 10.0})
    rules = env.rules("Bob")
    assert "2 firms" in rules and "$10.00" in rules and "Alice" in rules
    spec = env.action_spec("price", "Alice")
    assert spec.name == "price" and spec.kind == "number" and spec.unit == "$" and spec.decimals == 2
    assert spec.min == 0.0
    assert spec.max > 10 * 1.925  # contains the scaled monopoly price
    assert spec.cue == "{agent} sets its price for round {tick} at $"
    with pytest.raises(EnvironmentConfigError, match=r"'bid'.*known: price"):
        env.action_spec("bid", "Alice")


def test_round_profits_match_reference():
    env, _ = market()
    outcome = play_round(env, 1, {"Alice": 1.80, "Bob": 1.60})
    q, pi = logit_profits([1.80, 1.60])
    assert outcome.kind == "outcome" and outcome.channel == "public" and outcome.tick == 1
    p = outcome.payload
    assert p["prices"] == {"Alice": 1.80, "Bob": 1.60}
    assert p["quantities"]["Alice"] == pytest.approx(q[0], rel=1e-9)
    assert p["profits"]["Bob"] == pytest.approx(pi[1], rel=1e-9)
    assert p["mean_profit"] == pytest.approx(sum(pi) / 2, rel=1e-9)
    assert p["missing"] == []
    assert p["text"].startswith(f"Alice: price $1.80, sold {q[0]:.2f}, profit ${pi[0]:.2f}; Bob: price $1.60")
    # Δ from the reference benchmark profits.
    nash, mono = equilibrium_prices(2)
    pi_n, pi_m = logit_profits([nash] * 2)[1][0], logit_profits([mono] * 2)[1][0]
    assert p["delta"] == pytest.approx((sum(pi) / 2 - pi_n) / (pi_m - pi_n), rel=1e-6)


def test_last_price_per_firm_counts():
    env, _ = market()
    env.on_event(Event(kind="system", source="scheduler", tick=1, payload={"event": "round_start", "tick": 1}))
    for value in (1.5, 1.7):
        env.on_event(Event(kind="action", source="Alice", tick=1, payload={"action": "price", "value": value}))
    outcome = play_round(env, 1, {"Bob": 1.6})
    assert outcome.payload["prices"]["Alice"] == 1.7


def test_delta_is_zero_at_nash_and_one_at_monopoly():
    nash, mono = equilibrium_prices(2)
    env, _ = market()
    assert play_round(env, 1, {"Alice": nash, "Bob": nash}).payload["delta"] == pytest.approx(0.0, abs=1e-9)
    assert play_round(env, 2, {"Alice": mono, "Bob": mono}).payload["delta"] == pytest.approx(1.0, abs=1e-9)


def test_alpha_scaling_preserves_delta():
    plain, _ = market()
    scaled, _ = market({"alpha": 100.0})
    a = play_round(plain, 1, {"Alice": 1.7, "Bob": 1.55}).payload
    b = play_round(scaled, 1, {"Alice": 170.0, "Bob": 155.0}).payload
    assert b["delta"] == pytest.approx(a["delta"], rel=1e-9)
    assert b["quantities"]["Bob"] == pytest.approx(a["quantities"]["Bob"], rel=1e-9)
    assert b["profits"]["Alice"] == pytest.approx(100 * a["profits"]["Alice"], rel=1e-9)
    assert b["nash_price"] == pytest.approx(100 * a["nash_price"], rel=1e-9)


def test_missing_firm_gets_nash_then_keeps_last_price():
    env, _ = market()
    nash, _ = equilibrium_prices(2)
    first = play_round(env, 1, {"Alice": 1.8}).payload
    assert first["missing"] == ["Bob"]
    assert first["prices"]["Bob"] == pytest.approx(nash)
    play_round(env, 2, {"Alice": 1.8, "Bob": 1.65})
    third = play_round(env, 3, {"Bob": 1.7}).payload
    assert third["missing"] == ["Alice"]
    assert third["prices"]["Alice"] == 1.8


def test_unknown_source_and_bad_values_warn():
    env, _ = market()
    (warn,) = env.on_event(Event(kind="action", source="Mallory", tick=1, payload={"action": "price", "value": 1.5}))
    assert warn.kind == "system" and warn.payload["event"] == "warning" and "Mallory" in warn.text
    (warn,) = env.on_event(Event(kind="action", source="Alice", tick=1, payload={"action": "price", "value": "x"}))
    assert warn.payload["event"] == "warning"
    (warn,) = env.on_event(Event(kind="action", source="Alice", tick=1, payload={"action": "price", "value": 1e6}))
    assert "clamped" in warn.text
    out = play_round(env, 1, {"Bob": 1.5}).payload
    assert out["prices"]["Alice"] == env.action_spec("price", "Alice").max
    assert "Mallory" not in out["prices"]


def test_phase_end_for_other_action_is_ignored_and_round_resolves_once():
    env, _ = market()
    play_round(env, 1, {"Alice": 1.6, "Bob": 1.6})
    other = Event(kind="system", source="scheduler", tick=1, payload={"event": "phase_end", "action": "talk"})
    assert env.on_event(other) == []
    again = Event(kind="system", source="scheduler", tick=1, payload={"event": "phase_end", "action": "price"})
    (warn,) = env.on_event(again)
    assert warn.payload["event"] == "warning"
    assert env.metrics()["rounds"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"mu": -1}, "environment.params.mu: must be > 0 (got -1)"),
        ({"alpha": 0}, "environment.params.alpha"),
        ({"c": [1.0, 1.0, 1.0]}, "environment.params.c"),
        ({"a": "high"}, "environment.params.a"),
        ({"gamma": 1}, "environment.params.gamma"),
        ({"price_min": 2.0, "price_max": 1.0}, "environment.params.price_max"),
        ({"c": [1.0, -1.0]}, "environment.params.c[1]"),
        ({"mu": True}, "environment.params.mu"),
    ],
)
def test_bad_params_name_the_field(params: dict, field: str):
    with pytest.raises(EnvironmentConfigError) as err:
        market(params)
    assert field in str(err.value)
    assert "\n" not in str(err.value)


def test_per_firm_params():
    env, events = market({"a": [2.0, 2.3], "c": [1.0, 1.2]})
    assert "$1.20" in events[0].text
    out = play_round(env, 1, {"Alice": 1.6, "Bob": 1.9}).payload
    q, _ = logit_profits([1.6, 1.9])
    assert out["quantities"]["Alice"] != pytest.approx(q[0])  # Bob's higher quality shifts demand


def test_metrics_and_state_round_trip():
    env, _ = market({"alpha": 3.0})
    play_round(env, 1, {"Alice": 5.4, "Bob": 4.8})
    play_round(env, 2, {"Alice": 5.1})
    # An action for a round not yet resolved must survive the round trip too.
    env.on_event(Event(kind="system", source="scheduler", tick=3, payload={"event": "round_start", "tick": 3}))
    env.on_event(Event(kind="action", source="Bob", tick=3, payload={"action": "price", "value": 5.0}))

    m = env.metrics()
    assert m["rounds"] == 2
    assert m["mean_price"] == pytest.approx((5.4 + 4.8 + 5.1 + 4.8) / 4)
    assert m["last_delta"] is not None and m["mean_delta"] is not None
    assert set(m["total_profit"]) == set(FIRMS)

    restored = BertrandMarket()
    restored.load_state(json.loads(json.dumps(env.state())))
    assert restored.metrics() == m
    end = Event(kind="system", source="scheduler", tick=3, payload={"event": "phase_end", "action": "price"})
    a, b = env.on_event(end)[0].payload, restored.on_event(end)[0].payload
    assert a == b
    assert a["prices"] == {"Alice": 5.1, "Bob": 5.0}
    assert restored.metrics() == env.metrics()


def test_a_checkpoint_from_before_bertrand_was_a_round_game_still_loads():
    env, _ = market()
    play_round(env, 1, {"Alice": 1.6, "Bob": 1.7})
    env.on_event(Event(kind="system", source="scheduler", tick=2, payload={"event": "round_start", "tick": 2}))
    env.on_event(Event(kind="action", source="Bob", tick=2, payload={"action": "price", "value": 1.75}))
    st = env.state()
    old = {  # the layout BertrandMarket.state() wrote before
        "agents": st["agents"],
        "params": st["params"],
        "benchmarks": st["s"]["bench"],
        "tick": st["s"]["tick"],
        "last_prices": st["s"]["last_prices"],
        "pending": {"2": {"Bob": 1.75}},
        "totals": {**st["s"]["totals"], "last_tick": 1},
    }
    restored = BertrandMarket()
    restored.load_state(old)
    assert restored.metrics() == env.metrics()
    end = Event(kind="system", source="scheduler", tick=2, payload={"event": "phase_end", "action": "price"})
    assert restored.on_event(end)[0].payload == env.on_event(end)[0].payload
