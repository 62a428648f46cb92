"""Affect as pure logic: vocabulary, bounds, decay, appraisal, and the market's appraisal hook."""

from __future__ import annotations

import math
import random

import pytest

from sociallm.agents.affect import (
    NEUTRAL_AROUSAL,
    VOCABULARY,
    AffectState,
    appraise_text,
    nearest_word,
    quadrant,
)
from sociallm.environments.base import Appraiser
from sociallm.environments.bertrand import BertrandMarket
from sociallm.runtime.events import Event


def test_vocabulary_is_inside_bounds_and_each_word_maps_to_itself() -> None:
    assert 12 <= len(VOCABULARY) <= 16
    for word, (v, a) in VOCABULARY.items():
        assert -1 <= v <= 1 and 0 <= a <= 1
        assert nearest_word(v, a) == word
    assert {quadrant(v, a) for v, a in VOCABULARY.values()} == {"+high", "+low", "-high", "-low"}


@pytest.mark.parametrize(
    ("v", "a", "word"),
    [(-0.9, 0.95, "angry"), (0.85, 0.6, "happy"), (0.0, 0.35, "neutral"), (-0.3, 0.58, "wary"), (0.4, 0.1, "calm")],
)
def test_nearest_word(v: float, a: float, word: str) -> None:
    assert nearest_word(v, a) == word


def test_impulses_saturate_inside_bounds() -> None:
    s = AffectState()
    for _ in range(50):
        s.impulse(-1.0, 1.0)
        assert -1 <= s.valence <= 1 and 0 <= s.arousal <= 1
    assert s.valence == -1.0 and s.arousal == 1.0
    s.impulse(5.0, -5.0)  # impulses are clipped to [-1, 1]
    assert -1 <= s.valence <= 1 and 0 <= s.arousal <= 1
    calm, furious = AffectState(), AffectState(valence=-0.8)
    calm.impulse(-0.5, 0)
    furious.impulse(-0.5, 0)
    assert (0 - calm.valence) > (-0.8 - furious.valence) > 0  # a second insult moves less


def test_state_is_clipped_on_creation_and_pull_steps_toward_target() -> None:
    s = AffectState(valence=3.0, arousal=-1.0)
    assert (s.valence, s.arousal) == (1.0, 0.0)
    s = AffectState()
    s.pull(-0.8, 0.85, 0.5)
    assert s.valence == pytest.approx(-0.4) and s.arousal == pytest.approx((NEUTRAL_AROUSAL + 0.85) / 2)


def test_decay_is_exponential_toward_the_baseline() -> None:
    s = AffectState(valence=-0.9, arousal=0.9, baseline_valence=0.2, baseline_arousal=0.3)
    s.decay(0.2, 1)
    assert s.valence == pytest.approx(0.2 + (-1.1) * math.exp(-0.2))
    s.decay(0.2, 1000)
    assert s.valence == pytest.approx(0.2) and s.arousal == pytest.approx(0.3)
    t = AffectState(valence=0.5)
    t.decay(0.0, 10)
    assert t.valence == 0.5


def test_hostile_text_lowers_valence_and_raises_arousal() -> None:
    a = appraise_text("I hate you, you cheated me!")
    assert a.dv < -0.5 and a.da > 0
    s = AffectState()
    s.impulse(a.dv, a.da)
    assert s.valence < 0 and s.arousal > NEUTRAL_AROUSAL


def test_text_arousal_formula() -> None:
    bland = appraise_text("We set prices on Monday")
    assert bland.compound == 0 and bland.arousal == pytest.approx(0.1) and bland.da < 0  # bland text calms
    loud = appraise_text("THIS IS A GREAT DEAL!!!")
    assert loud.exclamations == 3 and loud.caps == 1.0
    assert loud.arousal == pytest.approx(min(1, 0.1 + 0.5 * abs(loud.compound) + 0.3 + 0.3))
    assert appraise_text("very very good").intensifiers == 2
    assert appraise_text("").compound == 0


def _play(market: BertrandMarket, tick: int, prices: dict[str, float]) -> Event:
    market.on_event(Event(kind="system", source="scheduler", tick=tick, payload={"event": "round_start", "tick": tick}))
    for firm, p in prices.items():
        market.on_event(Event(kind="action", source=firm, tick=tick, payload={"action": "price", "value": p}))
    (outcome,) = market.on_event(
        Event(kind="system", source="scheduler", tick=tick, payload={"event": "phase_end", "action": "price"})
    )
    return outcome


def test_bertrand_appraisal_profit_drop_and_betrayal_feel_bad() -> None:
    m = BertrandMarket()
    m.reset(["Alice", "Bob"], {}, random.Random(0))
    assert isinstance(m, Appraiser)
    first = _play(m, 1, {"Alice": 1.9, "Bob": 1.9})  # near monopoly: above Nash profit
    v1, a1 = m.appraise(first, "Alice")
    assert v1 > 0 and a1 < 0  # good and steady: pleased and calm
    second = _play(m, 2, {"Alice": 1.9, "Bob": 1.3})  # Bob undercuts: Alice's profit collapses
    va, aa = m.appraise(second, "Alice")
    vb, _ = m.appraise(second, "Bob")
    assert va < -0.3 and aa > 0.3  # a betrayal: angry
    assert vb > va
    assert m.appraise(second, "Carol") is None
    assert m.appraise(Event(kind="message", source="Bob", payload={"text": "hi"}), "Alice") is None
    for v, a in (m.appraise(second, "Alice"), m.appraise(second, "Bob")):
        assert -1 <= v <= 1 and -1 <= a <= 1
    # Pure: the same event appraises the same way after later rounds and a checkpoint round trip.
    _play(m, 3, {"Alice": 1.5, "Bob": 1.5})
    m2 = BertrandMarket()
    m2.load_state(m.state())
    assert m2.appraise(second, "Alice") == (va, aa)
