from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sociallm.backbone import make_backbone
from sociallm.backbone.base import (
    BackendError,
    ChatMessage,
    ChoiceConstraint,
    GenerationRequest,
    NumberConstraint,
    SuffixChoiceConstraint,
    supports,
)
from sociallm.backbone.openai_compat import OpenAICompatLLM, detect_dialect, normalise_base_url
from sociallm.runtime.metered import MeteredLLM

URL = "http://model.test:8000"

LLAMACPP_MODELS = {
    "object": "list",
    "models": [{"name": "gemma3-270m"}],
    "data": [{"id": "gemma3-270m", "aliases": ["gemma"], "object": "model", "owned_by": "llamacpp"}],
}
VLLM_MODELS = {"object": "list", "data": [{"id": "org/model-a", "owned_by": "vllm"}, {"id": "org/model-b"}]}
OPENAI_MODELS = {"object": "list", "data": [{"id": "gpt-x", "owned_by": "openai"}]}


def completion(text: str = "hello", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "choices": [{"text": text, "index": 0, "finish_reason": "stop", "logprobs": None}],
        "model": "gemma3-270m",
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }
    body.update(extra)
    return body


Handler = Callable[[httpx.Request], Any]


def make_llm(handler: Handler, models: dict[str, Any] = LLAMACPP_MODELS, **options: Any) -> OpenAICompatLLM:
    """An LLM whose /v1/models answers `models` and everything else goes to `handler`."""

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=models)
        result = handler(request)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    options.setdefault("backoff_s", 0.001)
    return OpenAICompatLLM(URL, transport=httpx.MockTransport(route), **options)


def prompt(text: str = "Alice: hi\nBob:", **kw: Any) -> GenerationRequest:
    return GenerationRequest(prompt=text, stop=["\n"], **kw)


# ---- set-up -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://h:1",
        "http://h:1/",
        "http://h:1/v1",
        "http://h:1/v1/",
        "h:1",
    ],
)
def test_base_url_is_normalised(url: str) -> None:
    assert normalise_base_url(url) == "http://h:1/v1"


def test_dialect_detection() -> None:
    assert detect_dialect(LLAMACPP_MODELS) == "llamacpp"
    assert detect_dialect(VLLM_MODELS) == "vllm"
    assert detect_dialect(OPENAI_MODELS) == "openai"
    assert detect_dialect({"data": [{"id": "m", "meta": {"n_ctx_train": 2048}}]}) == "llamacpp"


async def test_start_picks_first_model_and_dialect() -> None:
    llm = make_llm(lambda r: httpx.Response(200, json=completion()), models=VLLM_MODELS)
    await llm.start()
    assert llm.model == "org/model-a"
    assert llm.describe() == {"kind": "openai", "url": URL + "/v1", "model": "org/model-a", "dialect": "vllm"}
    await llm.aclose()


async def test_start_accepts_alias_and_rejects_unknown_model() -> None:
    llm = make_llm(lambda r: httpx.Response(200, json=completion()), model="gemma")
    await llm.start()
    await llm.aclose()
    llm = make_llm(lambda r: httpx.Response(200, json=completion()), models=VLLM_MODELS, model="nope")
    with pytest.raises(BackendError, match=r"'nope' is not served .* served: org/model-a, org/model-b"):
        await llm.start()
    await llm.aclose()


async def test_explicit_dialect_wins() -> None:
    llm = make_llm(lambda r: httpx.Response(200, json=completion()), dialect="openai")
    await llm.start()
    assert llm.dialect == "openai"
    await llm.aclose()
    with pytest.raises(ValueError, match="dialect"):
        OpenAICompatLLM(URL, dialect="tgi")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_server_gives_one_clear_line() -> None:
    llm = OpenAICompatLLM(f"http://127.0.0.1:{_free_port()}", retries=1, backoff_s=0.001)
    with pytest.raises(BackendError) as err:
        await llm.start()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"cannot reach model server at {llm.base_url}/models (ConnectError")
    assert message.endswith("start it, or check --backend")
    await llm.aclose()


# ---- requests -----------------------------------------------------------------------------------------


async def test_body_for_llamacpp_completion() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.url.path == "/v1/completions"
        return httpx.Response(200, json=completion(" 42.50"))

    llm = make_llm(handler)
    constraint = NumberConstraint(max=100, decimals=2)
    [result] = await llm.generate([prompt(seed=7, constraint=constraint, max_tokens=9, logprobs=2)])
    body = seen[0]
    assert body["prompt"] == "Alice: hi\nBob:"
    assert body["model"] == "gemma3-270m"
    assert (body["max_tokens"], body["seed"], body["stop"], body["logprobs"]) == (9, 7, ["\n"], 2)
    assert body["cache_prompt"] is True
    assert body["grammar"].startswith('root ::= " "?')
    assert result.text == "42.50"  # the grammar's optional leading space is dropped
    await llm.aclose()


