"""Baseline for duplicity: ask the serving model whether two messages of one round conflict.

For each run, up to `pairs` pairs of the speaker's messages from one round that went to different
audiences (sampled with a fixed seed) are shown to the model, which answers a constrained yes / no;
the run's score is the share of "yes". A strong instruction-tuned model would make this the baseline
to beat; the embedded Gemma 3 270M is a base model and mostly answers one way (README figures).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from sociallm.agents.tom_data import RunData
from sociallm.backbone.base import ChoiceConstraint, GenerationRequest

PROMPT = (
    "Two messages sent by the same person on the same day to two different people.\n"
    "Message A: {a}\nMessage B: {b}\n"
    "Question: do A and B make conflicting claims about the same thing (one says X, the other says not X)?\n"
    "Answer (yes or no):"
)


def same_round_pairs(run: RunData, pairs: int, seed: int = 0) -> list[tuple[str, str]]:
    speaker = run.speaker
    by_tick: dict[int, list[Any]] = {}
    for m in run.messages:
        if m.speaker == speaker:
            by_tick.setdefault(m.tick, []).append(m)
    out = [
        (a.text, b.text)
        for msgs in by_tick.values()
        for i, a in enumerate(msgs)
        for b in msgs[i + 1 :]
        if set(a.observers) != set(b.observers)
    ]
    rng = random.Random(f"{seed}|{run.name}")
    return rng.sample(out, min(pairs, len(out)))


async def judge_runs(llm: Any, runs: list[RunData], pairs: int = 4, seed: int = 0) -> list[float]:
    """Share of sampled same-round pairs the model calls conflicting, per run (0.0 without pairs)."""
    asked = [same_round_pairs(r, pairs, seed) for r in runs]
    requests = [
        GenerationRequest(
            prompt=PROMPT.format(a=a, b=b),
            max_tokens=3,
            temperature=0.0,
            seed=seed,
            constraint=ChoiceConstraint(options=[" yes", " no"]),
            purpose="tom_judge",
        )
        for ps in asked
        for a, b in ps
    ]
    results = await llm.generate(requests) if requests else []
    yes = iter(r.text.strip().lower().startswith("yes") for r in results)
    return [sum(next(yes) for _ in ps) / len(ps) if ps else 0.0 for ps in asked]


def judge_sync(llm: Any, runs: list[RunData], pairs: int = 4, seed: int = 0) -> list[float]:
    return asyncio.run(judge_runs(llm, runs, pairs, seed))
