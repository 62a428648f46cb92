"""What every encoder shares: its error and the per-text vector cache (below encoders.py and its backends)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import numpy as np


class EncoderError(ValueError):
    """An encoder name that does not exist, or a model that cannot load."""


class TextCache:
    """A bounded per-text LRU of vectors, thread-safe, counting hits and texts actually encoded.

    Agents in one run see the same messages, so N agents' encodings of one line cost one. `get` serves
    what it holds and asks `compute` once for each distinct text it lacks.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._vecs: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.encoded = 0  # distinct texts that went to `compute` (cache misses)

    async def get(
        self, texts: list[str], compute: Callable[[list[str]], Awaitable[np.ndarray]], dim: Callable[[], int]
    ) -> np.ndarray:
        """(len(texts), dim()) float32; `dim` is read after `compute`, which may be what fixes it."""
        found: dict[int, np.ndarray] = {}
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, t in enumerate(texts):
                hit = self._vecs.get(t)
                if hit is None:
                    missing.setdefault(t, []).append(i)
                else:
                    self._vecs.move_to_end(t)
                    found[i] = hit
                    self.hits += 1
        if missing:
            todo = list(missing)
            vecs = await compute(todo)
            with self._lock:
                self.encoded += len(todo)
                for t, v in zip(todo, vecs, strict=True):
                    for i in missing[t]:
                        found[i] = v
                    self._vecs[t] = v
                    self._vecs.move_to_end(t)
                while len(self._vecs) > self.size:
                    self._vecs.popitem(last=False)
        out = np.zeros((len(texts), dim()), dtype=np.float32)
        for i, v in found.items():
            out[i] = v
        return out
