"""Information content of messages: how many bits each message carries for each observer.

For every message an agent observes (from someone else), its surprisal under the observer's own
context is -log2 P(text | what the observer has seen), read from the model server's prompt logprobs:
the observer's stable prefix (persona, private notes, rules) and its recent transcript, then the
speaker's cue, exactly as the observer's own prompts read. Private information therefore shows up:
a message that confirms what an observer privately knows carries fewer bits for it than for others.

Published as `info` events (channel `info`, visible to the observer only), one per observer and
message: `bits`, `tokens`, `bits_per_token`, the message's id/seq and speaker. Off unless the
scenario lists the section:

    sections:
      info: {}            # or {include_prefix: false, context_lines: 10, own: true}

Cost: one request per observer per message, sent as soon as the message is seen, so the requests
of all observers go out together and the server batches them. Both paths score the text's own
(canonical) tokens and never an end-of-text token: vLLM reads the prompt's logprobs (`echo`); the
embedded llama.cpp server, which has none, decodes the text's token ids under a token grammar and
sums their raw logprobs (EmbeddedLLM._score_one). Both are `exact`. Another llama.cpp server behind
`--backend` is still scored by forced decoding of the text's spelling (`exact: false`, an upper
bound on the bits: one tokenization path, plus the end token; see OpenAICompatLLM.score).

The results are published by `settle()` (their `llm_call` and `info` events, in the order the
messages were seen), which the run calls at fixed points of the schedule: two runs of one seed
log them in the same order however fast each reply came back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from sociallm.agents.prompts import render_event, speaker_label, stable_prefix
from sociallm.agents.sections import BaseSection, SectionContext
from sociallm.backbone.base import BackendError
from sociallm.runtime.events import Event
from sociallm.runtime.resources import HasRules, Need

if TYPE_CHECKING:
    from sociallm.agents.agent import Turn

INFO_CHANNEL = "info"
_TRANSCRIPT_KINDS = frozenset({"message", "observation", "outcome", "action", "system"})


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    context_lines: int | None = Field(
        default=None, ge=0, le=1000, description="Transcript lines of context (default: agent.history_lines)."
    )
    include_prefix: bool = Field(default=True, description="Score under the observer's persona and private notes.")
    own: bool = Field(default=False, description="Also score the observer's own messages.")
    model: str | None = Field(default=None, description="Scoring model (default: the observer's model).")


# The observer's rules go into its scoring prefix, as into its prompt (checked when sections are built).
needs = [Need("environment", HasRules, why="the observer's rules are part of what it scores under")]


class InfoSection(BaseSection):
    name = "info"

    def __init__(self, ctx: SectionContext, config: Config) -> None:
        self.ctx = ctx
        self.config = config
        self.me = ctx.agent.name
        env = ctx.environment
        rules = env.rules(self.me) if env is not None else ""
        self.prefix = stable_prefix(ctx.scenario, ctx.agent, rules) if config.include_prefix else ""
        lines = config.context_lines if config.context_lines is not None else ctx.scenario.agent.history_lines
        self.history: deque[str] = deque(maxlen=lines)
        self.model = config.model or ctx.agent.model
        self._private = {c.name for c in ctx.scenario.channels if c.private}
        self._queue: deque[tuple[Event, asyncio.Task[Any]]] = deque()  # scoring in flight, in order seen
        self.disabled: str | None = None
        self.scored = 0

    # -- hooks ----------------------------------------------------------------------------------
    def observe(self, event: Event) -> None:
        if event.kind == "message" and event.text and not event.payload.get("silent") and self.disabled is None:
            if event.source != self.me or self.config.own:
                context = self._context(event)
                task = asyncio.get_running_loop().create_task(self._measure(event, context))
                self._queue.append((event, task))
        if event.kind in _TRANSCRIPT_KINDS and self.history.maxlen != 0:
            line = render_event(event, self.me, self._private)
            if line is not None:
                self.history.append(line)

    async def prepare(self, turn: Turn) -> None:
        await self.settle()  # in a run, the scheduler has settled already; a worker's agent settles here

    async def flush(self) -> None:
        """Wait for every message seen so far to be scored and its info event published."""
        await self.settle()

    async def settle(self) -> None:
        """Publish the scores of the messages seen so far, in the order they were seen."""
        while self._queue:
            event, task = self._queue[0]
            try:
                sc = await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # we were cancelled, not the scoring: leave it queued
                self._queue.popleft()
                continue
            except Exception as exc:
                self._queue.popleft()
                await self._disable(exc)
                continue
            self._queue.popleft()
            await self._publish(event, sc)

    def state(self) -> dict[str, Any]:
        return {"history": list(self.history), "scored": self.scored}

    def load_state(self, state: dict[str, Any]) -> None:
        self.history.extend(state.get("history", []))
        self.scored = int(state.get("scored", 0))

    async def aclose(self) -> None:
        # A run that ends normally has settled already; one that failed or was stopped drops what is still
        # being scored: it belongs to the half round a resume plays again.
        for _, task in self._queue:
            if task.done() and not task.cancelled():
                task.exception()  # retrieved, so asyncio does not warn about it at exit
            task.cancel()
        self._queue.clear()

    # -- scoring --------------------------------------------------------------------------------
    def _context(self, event: Event) -> str:
        """The observer's prompt up to the message text: prefix, transcript, then `Speaker: "`."""
        line = render_event(event, self.me, self._private) or f'{speaker_label(event.source)}: "{event.text}"'
        cue = line[: len(line) - len(event.text) - 1]  # the rendered line ends with text + closing quote
        body = "\n".join(self.history)
        return f"{self.prefix}\n{body}\n{cue}" if self.prefix else f"{body}\n{cue}"

    async def _measure(self, event: Event, context: str) -> Any:
        """The request alone; what it returns is published later, in order, by `settle`."""
        score = getattr(self.ctx.llm, "score", None)
        if score is None:
            raise BackendError("this backbone cannot score text (no prompt logprobs)")
        if hasattr(self.ctx.llm, "record_scores"):
            (sc,) = await score([(context, event.text)], self.model, agent=self.me, purpose="info", record=False)
        else:
            (sc,) = await score([(context, event.text)], self.model, agent=self.me, purpose="info")
        return sc

    async def _disable(self, exc: Exception) -> None:
        if self.disabled is not None:
            return
        known = isinstance(exc, BackendError | AttributeError | NotImplementedError)
        self.disabled = str(exc) if known else f"{type(exc).__name__}: {exc}"
        await self.ctx.emit(
            Event(
                kind="system",
                source=self.me,
                channel=INFO_CHANNEL,
                to=[self.me],
                tick=self.ctx.tick(),
                payload={"event": "info_disabled", "reason": self.disabled},
            )
        )

    async def _publish(self, event: Event, sc: Any) -> None:
        record = getattr(self.ctx.llm, "record_scores", None)
        if record is not None:
            await record([sc], agent=self.me, purpose="info")
        self.scored += 1
        await self.ctx.emit(
            Event(
                kind="info",
                source=self.me,
                channel=INFO_CHANNEL,
                to=[self.me],
                tick=event.tick or self.ctx.tick(),
                payload={
                    "message_id": event.id,
                    "message_seq": event.seq,
                    "speaker": event.source,
                    "observer": self.me,
                    "bits": round(sc.bits, 4),
                    "tokens": sc.tokens,
                    "bits_per_token": round(sc.bits / sc.tokens, 4) if sc.tokens else None,
                    "exact": sc.exact,
                    "model": sc.model,
                    "context_tokens": sc.prompt_tokens - (sc.tokens if sc.exact else 0),
                },
            )
        )


def build(ctx: SectionContext, config: Config) -> InfoSection:
    return InfoSection(ctx, config)
