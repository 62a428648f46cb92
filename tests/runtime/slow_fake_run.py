"""A run on a slow fake model in its own process, for the kill -9 test: python slow_fake_run.py RUN_DIR ROUNDS."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sociallm.backbone.base import GenerationRequest, GenerationResult
from sociallm.orchestration.api import arun
from sociallm.orchestration.experiment import Intervention
from tests.fakes import FakeLLM


class SlowFake(FakeLLM):
    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        await asyncio.sleep(0.01)
        return await super().generate(requests)


if __name__ == "__main__":
    ivs = [Intervention(kind="persona", at=4, agent="Bob", text="Bob now undercuts everyone.")]
    asyncio.run(arun("bertrand", Path(sys.argv[1]), llm=SlowFake(), interventions=ivs, rounds=int(sys.argv[2])))
