"""The `sociallm` command with the model swapped for a slow deterministic fake, for tests that signal or kill
a real process: python fake_cli.py ARGS... (e.g. run bertrand --rounds 40 --out DIR -q)."""

from __future__ import annotations

import asyncio
import sys

import sociallm.orchestration.run as run_module
from sociallm.backbone.base import GenerationRequest, GenerationResult
from sociallm.cli import app
from tests.fakes import FakeLLM


class SlowFake(FakeLLM):
    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        await asyncio.sleep(0.01)
        return await super().generate(requests)


async def fake_backbone(spec):
    return SlowFake()


if __name__ == "__main__":
    run_module.default_backbone = fake_backbone
    sys.exit(app(sys.argv[1:], prog_name="sociallm"))
