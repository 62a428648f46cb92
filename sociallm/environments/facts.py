"""Facts (subject, attribute, value) and the words to tell them in, in three disjoint vocabularies.

Scenario data: the `briefing` game draws its briefs from here, and the theory-of-mind contrast sets
(`sociallm.agents.tom_facts`) build their runs from it. Every vocabulary comes in three disjoint splits
(`train`, `val`, `test`): listener and speaker names, subjects, attributes with their values, claim
templates, and the surface around a claim (openers, addresses, closers, filler).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SPLITS = ("train", "val", "test")

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
