"""How much a memory matters (1–10): the model's poignancy rating, a heuristic fallback, affect.

The model is a base model, so the rating prompt is a document of rated lines ending in an open
"Rating:" slot, decoded under a number grammar (integers 1–10). All memories pending at a turn go
out in ONE `generate()` call so the server batches them; ratings are cached by text (agents in a
run see the same lines). When the call fails, or its text holds no number, the heuristic decides
and the record says so.

Emotional salience (when an emotion section exposes `affect() -> (valence, arousal)`):

    salience = max(|valence|, max(0, arousal − 0.5) / 0.5)          # both in [0, 1]
    importance = min(10, base + affect_gain · salience)               # affect_gain defaults to 3

i.e. a strongly felt moment (very negative or positive, or highly aroused) is worth up to 3 points
more; 0.5 is the circumplex's neutral arousal, so calm states add nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sociallm.backbone.base import LLM, GenerationRequest, NumberConstraint
from sociallm.backbone.constraints import parse_number

PURPOSE = "memory_importance"
RATING = NumberConstraint(min=1, max=10, decimals=0)
NEUTRAL_AROUSAL = 0.5

# Measured on Gemma 3 270M (base) with six test lines: greedy decoding answers "1" (free) or "10" (under
# the 1–10 grammar: "1" then "0") for every line, whatever the wording; sampling at 0.7 spreads the
# ratings (2–7) with some signal. So ratings are sampled, with a per-call seed for reproducibility.
RATING_TEMPERATURE = 0.7

_EXAMPLES = (
    ("Bob said hello.", 2),
    ("Bob cut his price far below mine and took all the customers.", 8),
    ("The round ended.", 1),
    ("Alice broke our agreement and I lost all my profit.", 9),
    ("Alice said she will keep her price at 1.80.", 5),
    ("Bob said the weather is nice.", 2),
)

_KEYWORDS = re.compile(
    r"\b(price|prices|profit|profits|loss|lost|lose|deal|agree|agreement|promise|betray\w*|undercut\w*|"
    r"cut|raise|threat\w*|trust|cheat\w*|collu\w*|war|punish\w*|revenge|together|never|always)\b",
    re.IGNORECASE,
)


def rating_prompt(agent: str | None, text: str) -> str:
    # The examples come first and never change, so the server's prefix cache holds them for every call.
    # No scale words ("1 = mundane"): they pulled every answer to the number they sat next to.
    lines = ["Memories of a firm, each with its importance.", ""]
    for example, score in _EXAMPLES:
        lines += [f"Memory: {example}", f"Importance: {score}", ""]
    # Run-wide ratings (agent None) leave out who remembers it: the same line gets the same rating.
    lines += [f"Memory ({agent}): {text}" if agent else f"Memory: {text}", "Importance:"]
    return "\n".join(lines)


def heuristic(text: str) -> float:
    """Length, stakes words and emphasis: 1 for a short neutral line, up to ~8 for a long heated one."""
    score = 1.0 + min(2.0, len(text) / 80.0)
    score += min(3.0, 1.0 * len(_KEYWORDS.findall(text)))
    if "!" in text:
        score += 1.0
    if re.search(r"\d", text):
        score += 0.5  # prices and profits are the stakes in these games
    return float(min(10.0, max(1.0, round(score, 1))))


def salience(valence: float | None, arousal: float | None) -> float:
    if valence is None or arousal is None:
        return 0.0
    return max(abs(valence), max(0.0, arousal - NEUTRAL_AROUSAL) / (1 - NEUTRAL_AROUSAL))


def with_affect(base: float, valence: float | None, arousal: float | None, gain: float) -> float:
    return float(min(10.0, max(1.0, base + gain * salience(valence, arousal))))


@dataclass
class Rating:
    value: float
    source: str  # model | cache | heuristic
    repairs: list[str] = field(default_factory=list)


def parse_rating(text: str) -> tuple[float | None, list[str]]:
    try:
        value, repaired = parse_number(text, RATING)
    except ValueError:
        return None, [f"rating {text.strip()[:20]!r} held no number"]
    return value, ([f"rating {text.strip()[:20]!r} read as {value:g}"] if repaired else [])


def _key(text: str) -> str:
    # Cached by digest: the cache goes into every checkpoint, and texts run to max_chars each.
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class ImportanceRater:
    """Rates texts in one batched model call; falls back to the heuristic, caches model ratings.

    The cache decides which texts are asked of the model at all, so it is checkpointed
    (`cache_state` / `load_cache_state`): a resumed run makes the calls the uninterrupted one makes.

    Run-wide (`shared=True`, one rater for every agent of a run): the prompt holds the text only, not
    who remembers it, so a line seen by a whole hamlet is rated once, not once per listener; a text
    another agent is already asking about is awaited, not asked again. `agent` then only names who
    asked, for the call's accounting.
    """

    def __init__(
        self, llm: LLM, agent: str, model: str | None = None, cache_size: int = 2048, shared: bool = False
    ) -> None:
        self.llm = llm
        self.agent = agent
        self.model = model
        self.cache_size = cache_size
        self.shared = shared
        self._cache: OrderedDict[str, float] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[float | None]] = {}
        self.calls = 0  # model requests sent
        self.failures = 0

    async def rate(
        self,
        texts: list[str],
        use_model: list[bool],
        seed: int | None = None,
        *,
        agent: str | None = None,
        model: str | None = None,
    ) -> list[Rating]:
        agent = agent or self.agent
        model = model if model is not None else self.model
        out: list[Rating | None] = [None] * len(texts)
        ask: list[int] = []
        wait: list[tuple[int, asyncio.Future[float | None]]] = []
        mine: dict[str, asyncio.Future[float | None]] = {}
        for i, (t, m) in enumerate(zip(texts, use_model, strict=True)):
            if not m:
                out[i] = Rating(heuristic(t), "heuristic")
                continue
            key = _key(t)
            if key in self._cache:
                self._cache.move_to_end(key)
                out[i] = Rating(self._cache[key], "cache")
            elif key in mine or key in self._inflight:
                wait.append((i, mine.get(key) or self._inflight[key]))
            else:
                ask.append(i)
                if self.shared:
                    mine[key] = self._inflight[key] = asyncio.get_running_loop().create_future()
                else:
                    mine[key] = asyncio.get_running_loop().create_future()
        try:
            if ask:
                await self._ask(texts, ask, out, seed, agent, model)
        finally:
            for i in ask:
                key = _key(texts[i])
                fut = mine.get(key)
                if fut is not None and not fut.done():
                    r = out[i]
                    fut.set_result(r.value if r is not None and r.source == "model" else None)
                self._inflight.pop(key, None)
        for i, fut in wait:
            value = await fut
            out[i] = Rating(value, "cache") if value is not None else Rating(heuristic(texts[i]), "heuristic")
        return [r for r in out if r is not None]

    async def _ask(
        self,
        texts: list[str],
        ask: list[int],
        out: list[Rating | None],
        seed: int | None,
        agent: str,
        model: str | None,
    ) -> None:
        reqs = [
            GenerationRequest(
                prompt=rating_prompt(None if self.shared else agent, texts[i]),
                max_tokens=3,
                temperature=RATING_TEMPERATURE,
                seed=None if seed is None else seed + k,
                stop=["\n"],
                constraint=RATING,
                model=model,
                agent=agent,
                purpose=PURPOSE,
            )
            for k, i in enumerate(ask)
        ]
        self.calls += len(reqs)
        try:
            results = await self.llm.generate(reqs)
        except Exception as exc:  # the model being down must not stop memory: fall back, say so
            self.failures += 1
            reason = f"model call failed ({type(exc).__name__}: {str(exc)[:120]}); heuristic used"
            for i in ask:
                out[i] = Rating(heuristic(texts[i]), "heuristic", [reason])
            results = []
        for i, res in zip(ask, results, strict=False):
            value, repairs = parse_rating(res.text)
            if value is None:
                out[i] = Rating(heuristic(texts[i]), "heuristic", [*repairs, "heuristic used"])
                continue
            out[i] = Rating(value, "model", repairs)
            self._cache[_key(texts[i])] = value
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def cache_state(self) -> list[list[Any]]:
        """[digest, rating] pairs, least recently used first (the order matters for eviction)."""
        return [[k, v] for k, v in self._cache.items()]

    def load_cache_state(self, state: list[list[Any]]) -> None:
        self._cache = OrderedDict((str(k), float(v)) for k, v in state)
