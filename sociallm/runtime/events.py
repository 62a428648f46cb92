"""Events: the one currency of a run.

Everything that happens (a message, an action, an outcome, a model call, a round boundary) is an
`Event`. The log, the UI, metrics and replay read events and nothing else.
"""

from __future__ import annotations

import itertools
import secrets
import time
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


# Ids are a per-process random prefix and a counter: unique across a run's processes (run, workers, a
# resume) without a urandom read per event (uuid4 was a visible share of a turn at scale).
# Fixed width (32 hex digits, as uuid4's were): what depends on an id's length (a record's stored size)
# is then the same in a run and in its resume, whose counter starts again.
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)


def new_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


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


def make_event(
    kind: EventKind,
    source: str,
    *,
    channel: str = PUBLIC,
    to: list[str] | None = None,
    tick: int = 0,
    payload: dict[str, Any] | None = None,
) -> Event:
    """An event built by the runtime itself, without pydantic validation: the arguments are typed here,
    and validating every event the runtime makes cost more than building it. Anything from outside
    (a scenario, a broker, a log read on resume) still goes through `Event.model_validate`."""
    return Event.model_construct(
        id=new_id(),
        run="",
        seq=-1,
        tick=tick,
        ts=time.time(),
        kind=kind,
        source=source,
        channel=channel,
        to=list(to) if to else [],
        payload=payload if payload is not None else {},
    )


def topic_for(run: str, channel: str) -> str:
    return f"sociallm/{run}/{channel}"
