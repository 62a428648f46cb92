"""Retrieval scoring (Generative Agents, Park et al. 2023), as pure array math.

    score = w_r·norm(recency) + w_i·norm(importance) + w_v·norm(relevance)

- recency = decay ** (now − last_access), in ticks (rounds) by default or in events (run seq);
- importance = the record's 1–10 rating;
- relevance = cosine similarity of the record's embedding to the query's;
- norm = min-max over the candidates; a component that is equal for every candidate carries no
  information about the order, so it normalises to 0 for all (not NaN, not 1) and drops out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Weights:
    recency: float = 1.0
    importance: float = 1.0
    relevance: float = 1.0


def min_max(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    span = hi - lo
    if span <= 1e-12:
        return np.zeros_like(x)
    return (x - lo) / span


def recency(now: float, last_access: np.ndarray, decay: float) -> np.ndarray:
    """decay ** elapsed; elapsed is clipped at 0 (a record touched "in the future" counts as fresh)."""
    elapsed = np.maximum(0.0, now - np.asarray(last_access, dtype=np.float64))
    return np.power(decay, elapsed)


def scores(
    recency_values: np.ndarray, importance: np.ndarray, relevance: np.ndarray, weights: Weights = Weights()
) -> np.ndarray:
    return (
        weights.recency * min_max(recency_values)
        + weights.importance * min_max(importance)
        + weights.relevance * min_max(relevance)
    )


def top_n(score_values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n best, best first; ties keep candidate order (Chroma's relevance order)."""
    s = np.asarray(score_values)
    if n <= 0 or s.size == 0:
        return np.zeros(0, dtype=np.int64)
    if s.size <= n:
        return np.argsort(-s, kind="stable")
    # Only the n best are sorted: partition finds the n-th best score, then every candidate at or above
    # it (ties at the cut included, in candidate order) is sorted stably: the same n as a full sort.
    neg = -s
    cut = np.partition(neg, n - 1)[n - 1]
    keep = np.flatnonzero(neg <= cut)
    return keep[np.argsort(neg[keep], kind="stable")][:n]
