"""The training objectives: what each state is asked to predict, and which targets are not negatives."""

from __future__ import annotations

import math

import torch

from sociallm.agents.tom_data import Message, RunData, procedural_stories, synthetic_runs
from sociallm.agents.tom_train import _info_nce, _windows

NO_LABELS = (math.nan, math.nan, math.nan)


def msg(speaker: str, to: list[str], text: str, tick: int) -> Message:
    return Message(speaker, to, text, tick, NO_LABELS)


def test_belief_targets_are_what_the_speaker_told_the_others():
    run = RunData(
        "r",
        [
            msg("X", ["A"], "to A 1", 1),
            msg("X", ["B"], "to B 1", 1),
            msg("X", ["A", "B"], "to all 2", 2),
            msg("X", ["A"], "to A 3", 3),
        ],
    )
    windows = {(w.messages[0].speaker, tuple(m.text for m in w.messages)): w for w in _windows([run], 24)}
    a = windows[("X", ("to A 1", "to all 2", "to A 3"))]
    assert [[m.text for m in o] for o in a.others] == [["to B 1"], ["to all 2"], []]
    me = windows[("X", ("to A 1", "to B 1", "to all 2", "to A 3"))]  # X's self sequence: everything it said
    assert [m.text for m in me.others[0]] == ["to A 1", "to B 1"]
    # One round of one speaker is one key, whoever heard it.
    b = windows[("X", ("to B 1", "to all 2"))]
    assert a.keys[0] == b.keys[0] and a.keys[1] == b.keys[1] and a.keys[0] != a.keys[1]


def test_a_retelling_of_the_same_round_is_not_a_negative():
    torch.manual_seed(0)
    pred = torch.randn(3, 8)
    target = torch.stack([pred[0], pred[0] * 1.01, torch.randn(8)])  # target 1 is target 0 in other words
    apart = _info_nce(pred[:1].repeat(3, 1), target, torch.tensor([0, 1, 2]), 0.1)
    together = _info_nce(pred[:1].repeat(3, 1), target, torch.tensor([0, 0, 2]), 0.1)
    assert together < apart  # with one key, the near-duplicate no longer competes with the positive


def test_procedural_stories_are_reproducible_and_incompatible():
    import random

    a, b = procedural_stories(random.Random(4), 5), procedural_stories(random.Random(4), 5)
    assert a == b and len(a) == 5
    assert all(len(set(v)) == 3 and all(thing in x for x in v) for thing, v in a.items())
    runs = synthetic_runs(range(3), rounds=5, procedural=True)
    assert all(len(r.messages) >= 3 * 5 and r.deceptive is not None for r in runs)
