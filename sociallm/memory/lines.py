"""The run's shared collection holds each distinct remembered line once.

Every listener of a message remembers it, so with one Chroma record per (listener, line) a hamlet of 8
wrote each line 8 times, and Chroma's cost is per record: ~0.35–0.45 ms of CPU each (its log, metadata
rows, full-text index and HNSW insert; batches of 60 records), against ~0.11 ms per (line, listener)
when a line is one record with a key per listener (10 lines of 8 listeners a write). That write was
most of an action's own time with memory on. So a Chroma record here is a *line*: its text (the
document), its vector, and one metadata key per agent record of it, `r:<record id>`, whose value is
that record's metadata as JSON (agent, importance, access, ...). A line's id hashes its text and its
vector's bytes, so two records share a line only when both are identical: every agent gets back
exactly the vector it stored.

What it trades: Chroma can no longer filter on an agent's fields (`where`), so the clean-up after a
resume reads the collection once (`Index`) and works from that; in a run, reads never went to Chroma
(the mirror answers them, store.py).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from sociallm.memory.records import MemoryRecord

KEY = "r:"  # a metadata key holding one agent record of the line


def line_id(text: str, vec: np.ndarray) -> str:
    h = hashlib.blake2b(text.encode("utf-8"), digest_size=12)
    h.update(np.asarray(vec, dtype=np.float32).tobytes())
    return "L" + h.hexdigest()


def blob(record: MemoryRecord, prev: dict[str, Any] | None = None) -> str:
    """The record's metadata as stored under its key; `prev` is its access before the last checkpoint."""
    meta = record.metadata()
    meta["touched_after"] = record.touched_after
    if prev:
        meta.update(prev)
    return json.dumps(meta, separators=(",", ":"))


class Index:
    """What the collection holds, by agent: read once after a resume for every agent's clean-up and reload."""

    def __init__(self, got: dict[str, Any]) -> None:
        self.vectors: dict[str, np.ndarray] = {}
        self.texts: dict[str, str] = {}
        self.keys: dict[str, set[str]] = {}  # line -> its record keys
        self.by_agent: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}  # agent -> id -> (line, meta)
        for lid, doc, metas, vec in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True):
            self.texts[lid] = doc or ""
            self.vectors[lid] = np.asarray(vec, dtype=np.float32)
            keys = self.keys[lid] = set()
            for key, value in (metas or {}).items():
                if not key.startswith(KEY):
                    continue
                meta = json.loads(value)
                keys.add(key)
                self.by_agent.setdefault(meta.get("agent") or "", {})[key[len(KEY) :]] = (lid, meta)

    def records(self, agent: str) -> list[tuple[MemoryRecord, np.ndarray, str]]:
        return [
            (MemoryRecord.from_chroma(rid, self.texts[lid], meta), self.vectors[lid], lid)
            for rid, (lid, meta) in self.by_agent.get(agent, {}).items()
        ]

    def drop(self, agent: str, rid: str) -> tuple[str, bool]:
        """Forget one record; returns its line and whether the line has no record left."""
        lid, _ = self.by_agent[agent].pop(rid)
        keys = self.keys[lid]
        keys.discard(KEY + rid)
        return lid, not keys
