"""One object per server dialect: what a llama.cpp, vLLM or generic OpenAI-compatible server accepts.

`OpenAICompatLLM` asks its dialect object (`llm.server_dialect`) for every server-specific part of a request
instead of comparing the dialect's name: constraint fields, the anti-repetition sampler, the stop
list, prompt caching, and how to score given text. A new server kind is a new subclass in `DIALECTS`.
"""

from __future__ import annotations

from typing import Any

from sociallm.backbone.constraints import AnyConstraint, gbnf_literal, request_fields

MAX_STOPS = 4  # OpenAI's limit, which vLLM enforces too
# Tokens back that DRY looks for repeats: the whole prompt of a slot (the server rejects -1).
DRY_WINDOW = 8192


class Dialect:
    """A generic OpenAI-compatible server (the defaults)."""

    name = "openai"
    can_score = False  # prompt logprobs, to score given text
    exact_scores = False  # whether a score covers every tokenization of the text

    def constraint_fields(self, constraint: AnyConstraint | None, *, chat: bool) -> dict[str, Any]:
        return request_fields(constraint, self.name, chat=chat)

    def repetition_fields(self, strength: float) -> dict[str, Any]:
        return {"frequency_penalty": 0.5 * strength}

    def stops(self, stops: list[str]) -> list[str]:
        """What goes in the request's `stop` (the rest are cut client-side)."""
        return list(stops)[:MAX_STOPS]

    def cache_fields(self, cache_prompt: bool) -> dict[str, Any]:
        return {}

    def score_fields(self, context: str, text: str, cache_prompt: bool) -> dict[str, Any]:
        raise NotImplementedError(f"{self.name} servers offer no prompt logprobs")

    def read_score(self, choice: dict[str, Any], usage: dict[str, Any], context: str, text: str) -> tuple[float, int]:
        raise NotImplementedError(f"{self.name} servers offer no prompt logprobs")


class LlamaCpp(Dialect):
    """llama.cpp's server: GBNF grammars, DRY, every stop string, a prompt cache, forced-decoding scores."""

    name = "llamacpp"
    can_score = True

    def repetition_fields(self, strength: float) -> dict[str, Any]:
        # DRY penalises extending any sequence that already occurred in the context (measured on Gemma 3
        # 270M: 5 of 5 samples copied the previous speaker's line verbatim without it, 0 of 5 with 0.8).
        return {"dry_multiplier": strength, "dry_allowed_length": 2, "dry_penalty_last_n": DRY_WINDOW}

    def stops(self, stops: list[str]) -> list[str]:
        return list(stops)

    def cache_fields(self, cache_prompt: bool) -> dict[str, Any]:
        # Reusing a slot's KV cache for a shared prefix makes growing transcripts cheap, but a cache
        # hit changes the logits slightly, so a seed only reproduces text with the cache off.
        return {"cache_prompt": cache_prompt}

    def score_fields(self, context: str, text: str, cache_prompt: bool) -> dict[str, Any]:
        # No prompt logprobs: decoding is forced through a grammar that spells the text at temperature 0.
        return {
            "prompt": context,
            "max_tokens": len(text.encode()) + 2,
            "grammar": "root ::= " + gbnf_literal(text),
            "logprobs": 1,
            "cache_prompt": cache_prompt,
        }

    def read_score(self, choice: dict[str, Any], usage: dict[str, Any], context: str, text: str) -> tuple[float, int]:
        forced = [float(t["logprob"]) for t in choice["logprobs"]["content"]]
        if choice.get("text") != text:
            raise ValueError(f"forced decoding produced {choice.get('text')!r}")
        return sum(forced), len(forced)


class VLLM(Dialect):
    """vLLM: structured outputs, a repetition penalty (no DRY), echoed prompt logprobs (exact scores)."""

    name = "vllm"
    can_score = True
    exact_scores = True

    def repetition_fields(self, strength: float) -> dict[str, Any]:
        return {"repetition_penalty": 1.0 + 0.1 * strength}

    def score_fields(self, context: str, text: str, cache_prompt: bool) -> dict[str, Any]:
        return {"prompt": context + text, "max_tokens": 1, "echo": True, "logprobs": 0}

    def read_score(self, choice: dict[str, Any], usage: dict[str, Any], context: str, text: str) -> tuple[float, int]:
        return echo_span(choice["logprobs"], len(context), int(usage.get("prompt_tokens") or 0))


def echo_span(logprobs: dict[str, Any], start: int, prompt_tokens: int) -> tuple[float, int]:
    """Sum of the echoed prompt-token logprobs from character `start` on (a token straddling `start`
    counts: its probability was spent on the text too). The generated token after the prompt is left out."""
    offsets, values, tokens = logprobs["text_offset"], logprobs["token_logprobs"], logprobs["tokens"]
    n = prompt_tokens or len(values) - 1
    total, count = 0.0, 0
    for off, value, tok in zip(offsets[:n], values[:n], tokens[:n], strict=True):
        if value is not None and off + len(tok) > start:
            total += float(value)
            count += 1
    if count == 0:
        raise ValueError("no prompt tokens fell inside the scored text")
    return total, count


DIALECTS: dict[str, Dialect] = {d.name: d for d in (LlamaCpp(), VLLM(), Dialect())}
