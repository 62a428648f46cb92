"""The facts vocabulary: train is large and varied, and no word that tells a topic crosses splits."""

from __future__ import annotations

import random
import re
from collections import defaultdict

import pytest

from sociallm.environments.facts import (
    ATTRIBUTES,
    CASUAL,
    CLOSERS,
    FILLER,
    FITS,
    HEDGES,
    NAMES,
    OPENERS,
    SPLITS,
    SUBJECT_KINDS,
    SUBJECTS,
    TEMPLATES,
    claim,
    random_fact,
    realise,
    vocab,
)

# Words that carry no value by themselves: articles, prepositions and the hedging of quantities
# ("about 40", "under a kilo") may repeat across attributes.
FUNCTION_WORDS = set(
    "a an the of at in on to for and or by with from per my our your his her their its "
    "is as about around nearly just over under only barely almost all".split()
)
SURFACE = {"openers": OPENERS, "closers": CLOSERS, "filler": FILLER, "casual": CASUAL}


def words(text: str) -> set[str]:
    out = set()
    for w in re.split(r"[\s\-]+", text.lower()):
        w = w.strip(".,:;?!()\"'")
        w = w.removesuffix("'s")
        if w and w not in FUNCTION_WORDS:
            out.add(w)
    return out


def topic_words(split: str) -> set[str]:
    texts = [*SUBJECTS[split], *ATTRIBUTES[split], *(x for vs in ATTRIBUTES[split].values() for x in vs)]
    return set().union(*map(words, texts))


def train_surface() -> list[str]:
    return [*TEMPLATES["train"], *(x for part in SURFACE.values() for x in part["train"])]


def test_train_is_large_and_varied():
    assert len(set(SUBJECTS["train"])) == len(SUBJECTS["train"]) >= 80
    assert len(ATTRIBUTES["train"]) >= 60
    assert all(4 <= len(vs) <= 6 and len(set(vs)) == len(vs) for vs in ATTRIBUTES["train"].values())
    plain = [t for t in TEMPLATES["train"] if not t.startswith(tuple(HEDGES))]
    assert len(set(plain)) >= 40
    assert all(t.count("{S}") == t.count("{A}") == t.count("{V}") == 1 for t in plain)
    for part in SURFACE.values():
        assert len({x for x in part["train"] if x}) >= 15
    assert len(SUBJECT_KINDS) >= 12


@pytest.mark.parametrize("other", ["val", "test"])
def test_no_subject_attribute_or_value_word_of_train_is_in_another_split(other):
    seen = topic_words(other) | set().union(*(words(n) for s in SPLITS if s != "train" for n in NAMES[s]))
    assert topic_words("train") & seen == set()
    # nor does the talk around train claims use them: unseen topics stay unseen
    assert set().union(*map(words, train_surface())) & topic_words(other) == set()


@pytest.mark.parametrize("part", sorted(SURFACE))
def test_no_surface_string_is_in_two_splits(part):
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not {x for x in SURFACE[part][a] if x} & set(SURFACE[part][b])


def test_in_train_a_value_word_belongs_to_one_attribute_and_to_nothing_else():
    owners: dict[str, set[str]] = defaultdict(set)
    for a, vs in ATTRIBUTES["train"].items():
        for v in vs:
            for w in words(v):
                owners[w].add(a)
    assert {w: a for w, a in owners.items() if len(a) > 1} == {}
    elsewhere = set().union(*map(words, [*SUBJECTS["train"], *ATTRIBUTES["train"], *train_surface(), *NAMES["train"]]))
    assert set(owners) & elsewhere == set()


def test_train_attributes_go_only_with_the_subjects_they_fit():
    fits = FITS["train"]
    assert set(fits) == set(ATTRIBUTES["train"])
    assert set().union(*map(set, fits.values())) == set(SUBJECTS["train"])  # every subject has attributes
    assert all(sum(s in subjects for subjects in fits.values()) >= 4 for s in SUBJECTS["train"])
    v = vocab()
    rng = random.Random(0)
    facts = [random_fact(rng, v) for _ in range(3000)]
    assert all(f.subject in fits[f.attribute] and f.value in ATTRIBUTES["train"][f.attribute] for f in facts)
    assert len({f.attribute for f in facts}) == len(ATTRIBUTES["train"])
    assert random_fact(random.Random(0), v, avoid={f.topic for f in facts[:1]}).topic != facts[0].topic


def test_val_and_test_draws_are_unchanged_by_the_train_kinds():
    # val and test have no FITS: any attribute with any subject, drawn as before (the same rng calls)
    for split in ("val", "test"):
        v = vocab(topics=split)
        assert v.fits is None
        rng, ref = random.Random(5), random.Random(5)
        f = random_fact(rng, v)
        s, a = ref.choice(SUBJECTS[split]), ref.choice(sorted(ATTRIBUTES[split]))
        assert (f.subject, f.attribute, f.value) == (s, a, ref.choice(ATTRIBUTES[split][a]))


def test_every_train_template_renders_one_sentence_with_the_whole_fact():
    v = vocab()
    rng = random.Random(1)
    for t in v.templates:
        f = random_fact(rng, v)
        text = realise(rng, v, "Alice", [claim(rng, v, f, t)])
        assert all(x.lower() in text.lower() for x in (f.subject, f.attribute, f.value)) and "{" not in text
