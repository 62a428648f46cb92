"""The hand-written held-out set (tom_wild): its classes, its distance from the generator's words, its conflicts."""

from __future__ import annotations

import re

import pytest

from sociallm.agents.tom_data import _DID, _PLACES, _THINGS, _WHEN, _WHO, _WHOM, PARTNER_NAMES
from sociallm.agents.tom_facts import CLASSES, DECEPTIVE, HONEST
from sociallm.agents.tom_wild import ACKS, JOINERS, NAMES, scenes, wild_run, wild_runs
from sociallm.environments import facts

SETS = ("a", "b", "c", "d", "e")


def _texts(scene_set: str = "a") -> list[str]:
    out = [*ACKS, *JOINERS]
    for s in scenes(scene_set):
        out += [*s.honest, s.frame, *s.values, *(t for _, t in s.lies), *s.asides]
        out += [s.frame.replace("{V}", v) for v in s.values]
    return out


def _facts_vocabulary() -> list[str]:
    """Every name, subject, attribute and value of environments/facts.py, its templates' wording and its surface."""
    words = [w for split in facts.SPLITS for w in facts.NAMES[split]]
    words += [s for split in facts.SPLITS for s in facts.SUBJECTS[split]]
    for split in facts.SPLITS:
        for a, vs in facts.ATTRIBUTES[split].items():
            words += [a, *vs]
    for t in (t for split in facts.SPLITS for t in facts.TEMPLATES[split]):  # wording between slots, 3+ words
        words += [f.strip(" ,.:?!-") for f in re.split(r"\{[SAV]\}", t) if len(f.strip(" ,.:?!-").split()) >= 3]
    surface = [facts.OPENERS, facts.CLOSERS, facts.FILLER, facts.CASUAL]
    return [w for w in words if w] + [p for table in surface for split in facts.SPLITS for p in table[split] if p]


def _occurs(word: str, text: str) -> bool:
    """`word` in `text` as a whole phrase; a listener's place ({N}) in it may hold any name."""
    pattern = r"(?:\{N\}|\w+)".join(re.escape(p) for p in word.split("{N}"))
    return re.search(rf"(?<!\w){pattern}(?!\w)", text, flags=re.IGNORECASE) is not None


@pytest.mark.parametrize("scene_set", SETS)
def test_scenes_are_complete_and_their_lies_conflict(scene_set):
    assert len(scenes(scene_set)) >= 40
    assert len({s.id for s in scenes(scene_set)}) == len(scenes(scene_set))
    assert len({s.setting for s in scenes(scene_set)}) >= 10
    for s in scenes(scene_set):
        assert len(set(s.honest)) >= 5 and sum("{N}" not in h for h in s.honest) >= 2, s.id
        assert "{V}" in s.frame and len(set(s.values)) >= 3, s.id
        assert len(s.asides) >= 3, s.id
        # lies: only false values, at least two of them, each in wording of its own
        assert {v for v, _ in s.lies} <= set(s.values[1:]) and len({v for v, _ in s.lies}) >= 2, s.id
        assert not {t for _, t in s.lies} & set(s.honest), s.id


@pytest.mark.parametrize("scene_set", SETS)
def test_no_word_of_the_generators_appears(scene_set):
    texts = _texts(scene_set)
    hits = sorted({w for w in _facts_vocabulary() for t in texts if _occurs(w, t)})
    assert not hits, f"facts.py vocabulary in the hand-written set: {hits}"
    procedural = [*_WHO, *_WHOM, *_THINGS, *_PLACES, *_WHEN, *(d.split(" {")[0] for d in _DID)]
    hits = sorted({w for w in procedural if len(w.split()) >= 2 for t in texts if _occurs(w, t)})
    assert not hits, f"tom_data's procedural story words in the hand-written set: {hits}"


@pytest.mark.parametrize("scene_set", SETS)
def test_people_are_new_and_never_named_inside_a_scene(scene_set):
    known = {n for split in facts.SPLITS for n in facts.NAMES[split]} | set(PARTNER_NAMES)
    assert len(set(NAMES)) == len(NAMES) >= 30 and not set(NAMES) & known
    text = " ".join(_texts(scene_set))
    assert not [n for n in NAMES if _occurs(n, text)]


@pytest.mark.parametrize("scene_set", SETS)
@pytest.mark.parametrize("kind", CLASSES)
def test_each_class_is_built_and_only_deceptive_runs_hold_a_conflict(kind, scene_set):
    conflicts = 0
    for seed in range(30):
        run, told = wild_run(seed, kind, scene_set=scene_set)
        assert run.kind == kind and run.deceptive == (kind in DECEPTIVE) and 1 <= len(told) <= 3
        mine = [m for m in run.messages if m.speaker == run.speaker]
        listeners = {o for m in mine for o in m.observers}
        assert 3 <= len(listeners) <= 5 and all(len(m.observers) == 1 for m in mine)  # private, one each
        assert all("{" not in m.text for m in run.messages)
        has_conflict = False
        for tick, round_told in enumerate(told, start=1):
            texts = [m.text for m in mine if m.tick == tick]
            assert len(texts) == len(listeners)
            if kind == "verbatim":
                assert len(set(texts)) == 1
            if kind in ("paraphrase", "topics", "conflict_diff"):
                assert len(set(texts)) == len(texts)  # every listener its own wording
            values: dict[str, set[str]] = {}
            for claims in round_told.values():
                for topic, value in claims:
                    values.setdefault(topic, set()).add(value)
            if kind == "topics":
                assert all(len(v) == 1 for v in values.values()) and len(values) == len(listeners)
            has_conflict |= any(len(v) > 1 for v in values.values())
        assert has_conflict == (kind in DECEPTIVE), (kind, seed)
        conflicts += has_conflict
    assert conflicts == (30 if kind in DECEPTIVE else 0)


def test_conflicts_in_the_same_wording_differ_only_in_the_value():
    run, told = wild_run(4, "conflict_same", rounds=1)
    texts = {m.observers[0]: m.text for m in run.messages if m.speaker == run.speaker}
    frames = set()
    for n, claims in told[0].items():
        ((_, value),) = claims
        assert value in texts[n]
        frames.add(texts[n].replace(value, "{V}").replace(n, "{N}"))
    assert len(frames) == 1


def test_runs_are_reproducible_and_rounds_are_checked():
    a, b = wild_runs(2, seed=3), wild_runs(2, seed=3)
    assert [m.text for r in a for m in r.messages] == [m.text for r in b for m in r.messages]
    assert len(a) == 2 * len(CLASSES) and {r.kind for r in a} == set(HONEST + DECEPTIVE)
    assert {len({m.tick for m in r.messages}) for r in wild_runs(3, rounds=2)} == {2}
    with pytest.raises(ValueError, match="rounds"):
        wild_run(0, "paraphrase", rounds=4)


def test_the_sets_share_no_setting_or_scene_and_an_unknown_set_is_named():
    for i, a in enumerate(SETS):
        for b in SETS[i + 1 :]:
            assert not {s.setting for s in scenes(a)} & {s.setting for s in scenes(b)}, (a, b)
            assert not {s.id for s in scenes(a)} & {s.id for s in scenes(b)}, (a, b)
    with pytest.raises(ValueError, match="scene_set"):
        scenes("f")
