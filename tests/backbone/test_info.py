"""Information content: scoring text under a context (vLLM echo span, llama.cpp forced decoding) and
the `info` section. The real-vLLM path is in test_vllm_real.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sociallm.backbone.embedded import EmbeddedLLM
from sociallm.backbone.openai_compat import TextScore, _echo_span
from sociallm.runtime.eventlog import EVENTS_FILE, read_events
from sociallm.runtime.run import Run
from sociallm.runtime.scenario import load_scenario, parse_scenario
from tests.fakes import FakeLLM


def test_echo_span_counts_tokens_from_the_boundary() -> None:
    # "Bob: \"" + "hi there" -> tokens: 'Bob', ':', ' "', 'hi', ' there', then the generated token.
    logprobs = {
        "tokens": ["Bob", ":", ' "h', "i", " there", "X"],
        "text_offset": [0, 3, 4, 7, 8, 14],
        "token_logprobs": [None, -1.0, -2.0, -3.0, -4.0, -9.0],
    }
    # The text starts at character 6 ("h"): ' "h' straddles it and counts; the generated 'X' does not.
    assert _echo_span(logprobs, 6, prompt_tokens=5) == (-9.0, 3)
    assert _echo_span(logprobs, 7, prompt_tokens=5) == (-7.0, 2)
    with pytest.raises(ValueError, match="no prompt tokens"):
        _echo_span(logprobs, 99, prompt_tokens=5)


def test_bits_are_negative_log2() -> None:
    assert TextScore(logprob=-math.log(8), tokens=2).bits == pytest.approx(3.0)


def test_info_section_validates_and_registers() -> None:
    spec = load_scenario("bertrand", {"sections": {"info": {"context_lines": 5, "include_prefix": False}}})
    assert spec.sections["info"]["context_lines"] == 5
    with pytest.raises(ValueError, match=r"sections\.info\.bogus: unknown field"):
        load_scenario("bertrand", {"sections": {"info": {"bogus": 1}}})


async def test_backbone_without_logprobs_disables_info_once_and_the_run_goes_on(tmp_path: Path) -> None:
    spec = load_scenario("bertrand", {"rounds": 2, "sections": {"info": {}}})
    result = await Run(spec, tmp_path / "run", llm=FakeLLM()).execute()
    assert result.status == "completed"
    events = read_events(tmp_path / "run" / EVENTS_FILE).events
    disabled = [e for e in events if e.payload.get("event") == "info_disabled"]
    assert sorted(e.source for e in disabled) == ["Alice", "Bob"]
    assert not [e for e in events if e.kind == "info"]


@pytest.mark.integration
async def test_embedded_llamacpp_scores_by_forced_decoding() -> None:
    llm = await EmbeddedLLM.create(n_parallel=4)
    try:
        ctx = "Alice: I think we should both set our price at"
        plain, same, odd = await llm.score([(ctx, " 1.50 today."), (ctx, " 1.50 today."), (ctx, " zebra quantum.")])
    finally:
        await llm.aclose()
    assert not plain.exact and plain.tokens >= 3 and plain.bits > 0
    assert plain.bits == pytest.approx(same.bits, rel=1e-3)
    assert odd.bits > plain.bits + 10  # nonsense carries (many) more bits than the expected continuation


@pytest.mark.integration
async def test_info_events_on_the_embedded_model(tmp_path: Path) -> None:
    data = {
        "name": "info-embedded",
        "rounds": 1,
        "agents": [{"name": "Alice", "private": "Bob will say he likes fish."}, {"name": "Bob"}, {"name": "Carol"}],
        "schedule": [{"name": "chat", "kind": "talk", "mode": "sequential"}],
        "environment": {"kind": "bertrand", "params": {"a": 2.0, "a0": 0.0, "c": 1.0, "mu": 0.25}},
        "backbone": {"max_tokens": 12, "n_parallel": 4},
        "sections": {"info": {}},
    }
    result = await Run(parse_scenario(data, "test"), tmp_path / "run").execute()
    assert result.status == "completed"
    events = read_events(tmp_path / "run" / EVENTS_FILE).events
    messages = [e for e in events if e.kind == "message" and not e.payload.get("silent")]
    infos = [e for e in events if e.kind == "info"]
    # Every message is scored by each of the two agents who did not write it, and by nobody else.
    assert sorted((i.payload["message_id"], i.source) for i in infos) == sorted(
        (m.id, o) for m in messages for o in ("Alice", "Bob", "Carol") if o != m.source
    )
    assert all(i.payload["bits"] > 0 and i.to == [i.source] for i in infos)
    assert [c for c in events if c.kind == "llm_call" and c.payload["purpose"] == "info"]
