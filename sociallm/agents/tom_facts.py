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
from dataclasses import dataclass

from sociallm.agents.tom_data import NAN, Message, RunData

SPLITS = ("train", "val", "test")
HONEST = ("verbatim", "paraphrase", "topics", "partial")
DECEPTIVE = ("conflict_same", "conflict_diff")
CLASSES = HONEST + DECEPTIVE

NAMES = {
    "train": "Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy Rupert Sybil "
    "Trent Victor Walter Yusuf Zara Aaron Bella Cyrus Dora Ezra Fiona Gus Hana Igor".split(),
    "val": "Kemal Lotte Mirko Nadia Oskar Priya Quentin Rosa Soren Tamsin Ulla Vikram Wanda Xiomara "
    "Yannick Zelda Anouk Bruno Chiara Dmitri".split(),
    "test": "Amara Benedikt Cosima Dariusz Eluned Faisal Ginevra Hamish Ingrid Jovan Kaito Leonie Marisol "
    "Nnamdi Orla Pavlos Ruairi Saoirse Tobias Uzma Valentin Wilhelmina Ximena Yevgenia".split(),
}

# Subjects: things a village, a firm or a household talks about.
SUBJECTS = {
    "train": [
        "the old bridge",
        "the bakery",
        "the ferry",
        "the town hall",
        "the new school",
        "the harbour crane",
        "the library",
        "the mill",
        "the north road",
        "the chapel roof",
        "the market stall",
        "the fishing boat",
        "the orchard",
        "the water tower",
        "the inn",
        "the village fair",
    ],
    "val": [
        "the railway station",
        "the museum",
        "the clinic",
        "the brewery",
        "the lighthouse",
        "the town square",
        "the warehouse",
        "the swimming pool",
        "the observatory",
        "the tram line",
    ],
    "test": [
        "the cathedral",
        "the shipyard",
        "the football stadium",
        "the botanical garden",
        "the courthouse",
        "the cable car",
        "the vineyard",
        "the power plant",
        "the zoo",
        "the concert hall",
        "the airport",
        "the quarry",
    ],
}

# attribute -> values; within a split no value word belongs to two attributes, and no attribute or
# value word appears in two splits.
ATTRIBUTES = {
    "train": {
        "colour": ["red", "blue", "green", "yellow", "white", "black"],
        "opening day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
        "owner": ["the baker", "the mayor", "the miller", "the widow", "the blacksmith", "the priest"],
        "price": ["ten coins", "forty coins", "a hundred coins", "two silver pieces", "one gold piece"],
        "building material": ["oak", "granite", "brick", "iron", "pine", "marble"],
        "season of the repairs": ["spring", "summer", "autumn", "winter"],
        "distance from the village": ["a short walk", "two miles", "half a day's ride", "across the valley"],
        "smell": ["fresh bread", "wet dogs", "smoke", "roses", "fish"],
        "guard dog": ["a huge mastiff", "a tiny terrier", "an old sheepdog", "no dog at all"],
        "roof": ["thatch", "slate", "copper", "tin", "clay tiles"],
        "number of windows": ["three windows", "seven windows", "twenty windows", "a single window"],
        "cook": ["a sailor from the south", "the twins", "the miller's wife", "a hired man"],
    },
    "val": {
        "manager": ["a retired captain", "the schoolmaster", "a young engineer", "the notary", "the vet"],
        "closing hour": ["noon", "five o'clock", "midnight", "dawn", "eight in the evening"],
        "number of staff": ["two people", "a dozen people", "thirty people", "nobody at all"],
        "sponsor": ["the bank", "the church", "the council", "a rich merchant", "the railway company"],
    },
    "test": {
        "architect": ["a famous Dutchman", "a local woman", "the duke's nephew", "an unknown student", "a monk"],
        "year of completion": ["1820", "1955", "1990", "2004", "2021"],
        "main visitors": ["tourists", "children", "pensioners", "sailors", "students"],
        "current state": ["falling apart", "freshly renovated", "closed for good", "busier than ever", "for sale"],
        "entrance fee": ["free", "five euros", "twenty euros", "a donation", "a yearly pass"],
    },
}

# Claim templates: {S} subject, {A} attribute, {V} value; each says "the A of S is V".
TEMPLATES = {
    "train": [
        "the {A} of {S} is {V}",
        "{S} has {V} as its {A}",
        "{V} is the {A} of {S}",
        "as for {S}, its {A} is {V}",
        "I checked {S}: the {A} is {V}",
        "everyone agrees the {A} of {S} is {V}",
        "{S}? Its {A} is {V}",
        "you should know that {S} has {V} as {A}",
        "about {S}: {A} {V}",
        "so the {A} at {S} is {V} now",
    ],
    "val": [
        "when it comes to {S}, the {A} turns out to be {V}",
        "regarding {S}, I can confirm the {A}: {V}",
        "{V}, that is the {A} of {S}",
        "the {A} for {S}? It is {V}",
    ],
    "test": [
        "I looked into {S} and its {A} is {V}",
        "believe it or not, {S} has {V} for its {A}",
        "the answer about {S} and its {A} is {V}",
        "{S} -- {A}: {V}, I am sure of it",
        "what I know of {S} is that its {A} is {V}",
    ],
}

# Train templates also come behind hedges (only in train: more wordings of one claim to learn from).
HEDGES = ["I heard that", "rumour has it", "apparently", "word is", "they tell me", "it seems"]
TEMPLATES["train"] = TEMPLATES["train"] + [f"{h} {t}" for h in HEDGES for t in TEMPLATES["train"][:6]]

