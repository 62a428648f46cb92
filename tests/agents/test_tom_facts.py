"""Contrast sets (tom_facts), the claim ledger (tom_claims), the per-shift statistics (tom_shift)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sociallm.agents.tom_claims import ClaimLedger, ClaimReader
from sociallm.agents.tom_facts import CLASSES, DECEPTIVE, make_run, make_runs, role_examples
from sociallm.agents.tom_shift import auc, auc_ci, flag_threshold
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


def test_role_examples_mark_the_spans_that_spell_each_fact():
    data = role_examples(random.Random(0), 40)
    v = vocab()
    values = {x.lower() for vals in v.attributes.values() for x in vals}
    assert any(len([s for s in spans if s[2] == 2]) >= 2 for _, spans in data)  # some carry two facts
    for text, spans in data:
        assert any(r == 2 for *_, r in spans) and any(r == 1 for *_, r in spans)
        assert all(text[a:b].lower() in values for a, b, r in spans if r == 2)
        names = [n for n in v.names if n in text]
        assert not any(a <= text.index(n) < b for n in names for a, b, _ in spans)  # the listener's name is surface


def _lexical(reader: ClaimReader, texts: list[str], topics: list[int]) -> list:
    """Claims from the lexical fallback, with hand-set sentence vectors (one per topic)."""
    pooled = torch.stack([F.one_hot(torch.tensor(t), 8).float() for t in topics])
    names = [[w.strip(",!") for w in t.split()[:2] if w.strip(",!") in {"Bob", "Carol", "Dave", "Erin"}] for t in texts]
    return reader.read(pooled, None, texts, names)


def test_conflict_needs_one_topic_and_a_new_content_word_on_both_sides():
    reader = ClaimReader(d_model=8, coverage_gate=0.4, topic_gate=0.5, sharpness=0.02)
    a, para, liar, more, other, elsewhere = _lexical(
        reader,
        [
            "Hi Bob, the ferry leaves at noon.",
            "Carol! Ferry leaves noon, so they say.",
            "Hi Carol, the ferry leaves at dusk.",
            "Dave, the ferry leaves at noon and tickets cost ten.",
            "Erin, the ferry leaves at noon.",
            "Erin, the ferry leaves at dusk.",
        ],
        [0, 0, 0, 0, 0, 1],
    )
    assert reader.conflict(a, liar) > 0.9  # same topic, "noon" against "dusk"
    assert reader.conflict(a, other) == 0.0  # same claim to another listener: nothing new either way
    assert reader.conflict(a, more) < 0.05  # says more to Dave, contradicts nothing
    assert reader.conflict(a, para) < 0.05 or reader.conflict(a, para) < reader.conflict(a, liar) / 5
    assert reader.conflict(a, elsewhere) < 0.01  # another topic (sentence vectors apart): not a conflict


def test_ledger_counts_conflicts_between_audiences_only():
    reader = ClaimReader(d_model=8, coverage_gate=0.4, topic_gate=0.5, sharpness=0.02)
    noon, dusk, prices = _lexical(
        reader, ["the ferry leaves at noon", "the ferry leaves at dusk", "bread costs two coins"], [0, 0, 1]
    )
    led = ClaimLedger(reader, top=1)
    led.add("X", "1", frozenset({"A"}), noon)
    assert led.duplicity("X") is None  # one audience: nothing to compare
    led.add("X", "2", frozenset({"A"}), dusk)
    assert led.duplicity("X") is None  # told A two things: a change of mind, not two faces
    led.add("X", "3", frozenset({"B"}), prices)
    assert led.duplicity("X") < 0.05  # another topic to B: not a conflict
    led.add("X", "4", frozenset({"B"}), noon)
    assert led.duplicity("X") > 0.9  # B heard noon where A (the second time) heard dusk
    again = ClaimLedger(reader, top=1)
    again.load_state(led.state())
    assert again.duplicity("X") == led.duplicity("X")
    assert [r.claim.ids.tolist() for r in again.speakers["X"].said] == [
        r.claim.ids.tolist() for r in led.speakers["X"].said
    ]
    assert led.duplicity("Y") is None
    # Claims of other rounds are not compared: a speaker may change what it says between rounds.
    rounds = ClaimLedger(reader, top=1)
    rounds.add("X", "1", frozenset({"A"}), noon, tick=1)
    rounds.add("X", "2", frozenset({"B"}), dusk, tick=2)
    assert rounds.duplicity("X") is None
    rounds.add("X", "3", frozenset({"C"}), noon, tick=2)
    assert rounds.duplicity("X") > 0.9  # B and C heard different times in round 2
    # A checkpoint's ledgers share one table of claims: a claim is stored once, exactly.
    table: dict = {}
    shared = ClaimLedger(reader, top=1)
    shared.load_state(led.state(table), table)
    assert len(table) == 3  # messages 1 and 4 carry the same claim
    pairs = list(zip(shared.speakers["X"].said, led.speakers["X"].said, strict=True))
    assert len(pairs) == 4
    for a, b in pairs:
        assert torch.equal(a.claim.topic, b.claim.topic) and torch.equal(a.claim.ids, b.claim.ids)
        assert torch.equal(a.claim.content, b.claim.content) and a.claim.lexical == b.claim.lexical
    # A ledger of the previous format (topic and value vectors) loads without its entries, keeping its top.
    old = {"X": {"said": [["1", ["A"], [0.0] * 8, [0.0] * 4]], "top": [0.5]}}  # key, audience, topic, value
    legacy = ClaimLedger(reader, top=1)
    legacy.load_state(old)
    assert legacy.duplicity("X") == 0.5 and legacy.speakers["X"].said == []


def test_auc_threshold_and_bootstrap_interval():
    pos, neg = np.array([0.9, 0.8, 0.7]), np.array([0.1, 0.2, 0.75])
    assert auc(pos, neg) == pytest.approx(8 / 9)
    a, lo, hi = auc_ci(pos, neg, reps=200)
    assert lo <= a <= hi and 0.0 <= lo and hi <= 1.0
    assert flag_threshold(np.arange(20.0)) == 18.0  # 1 of 20 above the cut: 5%
    assert flag_threshold(np.arange(20.0), rate=0.0) == 19.0


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
