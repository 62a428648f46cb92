import numpy as np
import pytest

from sociallm.memory import scoring


def test_min_max_hand_computed_and_all_equal() -> None:
    assert scoring.min_max(np.array([2.0, 4.0, 6.0])).tolist() == [0.0, 0.5, 1.0]
    # All equal: no information about the order, so every candidate gets 0 (never NaN).
    assert scoring.min_max(np.array([3.0, 3.0, 3.0])).tolist() == [0.0, 0.0, 0.0]
    assert scoring.min_max(np.array([7.0])).tolist() == [0.0]
    assert scoring.min_max(np.array([])).size == 0


def test_recency_decay_per_unit() -> None:
    r = scoring.recency(10, np.array([10, 9, 8, 12]), 0.9)
    assert r == pytest.approx([1.0, 0.9, 0.81, 1.0])  # touched "in the future" counts as fresh


def test_scores_hand_computed() -> None:
    # three candidates; recency 1, .9, .81 -> norm 1, .4737, 0; importance 2, 8, 5 -> 0, 1, .5;
    # relevance .2, .4, .6 -> 0, .5, 1.
    rec = np.array([1.0, 0.9, 0.81])
    imp = np.array([2.0, 8.0, 5.0])
    rel = np.array([0.2, 0.4, 0.6])
    s = scoring.scores(rec, imp, rel)
    assert s == pytest.approx([1.0, (0.9 - 0.81) / 0.19 + 1.0 + 0.5, 1.5])
    w = scoring.Weights(recency=0.0, importance=2.0, relevance=1.0)
    assert scoring.scores(rec, imp, rel, w) == pytest.approx([0.0, 2.5, 2.0])
    assert scoring.top_n(s, 2).tolist() == [1, 2]


def test_top_n_ties_keep_relevance_order_and_edge_cases() -> None:
    assert scoring.top_n(np.array([1.0, 2.0, 2.0, 0.5]), 3).tolist() == [1, 2, 0]
    assert scoring.top_n(np.array([1.0]), 5).tolist() == [0]
    assert scoring.top_n(np.array([]), 5).tolist() == []
    assert scoring.top_n(np.array([1.0]), 0).tolist() == []
