"""Typed values in free text: honest speakers reword a value ("9:45" / "quarter to ten"), liars change it ("half ten").

`read_values` gives each value expression *every* plausible reading (an hour without am/pm is morning and evening,
"03/06" is day-first and month-first, a colloquial "two-forty" is 240 and 2.40) and `agree` calls two values the same
when their readings meet: a false conflict brands an honest speaker a liar, so ambiguity is kept, not resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple


@dataclass(frozen=True)
class Value:
    start: int
    end: int
    kind: str  # "time" | "date" | "weekday" | "money" | "quantity" | "number"
    readings: frozenset
    unit: str | None = None


_Got = tuple[Value, int]  # a value and the index of the token after it


class _T(NamedTuple):
    kind: str
    low: str
    start: int
    end: int
    raw: str


_TOK = re.compile(
    r"(?P<iso>\d{4}-\d{1,2}-\d{1,2})(?!\d)|(?P<slash>\d{1,2}/\d{1,2}(?:/\d{2,4})?)(?![\d/])"
    r"|(?P<clock>\d{1,2}:\d{2})(?!\d)|(?P<ord>\d+(?:st|nd|rd|th))(?![A-Za-z])"
    r"|(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)|(?P<ampm>[ap]\.m\.?)"
    r"|(?P<word>[A-Za-z]+(?:['’][A-Za-z]+)?)|(?P<sym>\S)",
    re.I,
)
# word lists, one `name: words` line each, kept as data beside the rules that use them
_WORDS_FILE = Path(__file__).parent / "tom_values_words.txt"
_LISTS = {k: v.split() for k, v in re.findall(r"^(\w+):(.*)$", _WORDS_FILE.read_text(encoding="utf-8"), re.M)}
_enum = lambda name, per=1, step=1, first=0: {w: first + step * (i // per) for i, w in enumerate(_LISTS[name])}  # noqa: E731
_SMALL, _TENS, _ORD = _enum("small"), _enum("tens", step=10, first=20), _enum("ord", first=1)
_ORD_TENS = _enum("ordtens", step=10, first=20)
_SCALE = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_MONTHS = _enum("months", per=2, first=1) | {"sept": 9}
_DAYS = _enum("days", per=3) | {"thur": 3}
_CURRENCY = dict(zip(_LISTS["currency"], "$£€¥$$$$£££€€¥", strict=True))
_CENTS = {"cent": "$", "cents": "$", "pence": "£", "p": "£", "penny": "£"}
# surface -> (normalised unit, factor into it); durations go to minutes so "2 hours" meets "120 minutes"
_UNITS = {s: (u, int(f)) for part in " ".join(_LISTS["units"]).split("|") for u, f, *ss in [part.split()] for s in ss}
# units that meet across a scale in `agree` ("1.5 km" / "1500 m"); the rest compare only within their own unit
_BASE = {u: (b, float(f)) for u, b, f in zip(*[iter(_LISTS["base"])] * 3, strict=True)}
# nouns that name a numbered place or item, so "floor five" and "5th floor" are one value
_LABELS = set(_LISTS["labels"])
# words after a number that are not what it counts, so "3 of them" / "at 7 tonight" stay bare
_STOP, _ONE_NOT, _MONEY_CUE, _MONTH_CTX, _NOT_ONE_BEFORE, _TIME_PREP, _DATE_CTX, _PM = (
    set(_LISTS[k]) for k in ("stop", "onenot", "moneycue", "monthctx", "notonebefore", "timeprep", "datectx", "pm")
)
_DATE_CTX |= set(_DAYS)
_NOT_NOUN = set(_SMALL) | set(_TENS) | set(_SCALE) | set(_MONTHS) | set(_DAYS) | set(_ORD)
_IRREGULAR = {"people": "person", "children": "child", "men": "man", "women": "woman", "teeth": "tooth"}


def _n(x: float) -> float | int:
    # readings must hash equal across wordings: 2.40 and 240/100 and 2 + 40/100 all become 2.4
    x = round(float(x), 6)
    return int(x) if x.is_integer() else x


def _low(t: list[_T], j: int) -> str:
    return t[j].low if 0 <= j < len(t) else ""


def _val(t: list[_T], i: int, e: int, kind: str, readings: set | frozenset, unit: str | None = None) -> _Got:
    return Value(t[i].start, t[e - 1].end, kind, frozenset(readings), unit), e


def _words(t: list[_T], i: int) -> tuple[float, int, bool] | None:
    """Cardinal or ordinal number words from t[i]: (value, end, ordinal)."""
    # `prev` is the size of the last part (1 units, 10 tens, 100 a scale word, 1000 nothing yet): parts must shrink
    # ("forty two"), so "two forty" stops after "two" and is left to the colloquial-price and clock rules
    j, total, cur, prev = i, 0.0, 0.0, 1000
    if _low(t, i) in ("a", "an") and _low(t, i + 1) in (*_SCALE, "dozen"):
        j, cur, prev = i + 1, 1, 1
    while j < len(t):
        w, nxt = t[j].low, _low(t, j + 1)
        if ((w == "-" and prev == 10) or (w == "and" and prev == 100)) and any(nxt in d for d in (_SMALL, _TENS, _ORD)):
            j += 1
            continue
        v = _SMALL.get(w, _ORD.get(w, _TENS.get(w, _ORD_TENS.get(w))))
        if v is not None:
            size = 10 if w in _TENS or w in _ORD_TENS else 1
            if size >= prev:
                break
            cur, prev = cur + v, size
            if w in _ORD or w in _ORD_TENS:
                return total + cur, j + 1, True
        elif (w in _SCALE or w == "dozen") and prev < 1000:
            big = w not in ("hundred", "dozen")  # "three hundred thousand": a big scale closes the group before it
            total, cur, prev = (
                total + big * (cur or 1) * _SCALE.get(w, 1),
                (not big) * (cur or 1) * _SCALE.get(w, 12),
                100,
            )
        else:
            break
        j += 1
    half = (_low(t, j), _low(t, j + 1), _low(t, j + 2)) == ("and", "a", "half")
    return (total + cur + 0.5 * half, j + 3 * half, False) if prev < 1000 else None


def _number(t: list[_T], i: int) -> tuple[float, int, bool, bool] | None:
    """A number at t[i]: (value, end, ordinal, spelled in words)."""
    tk = t[i] if i < len(t) else _T("", "", 0, 0, "")
    if tk.kind == "ord":
        return int(tk.low[:-2]), i + 1, True, False
    if tk.kind == "num":
        v, j = float(tk.low.replace(",", "")), i + 1
        if _low(t, j) == "k" and t[j].start == tk.end:
            v, j = v * 1000, j + 1
        elif _low(t, j) in ("thousand", "million", "billion"):
            v, j = v * _SCALE[t[j].low], j + 1
        return v, j, False, False
    got = _words(t, i) if tk.kind == "word" else None
    return (*got, True) if got else None


def _time(t: list[_T], i: int, j: int, h: int, m: int, zero_lead: bool = False) -> _Got | None:
    """A clock time h:m spelled over t[i:j], with its o'clock/am/pm tail and an evening/morning cue after it."""
    if not (0 <= h <= 24 and 0 <= m < 60):
        return None
    j += _low(t, j) in ("o'clock", "oclock")
    mer = _low(t, j).replace(".", "")
    if mer in ("am", "pm"):
        j, r = j + 1, {(h % 12 + 12 * (mer == "pm")) * 60 + m}
    elif zero_lead or h == 0 or h > 12:
        r = {(h % 24) * 60 + m}  # "19:00", "09:45": the clock already says which half of the day
    else:
        r = {(h % 12) * 60 + m, (h % 12 + 12) * 60 + m}
    after = {_low(t, j + d) for d in range(3)}
    cued = {x for x in r if x >= 720} if after & _PM else {x for x in r if x < 720} if "morning" in after else r
    return _val(t, i, j, "time", cued or r)


