"""Information content: scoring text under a context (vLLM echo span, llama.cpp forced decoding) and
the `info` section. The real-vLLM path is in test_vllm_real.py."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest

from sociallm.backbone.dialects import echo_span as _echo_span
from sociallm.backbone.embedded import EmbeddedLLM
from sociallm.backbone.openai_compat import TextScore
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import EVENTS_FILE, read_events
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


CONTEXT = (
    "This is the transcript of a repeated market game between two firms, Alice and Bob.\n"
    'Alice: "Shall we both keep our prices high this round?"\nBob: "'
)


async def _reference_nats(url: str, context: str, text: str, top: int = 1000) -> tuple[float, list[int]]:
    """Independent reference: the text's canonical tokens (the tokenizer on the text alone), then one plain
    request per position, its prompt the context's tokens (with <bos>, as a generation prompt) plus the text's
    tokens so far, reading the next token's logprob from the top-`top` list (`n_probs`). No grammar, no end token."""
    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        ctx = (await c.post("/tokenize", json={"content": context, "add_special": True})).json()["tokens"]
        ids = (await c.post("/tokenize", json={"content": text})).json()["tokens"]
        together = (await c.post("/tokenize", json={"content": context + text, "add_special": True})).json()["tokens"]
        assert together == ctx + ids  # the text splits the same way inside its context
        total = 0.0
        for i, tok in enumerate(ids):
            body = {"prompt": ctx + ids[:i], "n_predict": 1, "n_probs": top, "temperature": 0, "cache_prompt": False}
            reply = (await c.post("/completion", json=body)).json()
            tops = {t["id"]: t["logprob"] for t in reply["completion_probabilities"][0]["top_logprobs"]}
            assert tok in tops, f"token {tok} of {text!r} not in the top {top}"
            total += tops[tok]
    return total, ids


@pytest.mark.integration
async def test_embedded_info_score_is_the_sum_over_the_canonical_tokens_without_the_end_token() -> None:
    llm = await EmbeddedLLM.create(n_parallel=1, cache_prompt=False)
    try:
        texts = ["Yes, I agree.", "No way, I will undercut you on price."]
        scores = await llm.score([(CONTEXT, t) for t in texts])
        refs = [await _reference_nats(llm.server.url, CONTEXT, t) for t in texts]
    finally:
        await llm.aclose()
    for sc, (ref, ids) in zip(scores, refs, strict=True):
        assert sc.exact and sc.tokens == len(ids)  # its own tokens: not fragments, no end-of-text token
        # llama.cpp rounds a token read in a prompt batch (the reference) and one decoded alone (the score)
        # differently: measured up to 0.15 nats per token. An end token alone costs ~10 nats here.
        assert sc.logprob == pytest.approx(ref, abs=0.2 * len(ids))
        assert sc.bits == pytest.approx(-sc.logprob / math.log(2))


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
