"""A memory record and how it is flattened into ChromaDB metadata.

Chroma metadata values are scalars, so lists (source event ids, cited memory ids) are stored as JSON
strings and affect as two floats that are absent when no emotion section runs.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

Kind = Literal["observation", "own_message", "reflection"]

# Longer texts are cut (and the cut recorded): MiniLM reads at most 256 word pieces anyway, and a
# memory line is rendered into prompts.
MAX_TEXT_CHARS = 1000


class MemoryRecord(BaseModel):
    id: str
    text: str
    kind: Kind
    created_tick: int
    created_wall: float = Field(default_factory=time.time)
    created_seq: int  # the highest run seq the section had seen when it wrote this (resume cut-off)
    last_access_tick: int
    last_access_seq: int
    importance: float = Field(ge=1.0, le=10.0)
    importance_source: str = "model"  # model | heuristic | cache, plus "+affect" when salience added
    valence: float | None = None
    arousal: float | None = None
    sources: list[str] = Field(default_factory=list)  # event ids it came from
    cites: list[str] = Field(default_factory=list)  # reflections: the memory ids they rest on
    repairs: list[str] = Field(default_factory=list)
    order: int = 0  # the agent's n-th memory: breaks ties in retrieval the same way in every run of a seed
    # Set by MemoryStore.touch, not by writes: the checkpoint mark of the record's first access after that
    # checkpoint (its access before then is kept, so a resume can undo accesses of a discarded half round).
    touched_after: int = -1
    agent: str | None = None  # whose memory, in a collection shared by a run's agents

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "kind": self.kind,
            "created_tick": self.created_tick,
            "created_wall": self.created_wall,
            "created_seq": self.created_seq,
            "last_access_tick": self.last_access_tick,
            "last_access_seq": self.last_access_seq,
            "importance": float(self.importance),
            "importance_source": self.importance_source,
            "sources": json.dumps(self.sources),
            "cites": json.dumps(self.cites),
            "order": self.order,
        }
        if self.valence is not None and self.arousal is not None:
            meta["valence"] = float(self.valence)
            meta["arousal"] = float(self.arousal)
        if self.repairs:
            meta["repairs"] = json.dumps(self.repairs)
        if self.agent is not None:
            meta["agent"] = self.agent
        return meta

    @classmethod
    def from_chroma(cls, id: str, text: str, meta: dict[str, Any]) -> MemoryRecord:
        return cls(
            id=id,
            text=text or "",
            kind=meta["kind"],
            created_tick=int(meta["created_tick"]),
            created_wall=float(meta.get("created_wall", 0.0)),
            created_seq=int(meta["created_seq"]),
            last_access_tick=int(meta["last_access_tick"]),
            last_access_seq=int(meta["last_access_seq"]),
            importance=float(meta["importance"]),
            importance_source=str(meta.get("importance_source", "")),
            valence=meta.get("valence"),
            arousal=meta.get("arousal"),
            sources=json.loads(meta.get("sources") or "[]"),
            cites=json.loads(meta.get("cites") or "[]"),
            repairs=json.loads(meta.get("repairs") or "[]"),
            order=int(meta.get("order", 0)),
            touched_after=int(meta.get("touched_after", -1)),
            agent=meta.get("agent"),
        )


def clean_text(text: Any, limit: int = MAX_TEXT_CHARS) -> tuple[str, list[str]]:
    """Text safe to store: valid UTF-8, whitespace collapsed, at most `limit` chars. Says what changed."""
    repairs: list[str] = []
    if isinstance(text, bytes):
        decoded = text.decode("utf-8", errors="replace")
        if "\ufffd" in decoded:
            repairs.append("invalid UTF-8 replaced")
        text = decoded
    text = str(text)
    # Lone surrogates (from bad decoding upstream) cannot be encoded for Chroma or the tokenizer.
    safe = text.encode("utf-8", errors="replace").decode("utf-8")
    if safe != text:
        repairs.append("invalid UTF-8 replaced")
        text = safe
    text = " ".join(text.split())
    if len(text) > limit:
        repairs.append(f"truncated from {len(text)} to {limit} chars")
        text = text[: limit - 1].rstrip() + "…"
    return text, repairs
