"""Token and latency accounting: every model call becomes an `llm_call` event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sociallm.backbone.base import LLM, GenerationRequest, GenerationResult, supports
from sociallm.runtime.events import Event, make_event

LLM_CHANNEL = "llm"


class PromptTooLong(RuntimeError):
    """A prompt over `backbone.max_prompt_chars`: one line naming the agent and what grew."""


class MeteredLLM:
    """Wraps a backend; publishes one `llm_call` event per request, in request order."""

    def __init__(
        self,
        llm: LLM,
        emit: Callable[[Event], Awaitable[Any]],
        tick: Callable[[], int],
        log_prompts: bool = True,
        max_prompt_chars: int | None = None,
    ) -> None:
        self.inner = llm
        # A last guard at the one seam every call passes (agents name the part that grew, see Agent.prompt).
        self.max_prompt_chars = max_prompt_chars
        self._emit = emit
        self._tick = tick
        self.log_prompts = log_prompts
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        # Per agent ("runtime" for calls no agent made): calls, tokens, cached tokens, latency.
        self.by_agent: dict[str, dict[str, float]] = {}

    def _count(self, agent: str, prompt: int, completion: int, cached: int | None, latency: float) -> None:
        row = self.by_agent.setdefault(
            agent or "runtime",
            {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0, "latency_s": 0.0},
        )
        row["calls"] += 1
        row["prompt_tokens"] += prompt
        row["completion_tokens"] += completion
        row["cached_tokens"] += cached or 0
        row["latency_s"] = round(row["latency_s"] + latency, 4)

    def _check_length(self, agent: str, purpose: str, prompts: list[str]) -> None:
        for prompt in prompts:
            if self.max_prompt_chars is not None and len(prompt) > self.max_prompt_chars:
                raise PromptTooLong(
                    f"{agent or 'the runtime'}'s {purpose!r} prompt is {len(prompt):,} characters, over "
                    f"backbone.max_prompt_chars ({self.max_prompt_chars:,}); not sent"
                )

    def record(self, event: Event) -> None:
        """Count a model call made elsewhere (a worker's), from its logged `llm_call` event."""
        p = event.payload
        prompt, completion = int(p.get("prompt_tokens") or 0), int(p.get("completion_tokens") or 0)
        self.calls += 1
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self._count(event.source, prompt, completion, p.get("cached_tokens"), float(p.get("latency_s") or 0.0))

    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        for req in requests:
            text = req.prompt if req.prompt is not None else "".join(m.content for m in req.messages or [])
            self._check_length(req.agent, req.purpose, [text])
        sizes = [
            len(req.prompt) if req.prompt is not None else sum(len(m.content) for m in req.messages or [])
            for req in requests
        ]
        results = await self.inner.generate(requests)
        for req, res, size in zip(requests, results, sizes, strict=True):
            self.calls += 1
            self.prompt_tokens += res.prompt_tokens
            self.completion_tokens += res.completion_tokens
            self._count(req.agent, res.prompt_tokens, res.completion_tokens, res.cached_tokens, res.latency_s)
            payload: dict[str, Any] = {
                "purpose": req.purpose,
                "model": res.model,
                "prompt_tokens": res.prompt_tokens,
                "completion_tokens": res.completion_tokens,
                "cached_tokens": res.cached_tokens,
                "latency_s": round(res.latency_s, 4),
                "finish_reason": res.finish_reason,
                "attempts": res.attempts,
                "seed": req.seed,
                "temperature": req.temperature,
                "text": res.text,
                # Logged even when prompts are not: the figure that says whether prompts stay flat as N grows.
                "prompt_chars": size,
            }
            if req.constraint is not None:
                payload["constraint"] = req.constraint.kind
            if self.log_prompts:
                payload["prompt"] = (
                    req.prompt if req.prompt is not None else [m.model_dump() for m in req.messages or []]
                )
            await self._emit(
                make_event(
                    "llm_call",
                    req.agent or "runtime",
                    channel=LLM_CHANNEL,
                    # Only the caller may see its call: prompts hold its private information.
                    to=[req.agent] if req.agent else [],
                    tick=self._tick(),
                    payload=payload,
                )
            )
        return results

    async def score(
        self,
        items: list[tuple[str, str]],
        model: str | None = None,
        *,
        agent: str = "",
        purpose: str = "info",
        record: bool = True,
    ) -> list[Any]:
        """The backend's `score` (prompt logprobs of text after a context), metered like generate().
        `record=False`: the caller publishes the calls later with `record_scores` (in an order it fixes)."""
        self._check_length(agent, purpose, [context + text for context, text in items])
        scores = await self.inner.score(items, model)  # type: ignore[attr-defined]
        if record:
            await self.record_scores(scores, agent=agent, purpose=purpose)
        return scores

    async def record_scores(self, scores: list[Any], *, agent: str = "", purpose: str = "info") -> None:
        for sc in scores:
            self.calls += 1
            self.prompt_tokens += sc.prompt_tokens
            self.completion_tokens += sc.completion_tokens
            self._count(agent, sc.prompt_tokens, sc.completion_tokens, sc.cached_tokens, sc.latency_s)
            await self._emit(
                Event(
                    kind="llm_call",
                    source=agent or "runtime",
                    channel=LLM_CHANNEL,
                    to=[agent] if agent else [],
                    tick=self._tick(),
                    payload={
                        "purpose": purpose,
                        "model": sc.model,
                        "prompt_tokens": sc.prompt_tokens,
                        "completion_tokens": sc.completion_tokens,
                        "cached_tokens": sc.cached_tokens,
                        "latency_s": round(sc.latency_s, 4),
                        "scored_tokens": sc.tokens,
                    },
                )
            )

    def supports(self, constraint: Any) -> bool:
        return supports(self.inner, constraint)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    async def aclose(self) -> None:
        await self.inner.aclose()
