import pytest

from sociallm.backbone.base import GenerationRequest
from sociallm.memory.importance import (
    ImportanceRater,
    heuristic,
    parse_rating,
    rating_prompt,
    salience,
    with_affect,
)
from tests.fakes import FakeLLM


def test_parse_rating() -> None:
    assert parse_rating(" 7") == (7.0, [])
    value, repairs = parse_rating("1.85")  # FakeLLM's default number: rounded and recorded
    assert value == 2.0 and repairs
    assert parse_rating("12")[0] == 10.0
    assert parse_rating("0")[0] == 1.0
    assert parse_rating("high")[0] is None


def test_heuristic_orders_mundane_below_stakes() -> None:
    low = heuristic("Bob said hello.")
    high = heuristic("Bob undercut my price and I lost all my profit! He broke our deal.")
    assert 1.0 <= low < high <= 10.0


def test_affect_salience_formula() -> None:
    assert salience(None, None) == 0.0
    assert salience(0.0, 0.5) == 0.0  # neutral arousal, no valence: nothing added
    assert salience(-0.8, 0.6) == pytest.approx(0.8)
    assert salience(0.1, 1.0) == pytest.approx(1.0)
    assert with_affect(4.0, -0.5, 0.5, 3.0) == pytest.approx(5.5)
    assert with_affect(9.0, 1.0, 1.0, 3.0) == 10.0
    assert with_affect(4.0, None, None, 3.0) == 4.0


async def test_rater_batches_in_one_call_caches_and_falls_back() -> None:
    calls: list[int] = []

    class Counting(FakeLLM):
        async def generate(self, requests: list[GenerationRequest]):  # type: ignore[override]
            calls.append(len(requests))
            return await super().generate(requests)

    llm = Counting(reply=lambda r: " 6" if "hello" not in r.prompt.split("Memory (")[-1] else "none")
    rater = ImportanceRater(llm, "Alice")
    out = await rater.rate(["Bob cut prices.", "Bob said hello.", "round over"], [True, True, False])
    assert calls == [2]  # both model ratings in ONE generate call
    assert (out[0].value, out[0].source) == (6.0, "model")
    assert out[1].source == "heuristic" and "held no number" in out[1].repairs[0]
    assert out[2].source == "heuristic" and rater.calls == 2
    again = await rater.rate(["Bob cut prices."], [True])
    assert again[0].source == "cache" and calls == [2]
    req = llm.requests[0]
    assert req.constraint.kind == "number" and req.constraint.decimals == 0
    assert (req.constraint.min, req.constraint.max) == (1, 10)


async def test_rater_failure_uses_heuristic_and_says_so() -> None:
    rater = ImportanceRater(FakeLLM(fail_at=1), "Alice")
    (r,) = await rater.rate(["Bob undercut me!"], [True])
    assert r.source == "heuristic" and "model call failed" in r.repairs[0] and rater.failures == 1


def test_rating_prompt_is_a_document_ending_in_the_slot() -> None:
    p = rating_prompt("Alice", "Bob said hi.")
    assert p.endswith("Memory (Alice): Bob said hi.\nImportance:")
