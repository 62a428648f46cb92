"""Contrast sets for duplicity: facts (subject, attribute, value) told to several listeners, in many wordings.

Duplicity must track *what* a speaker claims to different listeners, not *how* it says it. A run here
is one speaker telling 3-5 listeners, in private, one or more facts per round, in one of these ways:

honest
- `verbatim`    every listener gets the same fact in the same words;
- `paraphrase`  the same fact, in each listener's own wording (register, length, address, opener,
                word order, filler), i.e. honest tailoring;
- `topics`      each listener hears a different true fact (another subject or attribute): a topic
                shift between listeners is not a conflict;
- `partial`     the same fact, but some listeners also get a second true fact and some get only part.
deceptive
- `conflict_same`  conflicting values of one attribute, in the same template (only the value differs);
- `conflict_diff`  conflicting values, each listener in its own wording.

A deceptive run lies in a share of its rounds (the others are honest paraphrase), so a detector has
to find the conflicting rounds. A *consistent* liar (one false value told to everyone) is not
duplicity and looks exactly like `paraphrase` to any read-out that compares listeners: it is not a
class here, and nothing built on these sets can see it.

Every vocabulary comes in three disjoint splits (`train`, `val`, `test`): listener and speaker names,
subjects, attributes with their values, claim templates, and the surface around a claim (openers,
addresses, closers, filler). `make_runs(..., names=, templates=, topics=)` draws each part from its
own split, so an evaluation can shift one kind of vocabulary at a time (unseen names, unseen
templates, unseen topics) or all of them.
"""

from __future__ import annotations

import random
import re

from sociallm.agents.tom_data import NAN, Message, RunData
from sociallm.environments.facts import (
    Fact,
    Vocab,
    claim,
    random_fact,
    realise,
    vocab,
)

HONEST = ("verbatim", "paraphrase", "topics", "partial")
DECEPTIVE = ("conflict_same", "conflict_diff")
CLASSES = HONEST + DECEPTIVE


def _fact(rng: random.Random, v: Vocab, world: dict[tuple[str, str], str], avoid=None) -> Fact:
    """A fact of this run's world: a topic told twice keeps its value, so honest speakers never contradict
    themselves across rounds (a fresh random value per round would make an honest run self-contradictory)."""
    f = random_fact(rng, v, avoid=avoid)
    return Fact(f.subject, f.attribute, world.setdefault(f.topic, f.value))


def _round(
    rng: random.Random, v: Vocab, kind: str, listeners: list[str], world: dict[tuple[str, str], str] | None = None
) -> tuple[dict[str, str], bool]:
    """(listener -> message) of one round of `kind`, and whether the round holds a conflict."""
    world = {} if world is None else world
    fact = _fact(rng, v, world)
    if kind == "verbatim":
        text = realise(rng, v, "", [claim(rng, v, fact)])
        return dict.fromkeys(listeners, text), False
    if kind == "paraphrase":
        return {n: realise(rng, v, n, [claim(rng, v, fact)]) for n in listeners}, False
    if kind == "topics":
        used: set[tuple[str, str]] = set()
        out = {}
        for n in listeners:
            f = _fact(rng, v, world, avoid=used)
            used.add(f.topic)
            out[n] = realise(rng, v, n, [claim(rng, v, f)])
        return out, False
    if kind == "partial":
        extra = _fact(rng, v, world, avoid={fact.topic})
        out = {}
        for n in listeners:
            claims = [claim(rng, v, fact)]
            r = rng.random()
            if r < 0.4:
                claims.append(claim(rng, v, extra))
            elif r < 0.6:
                claims = [claim(rng, v, extra)]  # told only the other part
            out[n] = realise(rng, v, n, claims)
        return out, False
    values = v.attributes[fact.attribute]
    order = rng.sample(values, len(values))
    told = {n: order[i % len(order)] for i, n in enumerate(listeners)}
    if len(set(told.values())) < 2:
        told[listeners[-1]] = order[1]
    if kind == "conflict_same":
        template = rng.choice(v.templates)
        style = {
            "opener": rng.choice(v.openers),
            "closer": rng.choice(v.closers),
            "filler": rng.choice([None, *v.filler]),
            "casual": None,
            "filler_first": False,
        }
        return {
            n: realise(rng, v, n, [claim(rng, v, Fact(fact.subject, fact.attribute, told[n]), template)], style)
            for n in listeners
        }, True
    if kind == "conflict_diff":
        return {
            n: realise(rng, v, n, [claim(rng, v, Fact(fact.subject, fact.attribute, told[n]))]) for n in listeners
        }, True
    raise ValueError(f"kind: unknown class {kind!r}; use one of {', '.join(CLASSES)}")


def make_run(
    seed: int, kind: str, v: Vocab, rounds: int = 6, lie_rate: float = 0.5, name: str | None = None
) -> RunData:
    """One speaker and 3-5 listeners; a deceptive run lies in about `lie_rate` of its rounds (at least one)."""
    rng = random.Random(f"{seed}|{kind}")
    people = rng.sample(v.names, rng.randint(4, 6))
    speaker, listeners = people[0], people[1:]
    deceptive = kind in DECEPTIVE
    lies = [rng.random() < lie_rate for _ in range(rounds)] if deceptive else [False] * rounds
    if deceptive and not any(lies):
        lies[rng.randrange(rounds)] = True
    run = RunData(name or f"{kind}-{seed}", speaker=speaker, deceptive=deceptive, kind=kind)
    world: dict[tuple[str, str], str] = {}
    for tick in range(1, rounds + 1):
        this = kind if not deceptive or lies[tick - 1] else "paraphrase"
        said, _ = _round(rng, v, this, listeners, world)
        for n in listeners:
            run.messages.append(Message(speaker, [n], said[n], tick, (NAN, NAN, NAN)))
        if rng.random() < 0.3:  # a listener answers in public: the speaker is not the only voice
            who = rng.choice(listeners)
            run.messages.append(
                Message(who, [p for p in people if p != who], realise(rng, v, "", []), tick, (NAN,) * 3)
            )
    return run


def make_runs(
    per_class: int,
    names: str = "train",
    templates: str = "train",
    topics: str = "train",
    classes: tuple[str, ...] = CLASSES,
    seed: int = 0,
    rounds: int = 6,
) -> list[RunData]:
    v = vocab(names, templates, topics)
    return [
        make_run(seed * 100_003 + i, kind, v, rounds, name=f"{kind}-{names[:2]}{templates[:2]}{topics[:2]}-{i}")
        for kind in classes
        for i in range(per_class)
    ]


def role_examples(
    rng: random.Random, n: int, names: str = "train", templates: str = "train", topics: str = "train"
) -> list[tuple[str, list[tuple[int, int, int]]]]:
    """Messages with the character spans that spell their facts, for the claim read-out's role labels:
    (text, [(start, end, role)]) with role 1 for a subject or attribute, 2 for a value; everything else
    (names, openers, templates' own words, filler) is surface. A third of the messages carry two facts."""
    v = vocab(names, templates, topics)
    out = []
    for _ in range(n):
        facts = [random_fact(rng, v)]
        if rng.random() < 0.33:
            facts.append(random_fact(rng, v, avoid={facts[0].topic}))
        text = realise(rng, v, rng.choice(v.names), [claim(rng, v, f) for f in facts])
        low = text.lower()
        spans = []
        for f in facts:
            for part, role in ((f.subject, 1), (f.attribute, 1), (f.value, 2)):
                spans += [(m.start(), m.end(), role) for m in re.finditer(re.escape(part.lower()), low)]
        out.append((text, spans))
    return out