def _month(t: list[_T], i: int) -> tuple[int, int] | None:
    w = _low(t, i)
    if w not in _MONTHS or (w in ("may", "march", "mar") and not t[i].raw[0].isupper()):
        return None  # "may" and "march" are verbs unless written as names
    return _MONTHS[w], i + 1 + (_low(t, i + 1) == "." and len(w) <= 4)


def _year(t: list[_T], j: int) -> tuple[int | None, int]:
    k = j + (_low(t, j) == ",")
    return (int(t[k].low), k + 1) if re.fullmatch(r"(?:19|20)\d\d", _low(t, k)) else (None, j)


def _day(t: list[_T], i: int) -> tuple[int, int, bool] | None:
    got = _number(t, i)
    if not got or (got[3] and not got[2]) or "." in t[i].low:
        return None  # a day is digits ("3", "3rd") or an ordinal word ("third"), never "three"
    return (int(got[0]), got[1], got[2]) if 1 <= got[0] <= 31 else None


def _date(t: list[_T], i: int) -> _Got | None:
    tk, ymd = t[i], lambda y, m, d: (y, m, d) if 1 <= m <= 12 and 1 <= d <= 31 else None
    if tk.kind == "iso":
        r = ymd(*map(int, tk.low.split("-")))
        return _val(t, i, i + 1, "date", {r}) if r else None
    if tk.kind == "slash":  # "03/06" is 3 June in Britain and 6 March in the US: keep both
        a, b, *c = map(int, tk.low.split("/"))
        y = (c[0] + 2000 if c[0] < 100 else c[0]) if c else None
        rs = {r for r in (ymd(y, b, a), ymd(y, a, b)) if r}
        return _val(t, i, i + 1, "date", rs) if rs else None
    k = i + (tk.low == "the")
    if day := _day(t, k):
        d, j, ordinal = day
        if mo := _month(t, j + (_low(t, j) == "of")):
            y, e = _year(t, mo[1])
            return _val(t, i, e, "date", {(y, mo[0], d)})
        if ordinal and _low(t, i - 1) in _DATE_CTX and (k > i or t[k].kind == "ord"):
            return _val(t, i, j, "date", {(None, None, d)})  # "on the 14th": a day of some month
        return None
    if not (mo := _month(t, i)):
        return None
    m, j = mo
    day = _day(t, j + (_low(t, j) == "the"))
    if day and not (day[0] <= 12 and _low(t, day[1]) in ("am", "pm", "o'clock")):
        y, e = _year(t, day[1])
        return _val(t, i, e, "date", {(y, m, day[0])})
    y, e = _year(t, j)
    if y or (_low(t, i - 1) in _MONTH_CTX and (tk.raw[0].isupper() or len(tk.low) > 3)):
        return _val(t, i, e, "date", {(y, m, None)})
    return None


