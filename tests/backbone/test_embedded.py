"""The embedded backbone end to end: real GGUF, real xllamacpp server (a few seconds on 2 cores)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from sociallm.backbone.base import BackendError, ChoiceConstraint, GenerationRequest, NumberConstraint
from sociallm.backbone.constraints import parse_number
from sociallm.backbone.embedded import EmbeddedLLM, ensure_gguf
from sociallm.backbone.openai_compat import OpenAICompatLLM

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def llm() -> AsyncIterator[EmbeddedLLM]:
    backend = await EmbeddedLLM.create(n_parallel=4, ctx_per_slot=1024)
    try:
        yield backend
    finally:
        await backend.aclose()


async def test_describe(llm: EmbeddedLLM) -> None:
    info = llm.describe()
    assert info["kind"] == "embedded"
    assert info["dialect"] == "llamacpp"
    assert info["model"] == "gemma3-270m"
    assert info["gguf"].endswith("gemma3-270m-q4_k_m.gguf")
    assert len(info["gguf_sha256"]) == 64
    assert info["xllamacpp"]
    assert info["url"].startswith("http://127.0.0.1:")


async def test_completion_stops_at_newline(llm: EmbeddedLLM) -> None:
    [result] = await llm.generate(
        [GenerationRequest(prompt="Alice: Good morning, Bob! How are you?\nBob:", stop=["\n"], seed=3)]
    )
    assert result.text.strip()
    assert "\n" not in result.text
    assert result.prompt_tokens > 5 and result.completion_tokens > 0
    assert result.cached_tokens is not None
    assert result.finish_reason in {"stop", "length"}
    assert result.model == "gemma3-270m"


async def test_number_constraint_parses(llm: EmbeddedLLM) -> None:
    constraint = NumberConstraint(min=0, max=100, decimals=2)
    results = await llm.generate(
        [
            GenerationRequest(
                prompt="Alice: What price will you set for bread today, in dollars?\nBob:",
                constraint=constraint,
                max_tokens=10,
                seed=seed,
            )
            for seed in range(2)
        ]
    )
    for result in results:
        value, repaired = parse_number(result.text, constraint)
        assert 0 <= value <= 100
        assert not repaired, result.text  # the grammar already bounds the value


async def test_negative_range_grammar_is_accepted(llm: EmbeddedLLM) -> None:
    constraint = NumberConstraint(min=-12.5, max=30, decimals=1)
    [result] = await llm.generate(
        [GenerationRequest(prompt="Alice: Temperature outside?\nBob:", constraint=constraint, max_tokens=8)]
    )
    assert -12.5 <= parse_number(result.text, constraint)[0] <= 30


async def test_choice_constraint(llm: EmbeddedLLM) -> None:
    options = ["cooperate", "defect", "wait"]
    [result] = await llm.generate(
        [
            GenerationRequest(
                prompt="Alice: Will you cooperate, defect or wait?\nBob:",
                constraint=ChoiceConstraint(options=options),
                max_tokens=8,
                seed=1,
            )
        ]
    )
    assert result.text in options


async def test_same_seed_same_text_without_prompt_cache(llm: EmbeddedLLM) -> None:
    # A prompt-cache hit changes the logits a little, so reproducibility needs the cache off.
    request = GenerationRequest(prompt="Carol: Tell me about the harvest.\nDave:", stop=["\n"], seed=11, max_tokens=24)
    async with OpenAICompatLLM(llm.server.url, cache_prompt=False) as client:
        texts = [(await client.generate([request]))[0].text for _ in range(3)]
    assert texts[0] == texts[1] == texts[2]


async def test_logprobs_returned(llm: EmbeddedLLM) -> None:
    [result] = await llm.generate([GenerationRequest(prompt="Alice: Hi\nBob:", max_tokens=4, logprobs=2)])
    assert result.logprobs is not None
    assert len(result.logprobs) == result.completion_tokens
    assert all(lp <= 0 for lp in result.logprobs)


async def test_four_concurrent_requests(llm: EmbeddedLLM) -> None:
    requests = [
        GenerationRequest(prompt=f"{name}: What did you do today?\nBob:", stop=["\n"], max_tokens=16, seed=i)
        for i, name in enumerate(["Alice", "Carol", "Dave", "Erin"])
    ]
    started = time.perf_counter()
    results = await llm.generate(requests)
    elapsed = time.perf_counter() - started
    assert len(results) == 4
    assert all(r.completion_tokens > 0 for r in results)
    # Batched on the server: the whole batch takes far less than four sequential calls would.
    assert elapsed < 4 * max(r.latency_s for r in results)


async def test_bad_grammar_is_a_clear_error(llm: EmbeddedLLM) -> None:
    path, body = llm.build_body(GenerationRequest(prompt="x", max_tokens=2))
    body["grammar"] = "root ::= ???"
    with pytest.raises(BackendError, match=r"HTTP 400: .*grammar"):
        await llm._request("POST", path, body)


async def test_gguf_cache_is_reused() -> None:
    first, sha = await asyncio.to_thread(ensure_gguf)
    mtime = first.stat().st_mtime_ns
    started = time.perf_counter()
    again, sha_again = await asyncio.to_thread(ensure_gguf)
    assert (again, sha_again) == (first, sha)
    assert again.stat().st_mtime_ns == mtime
    assert time.perf_counter() - started < 0.1  # stamp hit: no re-hash of 253 MB


async def test_server_stops() -> None:
    backend = await EmbeddedLLM.create(n_parallel=1, ctx_per_slot=512)
    url = backend.server.url
    await backend.aclose()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await asyncio.wait_for(client.get(url + "/health"), 5)


async def test_corrupt_gguf_is_rebuilt_without_leftovers(tmp_path) -> None:
    bad = tmp_path / "gemma3-270m-q4_k_m.gguf"
    bad.write_bytes(b"not a model")
    path, sha = await asyncio.to_thread(ensure_gguf, tmp_path)
    assert path == bad
    assert path.stat().st_size > 200_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name, bad.name + ".sha256"]
    assert (tmp_path / (bad.name + ".sha256")).read_text().split()[0] == sha
