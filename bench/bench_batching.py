"""The embedded model: agent turns per minute, 8 agents acting at once (batched) vs one at a time.

Real agents (prompt building, cleaning, constrained prices) on the real embedded Gemma 3 270M server.
Both modes use the same server (8 slots, prefix cache warm), so the ratio isolates what concurrent
submission buys: the server's continuous batching decodes all sequences in one forward pass.
Modes alternate (batched, serial, batched, serial...) so machine noise hits both alike.

    python bench/bench_batching.py [--agents 8] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sociallm.agents.agent import Agent, Turn
from sociallm.backbone.embedded import EmbeddedLLM
from sociallm.environments import get_environment
from sociallm.runtime.events import Event
from sociallm.runtime.scenario import load_scenario

NAMES = [
    "Alice",
    "Bob",
    "Carol",
    "Dave",
    "Erin",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
    "Mallory",
    "Niaj",
]
OPENING = [
    "Hello everyone, I hope we can all do well this season.",
    "Prices were too low last year; nobody made money.",
    "I plan to keep my price steady.",
    "Customers care about price, so I will stay competitive.",
]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    n = args.agents
    spec = load_scenario("bertrand")
    data = spec.model_dump(mode="json")
    data["agents"] = [{"name": NAMES[i], "persona": f"{NAMES[i]} runs a firm."} for i in range(n)]
    data["preamble"] = "This is the transcript of a repeated market game between firms selling the same product."
    spec = type(spec).model_validate(data)
    env = get_environment("bertrand")
    import random

    env.reset(spec.agent_names, spec.environment.params, random.Random(0))
    talk, price = spec.schedule[0], spec.schedule[1]
    price_spec = env.action_spec("price", spec.agent_names[0])

    def turn_of(kind: str, rep: int):
        if kind == "talk":
            return lambda a: Turn(tick=1, phase=talk, turn_index=rep)
        return lambda a: Turn(tick=1, phase=price, action=price_spec, turn_index=rep)

    async def batched(agents, make_turn) -> None:
        await asyncio.gather(*(a.act(make_turn(a)) for a in agents))

    async def serial(agents, make_turn) -> None:
        for a in agents:
            await a.act(make_turn(a))

    async def measure(slots: int, modes) -> dict[tuple[str, str], float]:
        t0 = time.perf_counter()
        llm = await EmbeddedLLM.create(n_parallel=slots)
        print(f"embedded server up in {time.perf_counter() - t0:.1f} s ({slots} slots)")
        times: dict[tuple[str, str], float] = {}
        try:
            agents = [Agent(a, spec, env.rules(a.name), llm) for a in spec.agents]
            for i, line in enumerate(OPENING):
                ev = Event(kind="message", source=spec.agent_names[i % n], payload={"text": line})
                for a in agents:
                    a.observe(ev)
            await modes[0][1](agents, turn_of("talk", 99))  # warm the slots' prefix caches
            for rep in range(args.reps):
                for kind in ("talk", "price"):
                    for mode, fn in modes:
                        t = time.perf_counter()
                        await fn(agents, turn_of(kind, rep))
                        times[(kind, mode)] = times.get((kind, mode), 0.0) + time.perf_counter() - t
        finally:
            await llm.aclose()
        return times

    times = await measure(n, [("batched", batched), ("one at a time", serial)])
    times.update(await measure(1, [("1-slot server", serial)]))
    turns = n * args.reps
    modes = ("batched", "one at a time", "1-slot server")
    print(f"{'turn':<6} {'mode':<14} {'s/turn':>7} {'turns/min':>10} {'vs batched':>10}")
    for kind in ("talk", "price", "all"):
        kinds = ("talk", "price") if kind == "all" else (kind,)
        total = {m: sum(times[(k, m)] for k in kinds) for m in modes}
        for mode in modes:
            s = total[mode] / (turns * len(kinds))
            print(f"{kind:<6} {mode:<14} {s:>7.3f} {60 / s:>10.1f} {total[mode] / total['batched']:>9.2f}x")
    print(
        f"{n} agents, {args.reps} reps. batched = all agents' calls at once on an {n}-slot server; one at a time ="
        f" the same server, calls in turn; 1-slot server = calls in turn on a server with one slot, whose prefix\n"
        "cache the agents' different prompts keep evicting (the serial pattern of frameworks that call the model"
        " one request at a time). Goal: batched >= 3x one at a time."
    )


if __name__ == "__main__":
    asyncio.run(main())
