"""One encode per distinct text across a run's agents.

Every listener of a message stores it in its own memory stream, and a hamlet's members query with
nearly the same recent lines: without a cache the encoder saw each line once per listener. The cache
sits in front of the run's shared encoder for the memory sections (keyed by the exact text; a vector
is a pure function of the text), so what it trades is a few MB of vectors for N-fold encoder work.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np


class CachedEncoder:
    def __init__(self, inner: Any, size: int = 8192) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "encoder")
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def encode(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vecs = np.asarray(await self.inner.encode(missing), dtype=np.float32)
            for t, v in zip(missing, vecs, strict=True):
                self._cache[t] = v
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        rows = []
        for t in texts:
            v = self._cache.get(t)
            if v is None:  # evicted by a concurrent caller between the encode and here: ask again
                v = np.asarray(await self.inner.encode([t]), dtype=np.float32)[0]
            else:
                self._cache.move_to_end(t)
            rows.append(v)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        if not rows:
            return np.zeros((0, getattr(self.inner, "dim", 0) or 0), dtype=np.float32)
        return np.stack(rows)

    async def aclose(self) -> None:
        return None


def cached_encoder(shared: dict[str, Any], inner: Any) -> CachedEncoder:
    enc = shared.get("memory_encoder")
    if enc is None or enc.inner is not inner:
        enc = shared["memory_encoder"] = CachedEncoder(inner)
    return enc
