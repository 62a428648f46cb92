"""The village market and the society generator: bounded texts, sound layouts, clear errors."""

from __future__ import annotations

import random

import pytest

from sociallm.environments import EnvironmentConfigError
from sociallm.environments.village import VillageMarket, reference_prices, society
from sociallm.runtime.events import Event
from sociallm.runtime.scenario import load_scenario, parse_scenario


def market(n: int, **params) -> VillageMarket:
    env = VillageMarket()
    env.reset([f"V{i}" for i in range(n)], params, random.Random(0))
    return env


def close_pricing(env: VillageMarket, prices: dict[str, float], tick: int = 1) -> list[Event]:
    env.on_event(Event(kind="system", source="scheduler", tick=tick, payload={"event": "round_start", "tick": tick}))
    for who, p in prices.items():
        env.on_event(Event(kind="action", source=who, tick=tick, to=[who], payload={"action": "price", "value": p}))
    end = {"event": "phase_end", "action": "price", "tick": tick}
    return env.on_event(Event(kind="system", source="scheduler", tick=tick, payload=end))


def test_cheaper_stall_sells_more_and_each_keeper_hears_only_its_own_result() -> None:
    env = market(3)
    out = close_pricing(env, {"V0": 3.0, "V1": 6.0, "V2": 6.0})
    assert [e.to for e in out] == [["V0"], ["V1"], ["V2"]]
    sold = {e.to[0]: e.payload["sold"] for e in out}
    assert sold["V0"] > sold["V1"] == sold["V2"]
    assert sum(sold.values()) == pytest.approx(2 * 3)  # baskets × villagers
    assert "V1" not in out[0].text and "$3.00" in out[0].text


def test_markets_are_separate_and_texts_do_not_grow_with_the_village() -> None:
    small, big = market(8, market_size=8), market(800, market_size=8)
    assert len(big.rules("V0")) == len(small.rules("V0"))
    out = close_pricing(big, {f"V{i}": 4.0 + (i % 8) / 10 for i in range(800)})
    assert len(out) == 800
    assert max(len(e.text) for e in out) < 200
    # Villager 0 competes with its 7 neighbours only: the same sales as in a village of 8.
    alone = close_pricing(small, {f"V{i}": 4.0 + (i % 8) / 10 for i in range(8)})
    assert out[0].payload["sold"] == pytest.approx(alone[0].payload["sold"])


def test_appraisal_and_metrics() -> None:
    env = market(2)
    out = close_pricing(env, {"V0": 9.0, "V1": 9.0})
    dv, da = env.appraise(out[0], "V0")
    assert dv > 0 and da > 0  # both charge near the top: a good day
    assert env.appraise(out[0], "V1") is None  # not V1's outcome
    m = env.metrics()
    comp, mono = reference_prices(2.0, 2.0, 1.0, 10.0)
    assert comp == pytest.approx(4.0) and mono == 10.0
    assert m["collusion_index"] == pytest.approx((9.0 - 4.0) / (10.0 - 4.0))


@pytest.mark.parametrize(
    ("params", "field"),
    [({"max_price": 0.5}, "max_price"), ({"baskets": 0}, "baskets"), ({"market_size": -1}, "market_size")],
)
def test_bad_parameters_name_the_field(params, field) -> None:
    with pytest.raises(EnvironmentConfigError) as info:
        market(3, **params)
    assert f"environment.params.{field}" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("n", [2, 8, 9, 17, 100])
def test_society_of_any_size_validates(n: int) -> None:
    spec = parse_scenario(society(n, sections=True), f"village-{n}")
    assert len(spec.agents) == n
    assert set(spec.sections) == {"emotion", "memory", "tom"}
    # Everyone talks somewhere, and no hamlet is bigger than 8 (+1 for a lone last villager).
    talkers = {m for c in spec.channels if c.name.startswith("h") for m in c.members}
    assert talkers == set(spec.agent_names)
    assert max(len(c.members) for c in spec.channels if c.name.startswith("h")) <= 9


def test_builtin_village_has_all_three_parts_public_and_private_channels() -> None:
    spec = load_scenario("village")
    assert {"emotion", "memory", "tom"} <= set(spec.sections)
    assert 8 <= len(spec.agents) <= 25
    assert any(not c.private for c in spec.channels) and any(c.private for c in spec.channels)
