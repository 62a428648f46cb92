"""What in a message is a typed value, and which of its word pieces are surface: the claim read-out's rules.

Measured on hand-written chat (README, "Theory of mind"): honest speakers reword the *value* ("9:45" /
"quarter to ten", "fifty quid" / "£50") and add side remarks ("queue it up before dinner!"); the
role read-out alone called both conflicts. Here a message's typed values (tom_values.py) are tied
to the word pieces that spell them, so that a claim comparison can

- match the pieces of two values that agree, in whatever words (they are the same value);
- call two values of one kind that disagree, with neither side's value met by the other, a conflict;
- when the two sentences' typed values agree and none disagrees, leave the rest's novelty out: their
  claim is the same, what else differs is elaboration.

Surface pieces that the role read-out cannot know from training: the listeners' names (a vocative
"Agnieszka," is split into pieces it never saw) and function words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from sociallm.agents.tom_values import Value, agree, read_values

_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
FUNCTION_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your yours
    yourself yourselves yes oh hey hi hello ok okay well so just really also still yet""".split()
)


@dataclass(frozen=True)
class Slot:
    """A typed value of a message and the indices of the word pieces that spell it."""

    value: Value
    pieces: tuple[int, ...]

    def encoded(self) -> list[Any]:
        v = self.value
        readings = sorted((list(r) if isinstance(r, tuple) else r for r in v.readings), key=repr)
        return [v.kind, v.unit, readings, v.start, v.end, list(self.pieces)]

    @classmethod
    def decode(cls, raw: list[Any]) -> Slot:
        kind, unit, readings, start, end, pieces = raw
        read = frozenset(tuple(r) if isinstance(r, list) else r for r in readings)
        value = Value(int(start), int(end), str(kind), read, unit)
        return cls(value, tuple(int(p) for p in pieces))


def piece_offsets(text: str, n: int) -> list[tuple[int, int]]:
    """Character span of each of the `n` word pieces of `text` (MiniLM's tokenizer, without [CLS]/[SEP])."""
    from sociallm.backbone.encoders import _minilm_model

    model = _minilm_model()
    enc = model.tokenizer(text, return_offsets_mapping=True, truncation=True, max_length=model.max_seq_length)
    return [tuple(o) for o in enc["offset_mapping"][1:-1][:n]]


@lru_cache(maxsize=8192)
def _values(text: str) -> tuple[Value, ...]:
    return tuple(read_values(text))


def word_spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int, str]]:
    """(start, end, word) of each match of `pattern` in `text`, a typographic apostrophe read as a plain
    one; a possessive or "is" ("order's", "Sunday's") is no part of the word, so its span ends before it."""
    found = pattern.finditer(text.replace("\u2019", "'"))
    return [(m.start(), m.end() - 2 * (m.group()[-2:] == "'s"), m.group().removesuffix("'s")) for m in found]


def pieces_in(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, ...]:
    """Indices of the pieces (character `offsets`) that overlap the span [start, end)."""
    return tuple(k for k, (s, e) in enumerate(offsets) if s < end and e > start)


def slots_of(text: str, offsets: list[tuple[int, int]]) -> list[Slot]:
    """Typed values (tom_values.py) of `text`, each with the pieces (`offsets`) that spell it. A message is
    read by pieces and by words (its plain reading, tom_claims.py): the values are read once."""
    out = []
    for v in _values(text):
        pieces = pieces_in(offsets, v.start, v.end)
        if pieces:
            out.append(Slot(v, pieces))
    return out


def surface_pieces(text: str, offsets: list[tuple[int, int]], names: Iterable[str]) -> torch.Tensor:
    """(n,) bool: pieces of a function word or of a name the message is addressed to."""
    spans = [
        (m.start(), m.end())
        for n in names
        if n
        for m in re.finditer(rf"(?<!\w){re.escape(n)}(?!\w)", text, flags=re.IGNORECASE)
    ]
    spans += [(m.start(), m.end()) for m in _WORD.finditer(text) if m.group().lower() in FUNCTION_WORDS]
    return torch.tensor([any(s < e2 and e > s2 for s2, e2 in spans) for s, e in offsets], dtype=torch.bool)


def _numbers(v: Value) -> set[float]:
    return {r for r in v.readings if isinstance(r, int | float)}


def values_agree(a: Value, b: Value) -> bool | None:
    """`agree`, and a bare number that equals a typed value's number ("10 till 4" / "10:00 to 16:00") or
    spells its clock time as a 24-hour HHMM ("call 1830" / "6:30pm"); a bare number that does not is
    still no conflict with a time (it may be a count or a year)."""
    same = agree(a, b)
    if same is not None:
        return same
    for p, q in ((a, b), (b, a)):
        if p.kind == "number" and p.unit is None and q.kind != "number":
            nums = _numbers(p)
            if q.kind != "time":
                if nums & _numbers(q):
                    return True
                continue
            if any(n * 60 in q.readings or (n + 12) * 60 in q.readings for n in nums):
                return True  # an hour
            clock = [int(n) for n in nums if n == int(n) and 100 <= n <= 2359 and n % 100 < 60]
            if {n // 100 * 60 + n % 100 for n in clock} & q.readings:
                return True  # HHMM
    return None


@dataclass
class SlotCompare:
    """Two sentences' typed values side by side."""

    conflict: bool  # a value of each side disagrees with the other's and agrees with none of them
    agreed: bool  # some values agree and none is in conflict
    matched: list[tuple[tuple[int, ...], tuple[int, ...]]]  # pieces of agreeing values (A's, B's)


def compare_slots(a: list[Slot], b: list[Slot]) -> SlotCompare:
    ok_a, ok_b = [False] * len(a), [False] * len(b)
    bad_a, bad_b = [False] * len(a), [False] * len(b)
    matched = []
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            same = values_agree(x.value, y.value)
            if same:
                ok_a[i] = ok_b[j] = True
                matched.append((x.pieces, y.pieces))
            elif same is False:
                bad_a[i] = bad_b[j] = True
    conflict = any(x and not o for x, o in zip(bad_a, ok_a, strict=True)) and any(
        x and not o for x, o in zip(bad_b, ok_b, strict=True)
    )
    return SlotCompare(conflict, any(ok_a) and not conflict, matched)