def _weekday(t: list[_T], i: int) -> _Got | None:
    tk = t[i]
    w = tk.low.removesuffix("'s")  # "Sunday's match"
    w = w[:-1] if w.endswith("days") else w
    if w not in _DAYS:
        return None
    dot = _low(t, i + 1) == "." and t[i + 1].start == tk.end
    # abbreviations are also words ("sat", "sun", "wed"): take them only when written like a day
    cued = dot or _low(t, i - 1) in ("on", "next", "this", "last", "by", "until", "till", "from", "every")
    if (not w.endswith("day") and not (dot or tk.raw[0].isupper())) or (w in ("sat", "sun", "wed", "mon") and not cued):
        return None
    return _val(t, i, i + 1 + dot, "weekday", {_DAYS[w]})


def _word_time(t: list[_T], i: int) -> _Got | None:
    w = t[i].low
    hour = lambda j: (int(g[0]), g[1]) if (g := _number(t, j)) and not g[2] and g[0] in range(1, 13) else None  # noqa: E731
    if w in ("noon", "midday", "midnight"):
        return _val(t, i, i + 1, "time", {0 if w == "midnight" else 720})
    k = i + (w == "a" and _low(t, i + 1) == "quarter")
    mw, got = _low(t, k), _number(t, k)
    if mw in ("quarter", "half"):
        mins, j = (15 if mw == "quarter" else 30), k + 1
    elif got and not got[2] and got[0] in range(1, 30):
        mins, j = int(got[0]), got[1] + (_low(t, got[1]) in ("minutes", "mins", "min"))
        if not got[3] and j == got[1]:
            return None  # "3 to 5" is a range; digits count minutes only when they say so
    else:
        return None
    rel = _low(t, j)
    if mw == "half" and rel not in ("past", "after"):
        hr = hour(j)  # British "half ten" = 10:30
        if not hr or _low(t, hr[1]) in _UNITS or _low(t, hr[1]) in _CURRENCY:
            return None
        return _time(t, i, hr[1], hr[0], 30)
    if rel not in ("past", "after", "to", "of") or not (hr := hour(j + 1)):
        return None
    h, e = hr
    if rel in ("to", "of"):
        # "five to six" is also a range; take it as a time only when it cannot be an ascending one
        cue = _low(t, e) in ("o'clock", "am", "pm", "a.m.", "p.m.") or _low(t, i - 1) in _TIME_PREP
        if mw == "half" or _low(t, i - 1) in ("from", "between") or not (mw == "quarter" or mins > h or cue):
            return None
        h, mins = (h - 2) % 12 + 1, 60 - mins
    return _time(t, i, e, h, mins)


