"""Shared test doubles for memory tests: a deterministic encoder and a scripted model reply."""

from __future__ import annotations

import hashlib

import numpy as np
from pydantic import BaseModel, ConfigDict

from sociallm.agents.sections import BaseSection, SectionContext
from sociallm.backbone.base import GenerationRequest
from tests.fakes import default_reply


class HashEncoder:
    """Bag-of-words hashed into 64 dims: similar wording → similar vectors, no model load."""

    name = "minilm"  # stands in for the run's encoder under the configured name
    dim = 64

    def __init__(self) -> None:
        self.calls = 0

    async def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                h = int.from_bytes(hashlib.blake2b(w.strip('.,!?"').encode(), digest_size=4).digest(), "big")
                out[i, h % self.dim] += 1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
            if not n:
                out[i, 0] = 1.0
        return out


def memory_reply(req: GenerationRequest) -> str:
    if req.purpose == "memory_importance":
        return " 7"
    if req.purpose == "memory_questions":
        return " What does Bob want with prices?\n2. Is Alice winning the market?\n3. ok"
    if req.purpose == "memory_insight":
        return '{"insight": "The rival keeps prices high", "because": [1, 2, 9]}'
    if req.purpose == "memory_reflection":
        return '[{"question": "What do the others want?", "because": [1, 2, 99], "insight": "Prices stay high"}]'
    return default_reply(req)


# A stand-in emotion section (registered as "emotion" in a test): a fixed, strongly felt state.
class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    valence: float = -0.8
    arousal: float = 0.9


class StubEmotion(BaseSection):
    name = "emotion"

    def __init__(self, config: Config) -> None:
        self.config = config

    def affect(self) -> tuple[float, float]:
        return self.config.valence, self.config.arousal


def build(ctx: SectionContext, config: Config) -> StubEmotion:
    return StubEmotion(config)
