"""Turn a `Constraint` into the request-body fields a given server dialect understands.

Dialects:
- "llamacpp": llama.cpp's server (and xllamacpp, the embedded default). Takes a GBNF `grammar` or a
  `json_schema`; it has no regex field and silently ignores unknown ones, so regex is refused here
  rather than failing open.
- "vllm": constraints go in one nested `structured_outputs` object (`choice`, `regex`, `json`,
  `grammar`). That object appeared in vLLM 0.10.2, which deprecated the old top-level
  `guided_choice` / `guided_regex` / `guided_json` / `guided_grammar`; 0.12.0 removed those. vLLM accepts
  unknown fields without error, so sending the old names to 0.12+ gives unconstrained output with
  HTTP 200. We target 0.12+ (the CPU build noted in FIELD_NOTES is 0.32) and send only the new form.
- "openai": a generic OpenAI-compatible API. Only JSON schema on chat, through `response_format`.

Choice and number constraints let the answer start with one optional space: a base model continuing
"Bob:" puts its probability on tokens that carry their leading space (" yes", " 42"), and forbidding
that space pushes it onto rarer tokens. Callers strip the text (the OpenAI-compatible client does).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal

from sociallm.backbone.base import (
    ChoiceConstraint,
    JsonSchemaConstraint,
    NumberConstraint,
    RegexConstraint,
    SuffixChoiceConstraint,
)

Dialect = Literal["llamacpp", "vllm", "openai"]
DIALECTS: tuple[str, ...] = ("llamacpp", "vllm", "openai")

AnyConstraint = ChoiceConstraint | NumberConstraint | JsonSchemaConstraint | RegexConstraint | SuffixChoiceConstraint


def request_fields(
    constraint: AnyConstraint | None, dialect: str, *, chat: bool = False, compact_json: bool = True
) -> dict[str, Any]:
    """The extra body fields that make a server obey `constraint` (empty when there is none).

    `compact_json` (llama.cpp only) asks the server's llguidance backend for JSON without free
    whitespace: a small base model otherwise tends to emit newlines and spaces until max_tokens.
    Raises ValueError when the dialect cannot express the constraint, so nothing fails open.
    """
    if constraint is None:
        return {}
    build = _BY_DIALECT.get(dialect)
    if build is None:
        raise ValueError(f"unknown server dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    return build(constraint, compact_json=compact_json, chat=chat)


def _llamacpp(constraint: AnyConstraint, *, compact_json: bool, chat: bool) -> dict[str, Any]:
    if isinstance(constraint, ChoiceConstraint):
        return {"grammar": choice_grammar(constraint.options)}
    if isinstance(constraint, NumberConstraint):
        return {"grammar": number_grammar(constraint)}
    if isinstance(constraint, SuffixChoiceConstraint):
        return {"grammar": suffix_choice_grammar(constraint)}
    if isinstance(constraint, JsonSchemaConstraint):
        schema = constraint.json_schema
        if compact_json and "x-guidance" not in schema:
            # llguidance's schema extension; llama.cpp builds without llguidance ignore unknown keys.
            schema = {**schema, "x-guidance": {"whitespace_flexible": False}}
        return {"json_schema": schema}
    raise ValueError("regex constraints are not supported by llama.cpp servers; use choice, number or json_schema")


def _vllm(constraint: AnyConstraint, **_: bool) -> dict[str, Any]:
    if isinstance(constraint, ChoiceConstraint):
        return {"structured_outputs": {"choice": list(constraint.options)}}
    if isinstance(constraint, NumberConstraint):
        return {"structured_outputs": {"regex": number_regex(constraint)}}
    if isinstance(constraint, SuffixChoiceConstraint):
        return {"structured_outputs": {"regex": suffix_choice_regex(constraint)}}
    if isinstance(constraint, JsonSchemaConstraint):
        return {"structured_outputs": {"json": constraint.json_schema}}
    return {"structured_outputs": {"regex": constraint.pattern}}


def _openai(constraint: AnyConstraint, *, chat: bool, **_: bool) -> dict[str, Any]:
    if isinstance(constraint, JsonSchemaConstraint):
        if not chat:
            raise ValueError(
                "generic OpenAI-compatible servers accept json_schema only on chat requests "
                "(response_format); send messages instead of a prompt"
            )
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": constraint.json_schema},
            }
        }
    raise ValueError(
        f"{constraint.kind} constraints are not supported by generic OpenAI-compatible servers "
        "(only json_schema on chat); use a llama.cpp or vLLM server, or pass the dialect explicitly"
    )


# Each dialect's constraint fields (backbone/dialects.py holds the rest of what a dialect accepts).
_BY_DIALECT = {"llamacpp": _llamacpp, "vllm": _vllm, "openai": _openai}


# ---- GBNF -------------------------------------------------------------------------------------------

_GBNF_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def gbnf_literal(text: str) -> str:
    """`text` as a quoted GBNF string literal."""
    out = []
    for ch in text:
        if ch in _GBNF_ESCAPES:
            out.append(_GBNF_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def choice_grammar(options: list[str]) -> str:
    alternatives = " | ".join(gbnf_literal(o) for o in dict.fromkeys(options))
    return f'root ::= " "? ({alternatives})'


def suffix_choice_grammar(constraint: SuffixChoiceConstraint) -> str:
    """GBNF: text without a closing character or a newline, then one closing character, the lead, an
    option, the end. Once the root is complete llama.cpp allows only end-of-text, so the label ends it."""
    closing = "".join(_class_char(c) for c in dict.fromkeys(constraint.close))
    banned = "".join(_class_char(c) for c in dict.fromkeys(constraint.close + "\n\r"))
    options = " | ".join(gbnf_literal(o) for o in dict.fromkeys(constraint.options))
    end = f" {gbnf_literal(constraint.end)}" if constraint.end else ""
    lead = gbnf_literal(constraint.lead)
    return f"root ::= text [{closing}] {lead} ({options}){end}\ntext ::= [^{banned}]+"


def _class_char(ch: str) -> str:
    # Every character of a GBNF class as a code escape: no quoting rules to get wrong inside [...].
    code = ord(ch)
    return f"\\x{code:02X}" if code < 0x100 else f"\\u{code:04X}" if code < 0x10000 else f"\\U{code:08X}"


def _regex_literal(text: str) -> str:
    # Only the metacharacters: re.escape also escapes spaces, which not every server's regex engine reads.
    return "".join("\\" + ch if ch in _REGEX_META else ch for ch in text)


_REGEX_META = set(".^$*+?{}[]\\|()")
_REGEX_CLASS = {"\n": "\\n", "\r": "\\r", "\\": "\\\\", "]": "\\]", "^": "\\^", "-": "\\-"}


def suffix_choice_regex(constraint: SuffixChoiceConstraint) -> str:
    """The same language as `suffix_choice_grammar`, as a regex (for vLLM's structured_outputs)."""
    closing = "".join(_REGEX_CLASS.get(c, c) for c in dict.fromkeys(constraint.close))
    banned = "".join(_REGEX_CLASS.get(c, c) for c in dict.fromkeys(constraint.close + "\n\r"))
    options = "|".join(_regex_literal(o) for o in dict.fromkeys(constraint.options))
    return f"[^{banned}]+[{closing}]{_regex_literal(constraint.lead)}({options}){_regex_literal(constraint.end)}"


# ---- numbers ----------------------------------------------------------------------------------------
# The number language is built once as alternatives of atoms and rendered both as GBNF (llama.cpp) and
# as a regex (vLLM), so the two dialects accept exactly the same strings. Magnitudes are bounded
# digit by digit (the usual "prefix, smaller digit, anything after" decomposition), which keeps values
# under `max` (and above `min` when it is negative) at grammar level; a positive `min` is not
# enforceable this way and is left to `parse_number`'s clamp.

_MAX_BOUND = Decimal(10**15 - 1)  # beyond float precision a digit bound means nothing


@dataclass(frozen=True)
class _Atom:
    text: str = ""  # a literal, or "" for a digit class
    lo: int = 0
    hi: int = 9
    optional: bool = False


def _lit(text: str) -> _Atom:
    return _Atom(text=text)


def _digit(lo: int = 0, hi: int = 9, optional: bool = False) -> _Atom:
    return _Atom(lo=lo, hi=hi, optional=optional)


def _fixed_at_most(t: str, first_lo: int = 0) -> list[list[_Atom]]:
    """Strings of exactly len(t) digits, first digit ≥ first_lo, whose value is ≤ int(t)."""
    alts: list[list[_Atom]] = []
    for i, ch in enumerate(t):
        lo = first_lo if i == 0 else 0
        if int(ch) - 1 >= lo:
            prefix = [_lit(t[:i])] if i else []
            alts.append([*prefix, _digit(lo, int(ch) - 1), *[_digit()] * (len(t) - i - 1)])
    return [*alts, [_lit(t)]]


def _integers_below(s: str) -> list[list[_Atom]]:
    """Integers without leading zeros whose value is < int(s)."""
    if len(s) == 1:
        return _fixed_at_most(s)[:-1]
    shorter = [[_lit("0")], [_digit(1, 9), *[_digit(optional=True)] * (len(s) - 2)]]
    return shorter + _fixed_at_most(s, first_lo=1)[:-1]


def _magnitudes(bound: float, decimals: int) -> list[list[_Atom]]:
    """Unsigned numbers with exactly `decimals` decimals whose value is ≤ bound."""
    scaled = min(Decimal(repr(abs(bound))), _MAX_BOUND).scaleb(decimals).to_integral_value(ROUND_FLOOR)
    whole, frac = divmod(int(scaled), 10**decimals)
    if not decimals:
        return [*_integers_below(str(whole)), [_lit(str(whole))]]
    any_decimals = [_lit("."), *[_digit()] * decimals]
    below = [[*alt, *any_decimals] for alt in _integers_below(str(whole))]
    at_whole = [[_lit(f"{whole}."), *alt] for alt in _fixed_at_most(str(frac).zfill(decimals))]
    return below + at_whole


def _number_parts(constraint: NumberConstraint) -> tuple[list[list[_Atom]] | None, list[list[_Atom]] | None]:
    """(non-negative alternatives, negative magnitudes); either may be None."""
    bound = float(constraint.max) if math.isfinite(constraint.max) else float(_MAX_BOUND)
    positive = _magnitudes(bound, constraint.decimals) if constraint.max >= 0 else None
    low = float(constraint.min) if math.isfinite(constraint.min) else -float(_MAX_BOUND)
    negative = _magnitudes(-low, constraint.decimals) if constraint.min < 0 else None
    return positive, negative


def _gbnf_atom(atom: _Atom) -> str:
    if atom.text:
        return gbnf_literal(atom.text)
    body = str(atom.lo) if atom.lo == atom.hi else f"[{atom.lo}-{atom.hi}]"
    body = gbnf_literal(body) if atom.lo == atom.hi else body
    return body + ("?" if atom.optional else "")


def _regex_atom(atom: _Atom) -> str:
    if atom.text:
        return re.escape(atom.text)
    body = str(atom.lo) if atom.lo == atom.hi else f"[{atom.lo}-{atom.hi}]"
    return body + ("?" if atom.optional else "")


def number_grammar(constraint: NumberConstraint) -> str:
    """GBNF: one optional space, a sign only if min < 0, no leading zeros, exactly `decimals` decimals.

    Uses `?` and plain alternation only (no `{m,n}`) so older llama.cpp builds parse it too.
    """
    positive, negative = _number_parts(constraint)

    def rule(alts: list[list[_Atom]]) -> str:
        return " | ".join(" ".join(_gbnf_atom(a) for a in alt) for alt in alts)

    rules, top = [], []
    if positive is not None:
        rules.append(f"pos ::= {rule(positive)}")
        top.append("pos")
    if negative is not None:
        rules.append(f"neg ::= {rule(negative)}")
        top.append('"-" neg')
    return "\n".join([f'root ::= " "? ({" | ".join(top)})', *rules])


def number_regex(constraint: NumberConstraint) -> str:
    """The same language as `number_grammar`, as a regex (for vLLM's structured_outputs)."""
    positive, negative = _number_parts(constraint)

    def group(alts: list[list[_Atom]]) -> str:
        return "(" + "|".join("".join(_regex_atom(a) for a in alt) for alt in alts) + ")"

    top = []
    if positive is not None:
        top.append(group(positive))
    if negative is not None:
        top.append("-" + group(negative))
    return " ?(" + "|".join(top) + ")"


# ---- reading numbers back ---------------------------------------------------------------------------

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")


def parse_number(text: str, constraint: NumberConstraint) -> tuple[float, bool]:
    """The first number in `text`, rounded to the constraint's decimals and clamped into [min, max].

    Returns (value, repaired): repaired is True when the value had to be clamped or rounded, or the
    text held more than the number (surrounding whitespace does not count). Grammars cannot bound a
    range, so clamping here is expected and the flag lets callers record it.
    Raises ValueError when the text holds no number at all.
    """
    stripped = text.strip()
    match = _NUMBER.search(stripped)
    if match is None:
        raise ValueError(f"no number found in {text!r}")
    raw = float(match.group())
    repaired = match.group() != stripped
    value = round(raw, constraint.decimals)
    if value != raw:
        repaired = True
    clamped = min(max(value, constraint.min), constraint.max)
    if clamped != value:
        repaired = True
    return clamped, repaired