def _money_symbol(t: list[_T], i: int) -> _Got | None:
    cur = _CURRENCY.get(t[i].raw) if t[i].kind == "sym" else None
    if not cur or _low(t, i + 1)[:1].isdigit() is False or not (got := _number(t, i + 1)):
        return None
    v, j = got[0], got[1]
    return _val(t, i, j, "money", {_n(v)}, cur)


def _label(t: list[_T], i: int) -> _Got | None:
    if t[i].low not in _LABELS or _low(t, i + 1) in ("one", "a") or not (got := _number(t, i + 1)) or got[2]:
        return None
    r, j = _n(got[0]), got[1]
    if _low(t, j) == "-" and t[j - 1].kind == "num" and _low(t, j + 1).isdigit():
        r, j = (r, int(t[j + 1].low)), j + 2
    return _val(t, i, j, "quantity", {r}, _lemma(t[i].low))


def _lemma(w: str) -> str:
    if w in _IRREGULAR or w.endswith(("ss", "us", "is")):
        return _IRREGULAR.get(w, w)
    return w[:-3] + "y" if w.endswith("ies") and len(w) > 4 else re.sub(r"(?:(?<=sh|ch|ss)|(?<=[xz]))es$|s$", "", w)


def _noun(t: list[_T], j: int) -> str | None:
    w = _low(t, j)
    if j >= len(t) or t[j].kind != "word" or len(w) < 2 or "'" in w or w in _STOP or w.endswith("ly"):
        return None
    return None if w in _NOT_NOUN or (len(w) > 4 and w.endswith("ed")) else _lemma(w)


def _quantity(t: list[_T], i: int, j: int, v: float | tuple) -> _Got | None:
    """The unit after a number ending at t[j-1], if any, as a quantity over t[i:]."""
    w, nxt = _low(t, j), _low(t, j + 1)
    if w == "per" and nxt == "cent":
        return _val(t, i, j + 2, "quantity", {v}, "%")
    if w in ("°", "degrees", "degree"):
        e = j + 1 + (nxt in ("c", "f", "celsius", "centigrade", "fahrenheit"))
        return _val(t, i, e, "quantity", {v}, "°f" if nxt in ("f", "fahrenheit") else "°c")
    if w not in _UNITS:
        return None
    unit, f = _UNITS[w]
    if isinstance(v, tuple):
        return _val(t, i, j + 1, "quantity", {tuple(_n(x * f) for x in v)}, unit)
    v, e = v * f, j + 1
    if (_low(t, e), _low(t, e + 1), _low(t, e + 2)) == ("and", "a", "half"):
        v, e = v + f / 2, e + 3
    return _val(t, i, e, "quantity", {_n(v)}, unit)