async def test_chat_goes_to_chat_endpoint_with_model_override() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        body = json.loads(request.content)
        assert body["messages"] == [{"role": "user", "content": "hi"}]
        assert body["model"] == "org/model-b"
        assert "cache_prompt" not in body and "stop" not in body and "seed" not in body
        assert body["structured_outputs"] == {"choice": ["yes", "no"]}
        return httpx.Response(
            200,
            json={
                "choices": [{"message": {"role": "assistant", "content": "yes"}, "finish_reason": "stop"}],
                "model": "org/model-b",
                "usage": {"prompt_tokens": 5, "completion_tokens": 1},
            },
        )

    llm = make_llm(handler, models=VLLM_MODELS)
    request = GenerationRequest(
        messages=[ChatMessage(role="user", content="hi")],
        model="org/model-b",
        constraint=ChoiceConstraint(options=["yes", "no"]),
    )
    [result] = await llm.generate([request])
    assert (result.text, result.model, result.cached_tokens) == ("yes", "org/model-b", None)
    await llm.aclose()


async def test_unsupported_constraint_fails_before_sending() -> None:
    llm = make_llm(lambda r: pytest.fail("must not send"), models=OPENAI_MODELS)
    with pytest.raises(ValueError, match="generic OpenAI-compatible"):
        await llm.generate([prompt(constraint=NumberConstraint())])
    await llm.aclose()


async def test_usage_cached_tokens_and_logprobs_are_parsed() -> None:
    replies = iter(
        [
            completion(
                "a",
                usage={
                    "prompt_tokens": 300,
                    "completion_tokens": 4,
                    "prompt_tokens_details": {"cached_tokens": 290},
                },
            ),
            completion("b", timings={"cache_n": 17, "prompt_n": 3}),
            completion("c"),
        ]
    )
    llm = make_llm(lambda r: httpx.Response(200, json=next(replies)))
    results = []
    for _ in range(3):
        results.extend(await llm.generate([prompt()]))
    assert [(r.prompt_tokens, r.completion_tokens, r.cached_tokens) for r in results] == [
        (300, 4, 290),
        (12, 3, 17),
        (12, 3, None),
    ]
    assert all(r.finish_reason == "stop" and r.attempts == 1 and r.latency_s >= 0 for r in results)
    await llm.aclose()


@pytest.mark.parametrize(
    "logprobs",
    [
        {"content": [{"token": " a", "logprob": -0.5}, {"token": "b", "logprob": -1.25}]},
        {"tokens": [" a", "b"], "token_logprobs": [-0.5, -1.25]},
    ],
)
async def test_logprobs_in_both_shapes(logprobs: dict[str, Any]) -> None:
    reply = completion()
    reply["choices"][0]["logprobs"] = logprobs
    llm = make_llm(lambda r: httpx.Response(200, json=reply))
    [result] = await llm.generate([prompt(logprobs=1)])
    assert result.logprobs == [-0.5, -1.25]
    await llm.aclose()


# ---- retries ------------------------------------------------------------------------------------------


async def test_retries_503_then_succeeds() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            return httpx.Response(503, json={"error": {"message": "Loading model"}})
        return httpx.Response(200, json=completion("ok"))

    llm = make_llm(handler)
    [result] = await llm.generate([prompt()])
    assert (result.text, result.attempts, calls) == ("ok", 3, 3)
    await llm.aclose()


async def test_retry_after_is_honoured() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(429, headers={"Retry-After": "0.2"}, text="slow down")
        return httpx.Response(200, json=completion())

    llm = make_llm(handler, backoff_s=0.0001)
    started = time.perf_counter()
    [result] = await llm.generate([prompt()])
    assert time.perf_counter() - started >= 0.2
    assert result.attempts == 2
    await llm.aclose()


async def test_backoff_grows_with_full_jitter_and_gives_up() -> None:
    llm = make_llm(lambda r: httpx.Response(500, text="boom " * 200), retries=3, backoff_s=1.0)
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    llm._sleep = fake_sleep
    with pytest.raises(BackendError) as err:
        await llm.generate([prompt()])
    assert len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, [1.0, 2.0, 4.0], strict=True))
    message = str(err.value)
    assert f"{URL}/v1/completions failed after 4 attempt(s): HTTP 500: boom" in message
    assert "\n" not in message and len(message) < 500
    await llm.aclose()


async def test_400_fails_at_once_with_server_message() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            400,
            json={"error": {"code": 400, "message": "Failed to initialize samplers: failed to parse grammar"}},
        )

    llm = make_llm(handler)
    with pytest.raises(BackendError, match="HTTP 400: Failed to initialize samplers: failed to parse grammar"):
        await llm.generate([prompt()])
    assert calls == 1
    await llm.aclose()


