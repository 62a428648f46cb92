"""Throughput plumbing: agents acting in a simultaneous phase reach the server together, requests stay
bounded by max_in_flight, and the vLLM dialect's request body carries what the server needs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from sociallm.backbone.base import GenerationRequest, NumberConstraint
from sociallm.backbone.vllm import VLLMLLM
from sociallm.orchestration.run import Run
from sociallm.runtime.scenario import parse_scenario

MODELS = {"object": "list", "data": [{"id": "base", "owned_by": "vllm"}, {"id": "lora-b", "owned_by": "vllm"}]}


class Server:
    """A mock vLLM that records how many requests were in flight at once, per purpose of the body."""

    def __init__(self, hold_s: float = 0.05) -> None:
        self.in_flight = 0
        self.peak: dict[str, int] = {}
        self.models: list[str] = []
        self.hold_s = hold_s
        self.reply = "fine"

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json=MODELS)
        body = json.loads(request.content)
        if len(body.get("stop", [])) > 4:  # as vLLM 0.32 answers
            return httpx.Response(400, json={"error": {"message": "stop: List should have at most 4 items"}})
        kind = "constrained" if "structured_outputs" in body else "free"
        self.models.append(body["model"])
        self.in_flight += 1
        self.peak[kind] = max(self.peak.get(kind, 0), self.in_flight)
        try:
            await asyncio.sleep(self.hold_s)  # long enough for siblings sent "together" to arrive
        finally:
            self.in_flight -= 1
        text = "1.50" if kind == "constrained" else self.reply
        usage = {"prompt_tokens": 40, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 32}}
        return httpx.Response(200, json={"model": body["model"], "choices": [{"text": text}], "usage": usage})


def scenario(n: int) -> Any:
    names = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank"][:n]
    return parse_scenario(
        {
            "name": "batching",
            "rounds": 2,
            "agents": [{"name": a, **({"model": "lora-b"} if a == "Bob" else {})} for a in names],
            "schedule": [
                {"name": "chat", "kind": "talk", "mode": "simultaneous"},
                {"name": "pricing", "kind": "act", "mode": "simultaneous", "action": "price"},
            ],
            "environment": {"kind": "bertrand", "params": {"a": 2.0, "a0": 0.0, "c": 1.0, "mu": 0.25}},
            "backbone": {"kind": "vllm", "url": "http://vllm.test:8000"},
        },
        "test",
    )


async def test_simultaneous_phase_goes_out_together(tmp_path: Path) -> None:
    server = Server()
    llm = VLLMLLM("http://vllm.test:8000", transport=httpx.MockTransport(server), max_in_flight=64)
    result = await Run(scenario(5), tmp_path / "run", llm=await llm.open()).execute()
    await llm.aclose()
    assert result.status == "completed"
    assert server.peak == {"free": 5, "constrained": 5}
    # Bob's per-agent model went into his requests, everyone else used the default.
    assert server.models.count("lora-b") == 4 and set(server.models) == {"base", "lora-b"}
    by_agent = result.metrics["llm"]["by_agent"]
    assert by_agent["Bob"]["calls"] == 4 and by_agent["Bob"]["cached_tokens"] == 4 * 32


async def test_in_flight_requests_are_bounded() -> None:
    server = Server(hold_s=0.02)
    llm = await VLLMLLM("http://vllm.test:8000", transport=httpx.MockTransport(server), max_in_flight=3).open()
    reqs = [GenerationRequest(prompt=f"p{i}", constraint=NumberConstraint(max=5)) for i in range(12)]
    results = await llm.generate(reqs)
    await llm.aclose()
    assert len(results) == 12 and server.peak["constrained"] == 3


async def test_stop_strings_beyond_four_are_applied_client_side() -> None:
    server = Server(hold_s=0)
    server.reply = "we agree Erin: no we do not"
    llm = await VLLMLLM("http://vllm.test:8000", transport=httpx.MockTransport(server)).open()
    stops = ['"', "\n", "Bob:", "Carol:", "Dave:", "Erin:"]
    (res,) = await llm.generate([GenerationRequest(prompt="Alice:", stop=stops)])
    await llm.aclose()
    assert res.text == "we agree " and res.finish_reason == "stop"