def _numeric(t: list[_T], i: int, out: list[Value]) -> _Got | None:
    tk, w, nxt = t[i], t[i].low, _low(t, i + 1)
    if tk.kind == "clock":
        h, m = map(int, w.split(":"))
        return _time(t, i, i + 1, h, m, w.startswith("0"))
    if w == "a" and nxt == "grand":
        return _val(t, i, i + 2, "money", {1000})
    if w == "a" and nxt == "couple":
        j = i + 2 + (_low(t, i + 2) == "of")
        return _quantity(t, i, j, 2) or (_val(t, i, j + 1, "quantity", {2}, n) if (n := _noun(t, j)) else None)
    if w == "half" and nxt in ("a", "an") and _low(t, i + 2) in _UNITS:
        return _quantity(t, i, i + 2, 0.5)
    if w in ("a", "an") and nxt in ("hour", "litre", "liter", "kilo", "mile", "kilometre", "kilometer", "metre"):
        return _quantity(t, i, i + 1, 1)
    k = i + (w == "the" and (_low(t, i + 1)[-2:] in ("st", "nd", "rd", "th") or _ORD.get(nxt, 0) >= 3))
    if not (got := _number(t, k) if k > i or w != "the" else None):
        return None
    v, j, ordinal, spelled = got
    only_one = spelled and j == k + 1 and t[k].low == "one"
    if only_one and (_low(t, k - 1) in _NOT_ONE_BEFORE or _low(t, j) in _ONE_NOT):
        return None  # "no one", "that one", "one day": pronoun uses of "one"
    if not ordinal and (got := _cardinal(t, i, k, j, v, spelled, out)):
        return got
    if (n := _noun(t, j)) and (not ordinal or n in _LABELS):
        return _val(t, i, j + 1, "quantity", {_n(v)}, n)
    if only_one or (ordinal and spelled and v < 3):
        return None  # "first" and "second" are mostly not numbers
    return _val(t, i, j, "number", {_n(v)})


