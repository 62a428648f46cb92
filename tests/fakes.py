"""A deterministic fake model for unit tests of logic. Never used by `sociallm run`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sociallm.backbone.base import BackendError, GenerationRequest, GenerationResult


def default_reply(req: GenerationRequest) -> str:
    if req.constraint is not None and req.constraint.kind == "number":
        return "1.85"
    if req.constraint is not None and req.constraint.kind == "choice":
        return req.constraint.options[0]
    return f" I am {req.agent} and I propose we keep prices high."


class FakeLLM:
    """Answers instantly; `reply(req)` decides the text; `fail_at` makes call N raise."""

    def __init__(self, reply: Callable[[GenerationRequest], str] = default_reply, fail_at: int | None = None) -> None:
        self.reply = reply
        self.fail_at = fail_at
        self.requests: list[GenerationRequest] = []

    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        out = []
        for req in requests:
            self.requests.append(req)
            if self.fail_at is not None and len(self.requests) >= self.fail_at:
                raise BackendError("fake server went away")
            text = self.reply(req)
            out.append(
                GenerationResult(
                    text=text,
                    prompt_tokens=len((req.prompt or "").split()),
                    completion_tokens=len(text.split()),
                    model="fake",
                )
            )
        return out

    def supports(self, constraint: Any) -> bool:
        return True  # the reply function decides what comes back

    def describe(self) -> dict[str, Any]:
        return {"kind": "fake"}

    async def aclose(self) -> None:
        return None
