"""A run with every section on (emotion, memory, theory of mind, information content) on deterministic fakes,
for the resume-determinism tests:

    python all_sections_run.py run RUN_DIR ROUNDS      # play it
    python all_sections_run.py resume RUN_DIR          # continue it (e.g. after kill -9)

The fake model answers by rule; its `score` replies come back after a random delay, as a real server's
do, so only a log whose order does not depend on reply timing comes out the same twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

import sociallm.backbone.encoders as encoders
from sociallm.backbone.base import GenerationRequest, GenerationResult
from sociallm.backbone.openai_compat import TextScore
from sociallm.orchestration.run import Run
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM
from tests.memory.helpers import memory_reply

SECTIONS = {
    "emotion": {},
    "memory": {"reflect_threshold": 15, "rate": "all"},
    "tom": {},
    "info": {},
}
_jitter = random.SystemRandom()


class ScoringFake(FakeLLM):
    def __init__(self) -> None:
        super().__init__(reply=memory_reply)

    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        await asyncio.sleep(0.002)
        return await super().generate(requests)

    async def score(self, items: list[tuple[str, str]], model: str | None = None) -> list[TextScore]:
        out = []
        for context, text in items:
            await asyncio.sleep(_jitter.uniform(0.0, 0.02))  # replies come back in any order
            h = int.from_bytes(hashlib.blake2b((context + "|" + text).encode(), digest_size=4).digest(), "big")
            out.append(
                TextScore(
                    logprob=-(h % 5000) / 100,
                    tokens=max(1, len(text.split())),
                    prompt_tokens=len(context.split()) + len(text.split()),
                    model="fake",
                )
            )
        return out


class HashEncoder384:
    """Bag of hashed words in 384 dims (the shipped ToM checkpoint's input size), no model load."""

    dim = 384

    def __init__(self, name: str) -> None:
        self.name = name

    async def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int.from_bytes(hashlib.blake2b(w.strip('.,!?"').encode(), digest_size=4).digest(), "big")
                out[i, h % self.dim] += 1.0
            n = float(np.linalg.norm(out[i]))
            if n:
                out[i] /= n
            else:
                out[i, 0] = 1.0
        return out


def use_fakes() -> None:
    encoders.make_encoder = lambda name="minilm", **options: HashEncoder384(name)  # type: ignore[assignment]


def spec(rounds: int) -> Any:
    return load_scenario("bertrand", {"rounds": rounds, "sections": SECTIONS})


async def play(run_dir: Path, rounds: int) -> Any:
    return await Run(spec(rounds), run_dir, llm=ScoringFake()).execute()


async def resume(run_dir: Path) -> Any:
    return await Run.resume(run_dir, llm=ScoringFake()).execute()


if __name__ == "__main__":
    use_fakes()
    if sys.argv[1] == "run":
        asyncio.run(play(Path(sys.argv[2]), int(sys.argv[3])))
    else:
        asyncio.run(resume(Path(sys.argv[2])))
