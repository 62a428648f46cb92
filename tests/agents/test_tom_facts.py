"""Contrast sets (tom_facts), the claim ledger (tom_claims), the per-shift statistics (tom_shift)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sociallm.agents.tom_claims import ClaimLedger, ClaimReader
from sociallm.agents.tom_facts import CLASSES, DECEPTIVE, claim_examples, make_run, make_runs
from sociallm.agents.tom_shift import auc, auc_ci, best_threshold
from sociallm.environments.facts import ATTRIBUTES, NAMES, SPLITS, SUBJECTS, TEMPLATES, vocab


def _words(texts: list[str]) -> set[str]:
    return {w.strip(".,:?!-").lower() for t in texts for w in t.split()}


@pytest.mark.parametrize("a,b", [("train", "val"), ("train", "test"), ("val", "test")])
def test_splits_share_no_names_subjects_attributes_values_or_templates(a, b):
    assert not set(NAMES[a]) & set(NAMES[b])
    assert not set(SUBJECTS[a]) & set(SUBJECTS[b])
    assert not set(ATTRIBUTES[a]) & set(ATTRIBUTES[b])
    va = {x for vs in ATTRIBUTES[a].values() for x in vs}
    vb = {x for vs in ATTRIBUTES[b].values() for x in vs}
    assert not va & vb
    assert not set(TEMPLATES[a]) & set(TEMPLATES[b])


def test_within_a_split_no_value_belongs_to_two_attributes():
    for split in SPLITS:
        values = [x for vs in ATTRIBUTES[split].values() for x in vs]
        assert len(values) == len(set(values)), split


def test_each_class_does_what_it_says():
    v = vocab("test", "test", "test")
    for kind in CLASSES:
        run = make_run(3, kind, v, rounds=4)
        assert run.kind == kind and run.deceptive == (kind in DECEPTIVE)
        mine = [m for m in run.messages if m.speaker == run.speaker]
        assert all(len(m.observers) == 1 for m in mine)  # one listener each: private
        by_tick: dict[int, list[str]] = {}
        for m in mine:
            by_tick.setdefault(m.tick, []).append(m.text)
        if kind == "verbatim":
            assert all(len(set(t)) == 1 for t in by_tick.values())
        if kind == "conflict_same":  # some round differs only in the value, not in the words around it
            assert any(len(set(t)) > 1 and len(_words(t)) <= len(_words(t[:1])) + 6 for t in by_tick.values())
    assert make_run(3, "paraphrase", v).messages[0].text == make_run(3, "paraphrase", v).messages[0].text


def test_runs_use_only_their_splits_vocabulary():
    runs = make_runs(2, "test", "val", "train", rounds=3)
    names = {n for r in runs for m in r.messages for n in (m.speaker, *m.observers)}
    assert names <= set(NAMES["test"])
    text = " ".join(m.text for r in runs for m in r.messages)
    assert any(s in text for s in SUBJECTS["train"]) and not any(s in text for s in SUBJECTS["test"])
    with pytest.raises(ValueError, match="names: unknown split 'x'"):
        vocab("x")


def test_claim_examples_come_in_groups_with_one_conflicting_value():
    texts, _topics, facts = claim_examples(random.Random(0), 3)
    assert len(texts) == 27
    group = facts[:9]
    assert len({f.topic for f in group}) == 1 and len({f.value for f in group}) == 2


def _vec(seed: int, dim: int = 8) -> torch.Tensor:
    return F.normalize(torch.randn(dim, generator=torch.Generator().manual_seed(seed)), dim=0)


def test_ledger_counts_conflicts_between_audiences_only_on_one_topic():
    reader = ClaimReader(d_model=8, gate=0.5, sharpness=0.01)
    led = ClaimLedger(reader, top=1)
    topic, other_topic = _vec(1), _vec(2)
    red, blue = _vec(3), -_vec(3)
    led.add("X", "1", frozenset({"A"}), topic, red)
    assert led.duplicity("X") is None  # one audience: nothing to compare
    led.add("X", "2", frozenset({"A"}), topic, blue)
    assert led.duplicity("X") is None  # told A two things: a change of mind, not two faces
    led.add("X", "3", frozenset({"B"}), other_topic, blue)
    assert led.duplicity("X") < 0.05  # another topic to B: not a conflict
    led.add("X", "4", frozenset({"B"}), topic, red)
    assert led.duplicity("X") > 0.95  # B heard red where A heard blue
    again = ClaimLedger(reader, top=1)
    again.load_state(led.state())
    assert again.duplicity("X") == led.duplicity("X")
    assert led.duplicity("Y") is None
    # A checkpoint's ledgers share one table of vectors: a claim's vectors are stored once, exactly.
    table: dict = {}
    shared = ClaimLedger(reader, top=1)
    shared.load_state(led.state(table), table)
    assert len(table) == 3  # claims 1 and 4 carry the same vectors
    pairs = list(zip(shared.speakers["X"].said, led.speakers["X"].said, strict=True))
    assert len(pairs) == 4 and all(torch.equal(a.value, b.value) and torch.equal(a.topic, b.topic) for a, b in pairs)
    # A checkpoint written before (vectors as nested lists) still loads.
    old = {
        n: {"said": [[r.key, sorted(r.audience), r.topic.tolist(), r.value.tolist()] for r in sp.said], "top": sp.top}
        for n, sp in led.speakers.items()
    }
    legacy = ClaimLedger(reader, top=1)
    legacy.load_state(old)
    assert legacy.duplicity("X") == led.duplicity("X")
    assert all(
        torch.equal(a.topic, b.topic) for a, b in zip(legacy.speakers["X"].said, led.speakers["X"].said, strict=True)
    )


def test_auc_threshold_and_bootstrap_interval():
    pos, neg = np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2, 0.75])
    assert auc(pos, neg) == pytest.approx(8 / 9)
    a, lo, hi = auc_ci(pos, neg, reps=200)
    assert lo <= a <= hi and 0.0 <= lo and hi <= 1.0
    cut = best_threshold(pos, neg)
    assert (pos > cut).mean() - (neg > cut).mean() == pytest.approx(2 / 3)


def test_lm_judge_asks_about_same_round_pairs_to_different_audiences_and_scores_the_share_of_yes():
    from sociallm.agents.tom_judge import judge_sync, same_round_pairs
    from tests.fakes import FakeLLM

    v = vocab("test", "test", "test")
    honest, liar = make_run(1, "verbatim", v, rounds=3), make_run(1, "conflict_same", v, rounds=3, lie_rate=1.0)
    pairs = same_round_pairs(liar, 100)
    assert pairs and all(a != b for a, b in pairs)  # every round of this liar conflicts
    llm = FakeLLM(
        lambda req: (
            " yes"
            if req.prompt.split("Message A: ")[1].split("\n")[0] != req.prompt.split("Message B: ")[1].split("\n")[0]
            else " no"
        )
    )
    assert judge_sync(llm, [honest, liar], pairs=3) == [0.0, 1.0]
    assert all(r.constraint.kind == "choice" and r.purpose == "tom_judge" for r in llm.requests)