# Surface around a claim: openers and addresses ({N}: the listener), closers, filler (no facts).
OPENERS = {
    "train": ["{N}, listen.", "Hello {N}!", "Good morning, {N}.", "{N}, quick news:", "Hi {N},", ""],
    "val": ["Greetings, {N}.", "{N}, a word with you:", "Hey there {N}!", ""],
    "test": ["Dear {N},", "{N}, got a minute?", "Evening, {N}.", "Ah, {N}, there you are.", ""],
}
CLOSERS = {
    "train": ["Take care.", "See you soon.", "That is all for now.", "Talk later!", ""],
    "val": ["Best wishes.", "Until tomorrow.", "Bye for now.", ""],
    "test": ["Cheers.", "Speak soon, friend.", "Keep well.", "Regards.", ""],
}
FILLER = {
    "train": [
        "I thought you would want to know.",
        "I heard it this morning.",
        "It came up while we were talking.",
        "Make of it what you will.",
    ],
    "val": ["Someone mentioned it to me earlier.", "Just so you are informed.", "I noted it down yesterday."],
    "test": [
        "I wanted to pass that along.",
        "You asked me about it last week.",
        "It seemed worth telling you.",
        "I only found out an hour ago.",
    ],
}
CASUAL = {"train": ["so yeah,", "honestly,"], "val": ["well,", "basically,"], "test": ["look,", "you know,"]}


@dataclass(frozen=True)
class Fact:
    subject: str
    attribute: str
    value: str

    @property
    def topic(self) -> tuple[str, str]:
        return (self.subject, self.attribute)


@dataclass
class Vocab:
    names: list[str]
    subjects: list[str]
    attributes: dict[str, list[str]]
    templates: list[str]
    openers: list[str]
    closers: list[str]
    filler: list[str]
    casual: list[str]


def vocab(names: str = "train", templates: str = "train", topics: str = "train") -> Vocab:
    """Vocabulary drawn per part: names, templates (with all surface), topics (subjects, attributes, values)."""
    for part, split in (("names", names), ("templates", templates), ("topics", topics)):
        if split not in SPLITS:
            raise ValueError(f"{part}: unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return Vocab(
        NAMES[names],
        SUBJECTS[topics],
        ATTRIBUTES[topics],
        TEMPLATES[templates],
        OPENERS[templates],
        CLOSERS[templates],
        FILLER[templates],
        CASUAL[templates],
    )


def random_fact(rng: random.Random, v: Vocab, avoid: set[tuple[str, str]] | None = None) -> Fact:
    while True:
        s, a = rng.choice(v.subjects), rng.choice(sorted(v.attributes))
        if not avoid or (s, a) not in avoid:
            return Fact(s, a, rng.choice(v.attributes[a]))


def claim(rng: random.Random, v: Vocab, fact: Fact, template: str | None = None) -> str:
    return (template or rng.choice(v.templates)).format(S=fact.subject, A=fact.attribute, V=fact.value)


def realise(rng: random.Random, v: Vocab, listener: str, claims: list[str], style: dict | None = None) -> str:
    """One message to one listener around its claims; `style` fixes the surface (verbatim / same-template)."""
    st = style or {
        "opener": rng.choice(v.openers),
        "closer": rng.choice(v.closers),
        "filler": rng.choice([None, *v.filler]),
        "casual": rng.choice([None, *v.casual]),
        "filler_first": rng.random() < 0.5,
    }
    body = []
    for c in claims:
        text = f"{st['casual']} {c}" if st["casual"] else c
        body.append(text[0].upper() + text[1:] + ".")
    if st["filler"]:
        body = [st["filler"], *body] if st["filler_first"] else [*body, st["filler"]]
    opener = st["opener"] if listener or "{N}" not in st["opener"] else ""
    parts = [opener.format(N=listener), *body, st["closer"]]
    return " ".join(p for p in parts if p)


def _round(rng: random.Random, v: Vocab, kind: str, listeners: list[str]) -> tuple[dict[str, str], bool]:
    """(listener -> message) of one round of `kind`, and whether the round holds a conflict."""
    fact = random_fact(rng, v)
    if kind == "verbatim":
        text = realise(rng, v, "", [claim(rng, v, fact)])
        return dict.fromkeys(listeners, text), False
    if kind == "paraphrase":
        return {n: realise(rng, v, n, [claim(rng, v, fact)]) for n in listeners}, False
    if kind == "topics":
        used: set[tuple[str, str]] = set()
        out = {}
        for n in listeners:
            f = random_fact(rng, v, avoid=used)
            used.add(f.topic)
            out[n] = realise(rng, v, n, [claim(rng, v, f)])
        return out, False
    if kind == "partial":
        extra = random_fact(rng, v, avoid={fact.topic})
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
    for tick in range(1, rounds + 1):
        this = kind if not deceptive or lies[tick - 1] else "paraphrase"
        said, _ = _round(rng, v, this, listeners)
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


def claim_examples(
    rng: random.Random, facts: int, names: str = "train", templates: str = "train", topics: str = "train"
) -> tuple[list[str], list[tuple[str, str]], list[Fact]]:
    """Texts with their topic and fact, for the claim read-out: each fact in several wordings (one of
    them in a template it shares with a conflicting version), next to a conflicting value of it."""
    v = vocab(names, templates, topics)
    texts: list[str] = []
    facts_of: list[Fact] = []
    for _ in range(facts):
        f = random_fact(rng, v)
        other = Fact(f.subject, f.attribute, rng.choice([x for x in v.attributes[f.attribute] if x != f.value]))
        shared = rng.choice(v.templates)
        for g in (f, f, other):
            for t in (None, None, shared):
                texts.append(realise(rng, v, rng.choice(v.names), [claim(rng, v, g, t)]))
                facts_of.append(g)
    return texts, [g.topic for g in facts_of], facts_of
