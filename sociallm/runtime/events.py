"""Events: the one currency of a run.

Everything that happens (a message, an action, an outcome, a model call, a round boundary) is an
`Event`. The log, the UI, metrics and replay read events and nothing else.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

CoreKind = Literal[
    "message",  # something an agent said on a channel
    "action",  # a move in the game (a price, a bid)
    "observation",  # something the environment shows to agents (private values, prompts)
    "outcome",  # what the environment resolved (profits, scores, metrics)
    "llm_call",  # one model request: tokens, latency, purpose
    "system",  # run/round/phase boundaries, repairs, warnings
    # the built-in sections' kinds, kept short for the logs already written
    "affect",
    "memory",
    "tom",
    "info",
]
CORE_KINDS = frozenset(get_args(CoreKind))
# Any other kind is a plug-in's (a section's or a game's) and namespaced by it: `<package>.<name>`, e.g.
# `mygame.note` or `mysection.score`, so a new section needs no edit here and cannot take a core kind.
# Both checks run in pydantic's core (a Python validator here cost ~4 µs on every event).
NAMESPACED = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
EventKind = CoreKind | Annotated[str, StringConstraints(pattern=NAMESPACED)]


PUBLIC = "public"


def new_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    """One thing that happened in a run.

    `to` empty means everyone on `channel` sees it; otherwise only the named agents do.
    `seq` and `run` are stamped by the bus when the event is published, so producers need not know
    them; `id` is set at creation so a re-delivered event can be recognised.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_id)
    run: str = ""
    seq: int = -1
    tick: int = 0
    ts: float = Field(default_factory=time.time)
    kind: EventKind
    source: str
    channel: str = PUBLIC
    to: list[str] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)

    def visible_to(self, agent: str) -> bool:
        return not self.to or agent in self.to or agent == self.source

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))


def topic_for(run: str, channel: str) -> str:
    return f"sociallm/{run}/{channel}"
