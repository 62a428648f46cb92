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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from sociallm.agents.prompts import render_event, speaker_label, stable_prefix
from sociallm.agents.sections import BaseSection, SectionContext
from sociallm.backbone.base import BackendError
from sociallm.runtime.events import Event

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


class InfoSection(BaseSection):
    name = "info"

    def __init__(self, ctx: SectionContext, config: Config) -> None:
        self.ctx = ctx
        self.config = config
        self.me = ctx.agent.name
        env = ctx.shared.get("environment")
        rules = env.rules(self.me) if env is not None else ""
        self.prefix = stable_prefix(ctx.scenario, ctx.agent, rules) if config.include_prefix else ""
        lines = config.context_lines if config.context_lines is not None else ctx.scenario.agent.history_lines
        self.history: deque[str] = deque(maxlen=lines)
        self.model = config.model or ctx.agent.model
        self._private = {c.name for c in ctx.scenario.channels if c.private}
        self._pending: set[asyncio.Task[None]] = set()
        self.disabled: str | None = None
        self.scored = 0

    # -- hooks ----------------------------------------------------------------------------------
    def observe(self, event: Event) -> None:
        if event.kind == "message" and event.text and not event.payload.get("silent") and self.disabled is None:
            if event.source != self.me or self.config.own:
                context = self._context(event)
                task = asyncio.get_running_loop().create_task(self._score(event, context))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
        if event.kind in _TRANSCRIPT_KINDS and self.history.maxlen != 0:
            line = render_event(event, self.me, self._private)
            if line is not None:
                self.history.append(line)

    async def prepare(self, turn: Turn) -> None:
        await self.flush()

    async def flush(self) -> None:
        """Wait for every message seen so far to be scored (its info event published)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def state(self) -> dict[str, Any]:
        return {"history": list(self.history), "scored": self.scored}

    def load_state(self, state: dict[str, Any]) -> None:
        self.history.extend(state.get("history", []))
        self.scored = int(state.get("scored", 0))

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.flush()

    # -- scoring --------------------------------------------------------------------------------
    def _context(self, event: Event) -> str:
        """The observer's prompt up to the message text: prefix, transcript, then `Speaker: "`."""
        line = render_event(event, self.me, self._private) or f'{speaker_label(event.source)}: "{event.text}"'
        cue = line[: len(line) - len(event.text) - 1]  # the rendered line ends with text + closing quote
        body = "\n".join(self.history)
        return f"{self.prefix}\n{body}\n{cue}" if self.prefix else f"{body}\n{cue}"

    async def _score(self, event: Event, context: str) -> None:
        score = getattr(self.ctx.llm, "score", None)
        try:
            if score is None:
                raise BackendError("this backbone cannot score text (no prompt logprobs)")
            (sc,) = await score([(context, event.text)], self.model, agent=self.me, purpose="info")
        except (BackendError, AttributeError, NotImplementedError) as exc:
            if self.disabled is None:
                self.disabled = str(exc)
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
            return
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