async def test_connection_errors_are_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json=completion())

    llm = make_llm(handler)
    [result] = await llm.generate([prompt()])
    assert result.attempts == 2
    await llm.aclose()


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, text='{"choices": [{"text": "tru'),  # cut off mid-reply
        httpx.Response(200, text="<html>502 Bad Gateway</html>"),  # a proxy's page with a 200
        httpx.Response(200, json={"object": "text_completion", "usage": {}}),  # no choices
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json=["not", "an", "object"]),
    ],
)
async def test_malformed_replies_are_retried_like_a_5xx(bad: httpx.Response) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            return httpx.Response(bad.status_code, content=bad.content, headers=bad.headers)
        return httpx.Response(200, json=completion("ok"))

    llm = make_llm(handler)
    [result] = await llm.generate([prompt()])
    assert (result.text, result.attempts, calls) == ("ok", 3, 3)
    # Scoring (information content) goes through the same retry.
    calls = 0
    llm.dialect = "vllm"
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    llm._sleep = fake_sleep
    with pytest.raises(BackendError):  # the third reply here is a completion without echo logprobs
        await llm.score([("ctx", "text")])
    assert calls == 3 and len(sleeps) == 2
    await llm.aclose()


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (httpx.Response(200, text="not json at all"), "a reply that is not JSON: not json at all"),
        (httpx.Response(200, json={"object": "text_completion"}), "a reply without choices"),
    ],
)
async def test_malformed_replies_fail_with_one_line_after_the_retries(bad: httpx.Response, says: str) -> None:
    llm = make_llm(lambda r: httpx.Response(200, content=bad.content, headers=bad.headers), retries=2)
    with pytest.raises(BackendError) as err:
        await llm.generate([prompt()])
    message = str(err.value)
    assert f"{URL}/v1/completions sent {says}" in message and "(3 attempt(s))" in message
    assert "\n" not in message and len(message) < 500
    await llm.aclose()


# ---- batching -----------------------------------------------------------------------------------------


async def test_concurrency_limit_and_order() -> None:
    in_flight = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        text = json.loads(request.content)["prompt"]
        # Later requests answer sooner, so order must come from the client, not from arrival.
        await asyncio.sleep(0.002 * (10 - int(text)))
        in_flight -= 1
        return httpx.Response(200, json=completion(f"re:{text}"))

    llm = make_llm(handler, max_in_flight=2)
    results = await llm.generate([GenerationRequest(prompt=str(i)) for i in range(8)])
    assert [r.text for r in results] == [f"re:{i}" for i in range(8)]
    assert peak == 2
    await llm.aclose()


async def test_batch_runs_concurrently() -> None:
    in_flight = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json=completion())

    llm = make_llm(handler, max_in_flight=16)
    await llm.generate([prompt() for _ in range(6)])
    assert peak == 6
    await llm.aclose()


async def test_one_failure_cancels_the_rest() -> None:
    finished = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal finished
        if json.loads(request.content)["prompt"] == "bad":
            return httpx.Response(400, text="nope")
        await asyncio.sleep(0.5)
        finished += 1
        return httpx.Response(200, json=completion())

    llm = make_llm(handler)
    with pytest.raises(BackendError, match="HTTP 400: nope"):
        await llm.generate([GenerationRequest(prompt="ok"), GenerationRequest(prompt="bad")])
    assert finished == 0
    await llm.aclose()


# ---- factory ------------------------------------------------------------------------------------------


async def test_make_backbone_openai_is_started() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=VLLM_MODELS))
    llm = await make_backbone("openai", URL + "/v1/", transport=transport)
    assert (llm.model, llm.dialect) == ("org/model-a", "vllm")
    await llm.aclose()


async def test_make_backbone_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown backbone kind"):
        await make_backbone("nope")
    with pytest.raises(ValueError, match="needs a url"):
        await make_backbone("openai")
    with pytest.raises(ValueError, match="serves its own model"):
        await make_backbone("embedded", url=URL)


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("llamacpp", {"dry_multiplier": 0.8, "dry_allowed_length": 2}),
        ("vllm", {"repetition_penalty": 1.08}),
        ("openai", {"frequency_penalty": 0.4}),
    ],
)
def test_repetition_guard_maps_to_each_servers_sampler(dialect: str, expected: dict) -> None:
    llm = OpenAICompatLLM("http://x/v1", "m", dialect=dialect)
    _, body = llm.build_body(GenerationRequest(prompt="p", repetition_guard=0.8))
    for key, value in expected.items():
        assert body[key] == pytest.approx(value)
    _, plain = llm.build_body(GenerationRequest(prompt="p"))
    assert not set(expected) & set(plain)


def test_supports_says_which_servers_can_enforce_a_folded_label() -> None:
    feeling = SuffixChoiceConstraint(close='"', lead=" [feeling: ", options=["calm", "angry"], end="]")
    said = {d: OpenAICompatLLM("http://x/v1", "m", dialect=d).supports(feeling) for d in ("llamacpp", "vllm", "openai")}
    assert said == {"llamacpp": True, "vllm": True, "openai": False}
    assert not OpenAICompatLLM("http://x/v1", "m").supports(feeling)  # dialect not asked yet: say no
    llamacpp = OpenAICompatLLM("http://x/v1", "m", dialect="llamacpp")
    assert supports(MeteredLLM(llamacpp, _no_emit, lambda: 0), feeling)  # the metering wrapper asks inside
    assert not supports(object(), feeling)  # a backend that does not say cannot


async def _no_emit(event: Any) -> None:
    return None
