"""Facts (subject, attribute, value) and the words to tell them in, in three disjoint vocabularies.

Scenario data: the `briefing` game draws its briefs from here, and the theory-of-mind contrast sets
(`sociallm.agents.tom_facts`) build their runs from it. Every vocabulary comes in three disjoint splits
(`train`, `val`, `test`): listener and speaker names, subjects, attributes with their values, claim
templates, and the surface around a claim (openers, addresses, closers, filler).

`train` is the large one (over a hundred subjects of fifteen kinds, from office and school to health,
money and weather; eighty attributes; fifty claim wordings and many chat openers, closers and asides),
so a read-out trained on it meets a value in many slots and learns the slot, not the words. Its
attributes name the kinds of subject they fit (`FITS`). `val` and `test` are small and left as they
were, so held-out figures stay comparable across versions.
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

# Train subjects come in kinds, and each train attribute names the kinds it reads well with: "the
# kit colour of the tax return" is not a fact anyone would tell. Val and test subjects take every
# attribute of their split (kept as they were, so earlier figures stay comparable).
SUBJECT_KINDS = {
    "event": [
        "the quarterly review",
        "the budget meeting",
        "the office party",
        "the parents' meeting",
        "the family reunion",
        "the baby's christening",
        "Dad's retirement do",
        "the wedding rehearsal",
        "the book club",
        "the yoga class",
        "the awards night",
        "the science fair",
        "the village fair",
    ],
    "contest": [
        "the chess tournament",
        "the bake-off",
        "the raffle",
        "the spelling bee",
        "the darts final",
        "the fun run",
        "the sack race",
    ],
    "appointment": [
        "Grandma's surgery",
        "the dentist appointment",
        "Dad's eye test",
        "the physio session",
        "the puppy's check-up",
        "Mum's hearing test",
    ],
    "trip": [
        "the ferry crossing",
        "the city break",
        "our holiday",
        "the ski trip",
        "the day out",
        "the hen do",
        "the geography field trip",
    ],
    "document": [
        "the grant proposal",
        "the tax return",
        "the lab write-up",
        "the pitch deck",
        "the contract draft",
        "the newsletter",
    ],
    "device": [
        "the new printer",
        "the office laptop",
        "the lab microscope",
        "the projector",
        "the chest freezer",
        "the wifi router",
        "the dishwasher",
    ],
    "item": [
        "the new sofa",
        "the dining table",
        "the bike shed",
        "the kitchen worktop",
        "the bookcase",
        "the patio bench",
    ],
    "vehicle": [
        "the school minibus",
        "the delivery van",
        "the family estate",
        "the tractor",
        "the pickup truck",
        "Mum's hatchback",
    ],
    "venue": [
        "the bakery",
        "the corner shop",
        "the gym",
        "the pharmacy",
        "the post office",
        "the barbershop",
        "the library",
        "the launderette",
        "the inn",
    ],
    "team": [
        "the relay team",
        "the under-12 squad",
        "the netball squad",
        "the cricket club",
        "the rowing crew",
        "the water polo team",
        "the hockey squad",
    ],
    "dish": [
        "the birthday dinner",
        "the Thai curry",
        "the picnic",
        "the wedding menu",
        "the school dinner",
        "the takeaway",
        "the soup",
    ],
    "bill": [
        "the electricity bill",
        "the phone contract",
        "the insurance premium",
        "the gas bill",
        "the tuition",
    ],
    "loan": [
        "the mortgage",
        "the loan repayment",
        "the credit card",
        "the overdraft",
        "the business loan",
    ],
    "forecast": [
        "the shipping forecast",
        "the weekend forecast",
        "the coastal forecast",
        "the ski conditions",
        "the mountain outlook",
    ],
    "study": [
        "the soil analysis",
        "the lab experiment",
        "the clinical trial",
        "the bird survey",
        "the water testing",
        "the vaccine study",
        "the pollen study",
    ],
    "person": [
        "the new hire",
        "the substitute teacher",
        "the babysitter",
        "the electrician",
        "the guest speaker",
        "the maths tutor",
        "the temp",
    ],
}

# attribute -> (kinds of subject it fits, values). Values of one attribute exclude each other; no
# value word (beyond "the", "of", ...) belongs to two attributes, or to a subject, attribute, name or the
# surface around claims, so the words that carry a value are only ever values.
_TRAIN_ATTRIBUTES: dict[str, tuple[tuple[str, ...], list[str]]] = {
    # when
    "start time": (
        ("event", "contest", "appointment", "study"),
        ["half past nine", "just gone eleven", "eleven sharp", "quarter past twelve", "a quarter to nine"],
    ),
    "date": (
        ("event", "contest", "appointment", "trip"),
        ["the 3rd of May", "June 14th", "the 21st of March", "October 28th", "the 1st of December"],
    ),
    "duration": (
        ("event", "appointment", "trip", "study"),
        ["forty minutes", "ninety minutes", "the whole afternoon", "most of the morning", "about six hours"],
    ),
    "departure time": (("trip",), ["06:40", "07:15", "13:05", "17:50", "22:30"]),
    "opening time": (("venue",), ["7am", "8.30am", "9am", "10am", "11.30am"]),
    "arrival time": (("person",), ["elevenses", "lunchtime", "teatime", "once the traffic clears", "sunrise"]),
    "due date": (("bill", "loan"), ["payday", "the 17th", "the 26th", "Easter", "the 25th"]),
    "start date": (
        ("person",),
        ["after the equinox", "the week after next", "straight away", "in the autumn term", "September"],
    ),
    # where
    "location": (
        ("device",),
        ["the mezzanine", "the kitchenette", "reception", "the storage cupboard", "the basement"],
    ),
    "address": (("venue",), ["Mill Lane", "Juniper Row", "Kingsway", "Bridge Street", "Orchard Road"]),
    "parking spot": (("vehicle",), ["round the side", "the multi-storey", "on the verge", "a friend's drive"]),
    "hometown": (("person",), ["Cardiff", "Glasgow", "Carlisle", "Lagos", "rural Kent"]),
    # who
    "owner": (
        ("venue",),
        ["the freeholder", "a couple from Leeds", "a pair of brothers", "a chain from London", "the Patels"],
    ),
    "person in charge": (("device",), ["the caretaker", "tech support", "accounts", "the technician", "HR"]),
    "author": (
        ("document",),
        ["the intern", "Professor Hale", "the junior analyst", "our auditor", "the comms officer"],
    ),
    "reviewer": (
        ("document",),
        ["the auditors", "the external examiner", "the trustees", "the chief executive", "the ethics committee"],
    ),
    "skipper": (("team",), ["the goalkeeper", "the tallest lad", "Big Tony", "a left-hander", "the star striker"]),
    "trainer": (("team",), ["Mr Castellanos", "a former pro", "a parent volunteer", "Mr Greaves", "vacant"]),
    "driver": (("trip",), ["Cousin Raj", "a chauffeur", "whoever is sober", "Grandpa", "a taxi firm"]),
    "cook": (("dish",), ["Auntie Rose", "the porter", "Chef Marco", "the scouts", "the lodger"]),
    "lead researcher": (
        ("study",),
        ["a postdoc from Oslo", "Mbeki and co", "the PhD candidate", "an undergrad", "a visiting fellow"],
    ),
    "payer": (("bill", "loan"), ["my folks", "my flatmate", "the tenants", "the insurer", "the employer"]),
    # how much, how many
    "price": (("device", "item", "vehicle"), ["£12", "£49.99", "£250", "£1,200", "pocket money"]),
    "cost per head": (("event", "trip"), ["£8", "£27", "£30", "a token sum", "£65"]),
    "entry price": (("contest",), ["£2", "£3.50", "£20", "a quid a ticket"]),
    "amount": (("bill", "loan"), ["$740", "$1,150", "$86.40", "$2,300", "$19"]),
    "interest rate": (("loan",), ["2.5 percent", "4.1 percent", "8.9 percent", "7.25 percent"]),
    "day rate": (("person",), ["£145", "£140", "£400", "mates' rates"]),
    "headcount": (("event",), ["about 15", "nearly 60", "well over 100", "roughly 250"]),
    "turnout": (("contest",), ["about 40", "over 200", "sixty-odd", "a handful", "just 13"]),
    "sample size": (("study",), ["48 mice", "120 volunteers", "6 plots", "several hundred readings"]),
    "length": (("document",), ["16 pages", "about 80 pages", "a page", "2,000 words", "a paragraph"]),
    "weight": (("device", "item"), ["4 kilos", "11 kilos", "38 kilos", "under a kilo"]),
    "mileage": (("vehicle",), ["under 20,000", "about 85,000", "barely any", "over 150,000"]),
    "quantity": (("dish",), ["enough for a crowd", "10 portions", "a single bowl", "plenty of seconds"]),
    "warranty": (("device",), ["eighteen months", "24 months", "expired", "lifetime cover", "three years"]),
    "age": (
        ("device", "vehicle"),
        ["ancient", "a decade old", "secondhand", "unopened", "a few weeks old"],
    ),
    "league position": (("team",), ["sixth", "rock bottom", "ninth", "fourth", "joint third"]),
    "last result": (("team",), ["a 3-1 win", "a 0-0 draw", "a 2-5 thrashing", "a narrow loss", "a walkover"]),
    # what, which, in what state
    "status": (
        ("event", "contest", "appointment", "trip"),
        ["going ahead", "scrapped", "postponed", "moved online", "fully booked"],
    ),
    "opening status": (
        ("venue",),
        ["open on Sundays too", "shut for refurbishment", "open late", "shut indefinitely", "cash only"],
    ),
    "condition": (("device", "item", "vehicle"), ["tip-top", "kaput", "jammed again", "in for repair", "mint"]),
    "verdict": (
        ("document",),
        ["approved", "rejected", "returned for changes", "still pending", "approved with tweaks"],
    ),
    "payment status": (("bill", "loan"), ["paid", "overdue", "in dispute", "waived", "split into instalments"]),
    "colour": (("device", "item", "vehicle"), ["charcoal", "silver", "cream", "navy", "beige"]),
    "kit colour": (("team",), ["maroon", "teal", "orange", "lime green", "purple"]),
    "material": (("item",), ["oak", "steel", "wicker", "leather", "bamboo"]),
    "brand": (("device",), ["Brother", "Epson", "Bosch", "Samsung", "Miele"]),
    "fuel": (("vehicle",), ["diesel", "biodiesel", "electric", "hybrid", "LPG"]),
    "format": (("document",), ["a PDF", "a poster", "a spreadsheet", "a printed booklet", "a Google doc"]),
    "version": (("document",), ["v2", "v7", "v11", "the redlined copy", "the clean copy"]),
    "dress code": (("event",), ["black tie", "fancy costumes", "smart casual", "comfy clothes", "white linen"]),
    "catering": (("event",), ["pizza", "a buffet", "finger food", "a hog roast", "crisps and dips"]),
    "theme": (("event", "contest"), ["the eighties", "pirates", "Hollywood", "a masquerade", "the jungle"]),
    "thing to bring": (
        ("event", "appointment", "trip"),
        ["photo ID", "a packed lunch", "a waterproof", "some spare socks", "sunscreen"],
    ),
    "transport": (("trip",), ["a coach", "the overnight train", "a rented camper", "bikes", "a hovercraft"]),
    "luggage allowance": (("trip",), ["a backpack", "a carry-on", "whatever fits in the boot", "23kg"]),
    "key ingredient": (("dish",), ["lamb", "chickpeas", "salmon", "mushrooms", "tofu"]),
    "spice level": (("dish",), ["mild", "medium", "very hot", "nuclear", "barely warm"]),
    "dietary label": (("dish",), ["vegan", "halal", "kosher", "vegetarian", "low-carb"]),
    "temperature": (("forecast",), ["minus 8", "14 degrees", "31 degrees", "just above freezing", "around zero"]),
    "chance of rain": (("forecast",), ["slim", "fifty-fifty", "near certain", "showers likely", "nil"]),
    "sky": (("forecast",), ["misty", "overcast", "foggy", "hazy", "patchy cloud"]),
    "visibility": (("forecast",), ["poor", "excellent", "50 metres at best", "murky"]),
    "equipment": (("study",), ["a mass spectrometer", "a borrowed drone", "pH strips", "a centrifuge"]),
    "mother tongue": (("person",), ["Polish", "Welsh", "Spanish", "Tamil", "Portuguese"]),
}


# Subjects: things a village, a firm or a household talks about.
SUBJECTS = {
    "train": [s for kind in SUBJECT_KINDS.values() for s in kind],
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

# attribute -> values; within a split no value belongs to two attributes, and no attribute or value
# appears in two splits (train's subject, attribute and value words appear in no other split at all).
ATTRIBUTES = {
    "train": {a: values for a, (_, values) in _TRAIN_ATTRIBUTES.items()},
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

# attribute -> the subjects it reads well with; a split without an entry lets any attribute go with
# any subject.
FITS = {
    "train": {a: [s for kind in kinds for s in SUBJECT_KINDS[kind]] for a, (kinds, _) in _TRAIN_ATTRIBUTES.items()},
}

# Claim templates: {S} subject, {A} attribute, {V} value; each says "the A of S is V".
# Train claims: no pronoun for the subject ("its" does not fit "the plumber"), value first, last and
# in the middle; statements, questions, clefts, passives, notes and chat shorthand.
_CLAIMS = [
    "the {A} of {S} is {V}",
    "{S}'s {A} is {V}",
    "{V} is the {A} for {S}",
    "{V} has been confirmed as the {A} for {S}",
    "the {A} listed for {S} is {V}",
    "the {A} we've got for {S} is {V}",
    "{V} -- that's the {A} for {S}",
    "the {A} for {S}? {V}",
    "what's the {A} for {S}? {V}",
    "it's {V}, the {A} for {S}",
    "just confirmed the {A} for {S}: {V}",
    "re {S}, the {A} is {V}",
    "on {S}: the {A} is {V}",
    "about {S}: {A} {V}",
    "it's {V} that's listed as the {A} for {S}",
    "{S}, {A}: {V}",
    "quick one on {S}, the {A} is {V}",
    "did you hear the {A} for {S} is {V}?",
    "did anyone tell you {S}'s {A} is {V}?",
    "you know the {A} for {S}? it's {V}",
    "for {S} the {A} is {V}, just so you have it",
    "the {A} of {S}, in case you wondered, is {V}",
    "as far as {S} goes, the {A} is {V}",
    "they've put {V} down as the {A} for {S}",
    "the sheet says {V} for the {A} of {S}",
    "according to the email, the {A} for {S} is {V}",
    "the group chat says {S}'s {A} is {V}",
    "{S}'s {A}: {V}",
    "{A} for {S} = {V}",
    "{S} update: {A} is {V}",
    "the {A}? for {S} it's {V}",
    "ok so {S}'s {A} ended up being {V}",
    "the {A} of {S} -- {V}, last I checked",
    "{V} for the {A} of {S}, last I heard",
    "can confirm {S}'s {A} is {V}",
    "I'm told the {A} for {S} is {V}",
    "if you're asking about the {A} of {S}, it's {V}",
    "{V}, if you're wondering about {S}'s {A}",
    "no change on {S}, the {A} is {V}",
    "{S}: {V} is the {A}",
    "heads-up that the {A} for {S} is {V}",
    "just so you're in the loop, {S}'s {A} is {V}",
    "{S}? the {A} is {V}",
    "{V} is what's listed as the {A} for {S}",
    "is the {A} for {S} {V}? yep, it is",
    "so the {A} for {S} is {V} now",
    "mark down {V} as the {A} for {S}",
    "{S} -- the {A} is {V}, FYI",
    "I double-checked: {S}'s {A} is {V}",
    "I checked {S}: the {A} is {V}",
    "everyone agrees the {A} of {S} is {V}",
]

TEMPLATES = {
    "train": list(_CLAIMS),
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

# Train claims also come behind hedges (only in train: more wordings of one claim to learn from); the
# first claims are plain clauses, so a hedge reads well in front of them.
HEDGES = [
    "I heard that",
    "rumour has it",
    "apparently",
    "word is",
    "they tell me",
    "it seems",
    "from what I gather,",
    "someone said",
    "I'm pretty sure",
    "a little bird told me",
    "supposedly",
]
TEMPLATES["train"] = TEMPLATES["train"] + [f"{h} {t}" for h in HEDGES for t in _CLAIMS[:4]]

# Surface around a claim: openers and addresses ({N}: the listener), closers, filler (no facts).
OPENERS = {
    "train": [
        "{N}, listen.",
        "Hello {N}!",
        "{N}, quick news:",
        "Hi {N},",
        "Yo {N},",
        "{N}, got a sec?",
        "Oi {N},",
        "Psst, {N}.",
        "{N}, news for you:",
        "Ahoy {N},",
        "Listen up,",
        "{N}, you around?",
        "Right {N},",
        "Hey,",
        "Heads up:",
        "Hello!",
        "",
    ],
    "val": ["Greetings, {N}.", "{N}, a word with you:", "Hey there {N}!", ""],
    "test": ["Dear {N},", "{N}, got a minute?", "Evening, {N}.", "Ah, {N}, there you are.", ""],
}
CLOSERS = {
    "train": [
        "Take care.",
        "See you soon.",
        "That is all for now.",
        "Talk later!",
        "Ta!",
        "Catch you later.",
        "Ttyl.",
        "Let me know if you need anything.",
        "Shout if that's a problem.",
        "Speak later.",
        "Byeee",
        "Ping me with questions.",
        ":)",
        "Right, back to work.",
        "Over and out.",
        "",
    ],
    "val": ["Best wishes.", "Until tomorrow.", "Bye for now.", ""],
    "test": ["Cheers.", "Speak soon, friend.", "Keep well.", "Regards.", ""],
}
FILLER = {
    "train": [
        "I thought you would want to know.",
        "It came up while we were talking.",
        "Make of it what you will.",
        "Not sure if anyone told you yet.",
        "Just passing it on.",
        "Don't shoot the messenger.",
        "Saw it on the noticeboard.",
        "It was in the group chat.",
        "Thought I'd flag it.",
        "Might be stale news to you.",
        "Sorry for the short notice.",
        "Sorry if you knew already.",
        "I only just heard myself.",
        "Worth writing down somewhere.",
        "No idea why it took so long to sort out.",
    ],
    "val": ["Someone mentioned it to me earlier.", "Just so you are informed.", "I noted it down yesterday."],
    "test": [
        "I wanted to pass that along.",
        "You asked me about it last week.",
        "It seemed worth telling you.",
        "I only found out an hour ago.",
    ],
}
CASUAL = {
    "train": [
        "so yeah,",
        "honestly,",
        "btw",
        "anyway,",
        "oh and",
        "tbh",
        "fwiw",
        "by the way,",
        "ok,",
        "just so you know,",
        "quick update,",
        "hmm,",
        "welp,",
        "ngl,",
        "so,",
    ],
    "val": ["well,", "basically,"],
    "test": ["look,", "you know,"],
}


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
    fits: dict[str, list[str]] | None = None  # attribute -> subjects it goes with; None: all of them


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
        FITS.get(topics),
    )


def random_fact(rng: random.Random, v: Vocab, avoid: set[tuple[str, str]] | None = None) -> Fact:
    while True:
        if v.fits is None:
            s, a = rng.choice(v.subjects), rng.choice(sorted(v.attributes))
        else:  # the attribute first, so every attribute is as likely whatever its number of subjects
            a = rng.choice(sorted(v.attributes))
            s = rng.choice(v.fits[a])
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