def _cardinal(t: list[_T], i: int, k: int, j: int, v: float, spelled: bool, out: list[Value]) -> _Got | None:
    """What a cardinal over t[k:j] (its value expression starting at t[i]) counts: money, units, a clock, a pair."""
    nw, w = _low(t, j), t[k].low
    if nw in _CURRENCY or (nw in _CENTS and (nw != "p" or t[j].start == t[j - 1].end)):
        if nw in _CENTS:
            return _val(t, i, j + 1, "money", {_n(v / 100)}, _CENTS[nw])
        c = _number(t, j + 1) if nw in ("pounds", "dollars", "euros") else None  # "3 pounds 50"
        if c and not c[2] and c[0] in range(100) and _low(t, c[1]) not in _UNITS and not _noun(t, c[1]):
            return _val(t, i, c[1] + (_low(t, c[1]) in _CENTS), "money", {_n(v + c[0] / 100)}, _CURRENCY[nw])
        return _val(t, i, j + 1, "money", {_n(v)}, _CURRENCY[nw])
    if nw == "grand":
        return _val(t, i, j + 1, "money", {_n(v * 1000)})
    if q := _quantity(t, i, j, _n(v)):
        return q
    after_time = bool(out) and i > 1 and out[-1].kind == "time" and out[-1].end == t[i - 2].end  # "from 7 to 9"
    timed = (_low(t, i - 1) in _TIME_PREP or (after_time and _low(t, i - 1) in ("to", "and", "-"))) and not _noun(t, j)
    if nw in ("o'clock", "oclock", "am", "pm", "a.m.", "p.m.", "a.m") or timed:
        if t[k].kind == "num" and "." in w and len(w.split(".")[1]) == 2:  # "at 9.45"
            return _time(t, i, j, *map(int, w.split(".")))
        if v == int(v) and v <= 24 and not (spelled and w == "one" and _low(t, i - 1) == "by"):
            h = j + (_low(t, j) in ("-", "oh"))  # "seven thirty", "seven-forty", "seven oh five"
            minute_word = h > j or _low(t, j) in _TENS or _SMALL.get(_low(t, j), 0) >= 10
            mins = _number(t, h) if spelled and 1 <= v <= 12 and minute_word else None
            if mins and mins[3] and not mins[2] and mins[0] in range(1 if _low(t, j) == "oh" else 10, 60):
                return _time(t, i, mins[1], int(v), int(mins[0]))
            return _time(t, i, j, int(v), 0)
    back = [x.low for x in t[max(i - 3, 0) : i]]  # a price cue in this sentence, at most three words back
    money = any(x in _MONEY_CUE for x in back[max((b + 1 for b, x in enumerate(back) if x in ".?!;"), default=0) :])
    h = j + (nw == "-")
    c = _number(t, h) if v in range(1, 20) and _low(t, h) in _TENS and (money or h > j) else None
    if c and not c[2]:  # colloquial "two-forty": 240 or 2.40, a price only where the sentence speaks of one
        return _val(t, i, c[1], "money" if money else "number", {_n(v * 100 + c[0]), _n(v + c[0] / 100)})
    if money:
        return _val(t, i, j, "money", {_n(v)})
    if t[k].kind == "num" and nw in ("-", "–", "to") and _low(t, j + 1).isdigit() and t[j + 1].kind == "num":
        pair = (_n(v), int(t[j + 1].low))  # a score or a range, in the order written
        return _quantity(t, i, j + 2, pair) or _val(t, i, j + 2, "number", {pair})
    return None


def read_values(text: str) -> list[Value]:
    """Every value expression in `text`, non-overlapping, left to right."""
    found = _TOK.finditer(text)
    t = [_T(m.lastgroup or "sym", m.group().lower().replace("’", "'"), m.start(), m.end(), m.group()) for m in found]
    out, i = [], 0
    while i < len(t):
        got = _date(t, i) or _weekday(t, i) or _word_time(t, i) or _money_symbol(t, i) or _label(t, i)
        if got := got or _numeric(t, i, out):
            out.append(got[0])
        i = max(got[1], i + 1) if got else i + 1
    return out


def _scaled(v: Value) -> tuple[str | None, frozenset]:
    base, f = _BASE.get(v.unit or "", (v.unit, 1))
    scale = lambda r: tuple(_n(x * f) for x in r) if isinstance(r, tuple) else _n(r * f)  # noqa: E731
    return base, frozenset(map(scale, v.readings)) if f != 1 else v.readings


def agree(a: Value, b: Value) -> bool | None:
    """True: the same value; False: the same kind, a different value; None: not comparable."""
    if a.kind != b.kind:
        return None
    if a.kind == "date":
        # a missing year, month or day is a wildcard: "the 14th" meets "14 June"
        ra, rb = a.readings, b.readings
        return any(all(x in (None, y) or y is None for x, y in zip(p, q, strict=True)) for p in ra for q in rb)
    (ua, ra), (ub, rb) = _scaled(a), _scaled(b)
    if ua != ub and not (a.kind == "money" and (ua is None or ub is None)):
        return None  # a money amount said without its currency fits any currency
    if any(isinstance(r, tuple) for r in ra) != any(isinstance(r, tuple) for r in rb):
        return None  # a score or range against a single number is another kind of claim
    return bool(ra & rb)
