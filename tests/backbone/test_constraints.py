from __future__ import annotations

import re

import pytest

from sociallm.backbone.base import (
    ChoiceConstraint,
    JsonSchemaConstraint,
    NumberConstraint,
    RegexConstraint,
    SuffixChoiceConstraint,
)
from sociallm.backbone.constraints import (
    choice_grammar,
    gbnf_literal,
    number_grammar,
    number_regex,
    parse_number,
    request_fields,
    suffix_choice_grammar,
    suffix_choice_regex,
)

SCHEMA = {"type": "object", "properties": {"mood": {"type": "string"}}, "required": ["mood"]}


# ---- llama.cpp ----------------------------------------------------------------------------------------


def test_gbnf_literal_escapes_quotes_backslashes_and_controls() -> None:
    assert gbnf_literal('say "hi"') == r'"say \"hi\""'
    assert gbnf_literal("a\\b") == r'"a\\b"'
    assert gbnf_literal("x\ny\tz\r") == r'"x\ny\tz\r"'
    assert gbnf_literal("\x01") == r'"\x01"'
    assert gbnf_literal("café") == '"café"'


def test_choice_grammar_is_an_alternation_with_optional_space() -> None:
    assert choice_grammar(["yes", "no", "yes"]) == 'root ::= " "? ("yes" | "no")'


def test_llamacpp_choice_and_number_use_grammar() -> None:
    fields = request_fields(ChoiceConstraint(options=["a", "b"]), "llamacpp")
    assert fields == {"grammar": 'root ::= " "? ("a" | "b")'}
    fields = request_fields(NumberConstraint(min=0, max=100, decimals=2), "llamacpp")
    assert fields["grammar"].startswith('root ::= " "? (pos)')
    assert "pos ::= " in fields["grammar"]


def test_number_grammar_bounds_digits_and_has_no_leading_zero() -> None:
    grammar = number_grammar(NumberConstraint(min=0, max=100, decimals=2))
    assert grammar == ('root ::= " "? (pos)\npos ::= "0" "." [0-9] [0-9] | [1-9] [0-9]? "." [0-9] [0-9] | "100." "00"')
    assert number_grammar(NumberConstraint(min=0, max=7, decimals=0)) == ('root ::= " "? (pos)\npos ::= [0-6] | "7"')


def test_number_grammar_allows_sign_only_when_min_is_negative() -> None:
    assert '"-"' not in number_grammar(NumberConstraint(min=0, max=5))
    grammar = number_grammar(NumberConstraint(min=-5, max=5, decimals=0))
    assert grammar.splitlines()[0] == 'root ::= " "? (pos | "-" neg)'
    only_negative = number_grammar(NumberConstraint(min=-9, max=-1, decimals=0))
    assert only_negative.splitlines()[0] == 'root ::= " "? ("-" neg)'


def test_llamacpp_json_schema_is_compact_by_default() -> None:
    fields = request_fields(JsonSchemaConstraint(json_schema=SCHEMA), "llamacpp")
    assert fields["json_schema"]["properties"] == SCHEMA["properties"]
    assert fields["json_schema"]["x-guidance"] == {"whitespace_flexible": False}
    assert "x-guidance" not in SCHEMA  # the caller's schema is not mutated
    loose = request_fields(JsonSchemaConstraint(json_schema=SCHEMA), "llamacpp", compact_json=False)
    assert loose == {"json_schema": SCHEMA}


def test_llamacpp_refuses_regex() -> None:
    with pytest.raises(ValueError, match=r"not supported by llama\.cpp"):
        request_fields(RegexConstraint(pattern="[a-z]+"), "llamacpp")


FEELING = SuffixChoiceConstraint(close='"\n', lead=" [feeling: ", options=["calm", "angry", "calm"], end="]")


def test_suffix_choice_grammar_lets_text_run_to_a_closing_character_then_forces_the_label() -> None:
    grammar = suffix_choice_grammar(FEELING)
    assert grammar == ('root ::= text [\\x22\\x0A] " [feeling: " ("calm" | "angry") "]"\ntext ::= [^\\x22\\x0A\\x0D]+')
    assert request_fields(FEELING, "llamacpp") == {"grammar": grammar}
    bare = suffix_choice_grammar(SuffixChoiceConstraint(close="|", lead=" ", options=["a"]))
    assert bare == 'root ::= text [\\x7C] " " ("a")\ntext ::= [^\\x7C\\x0A\\x0D]+'


def test_suffix_choice_regex_is_the_same_language_for_vllm() -> None:
    pattern = suffix_choice_regex(FEELING)
    assert request_fields(FEELING, "vllm") == {"structured_outputs": {"regex": pattern}}
    for right in ['Fine, I will match it." [feeling: calm]', "Left open\n [feeling: angry]"]:
        assert re.fullmatch(pattern, right), right
    wrong_ones = ['No label."', 'Two "quotes" [feeling: calm]', 'x" [feeling: happy]', 'a\nb" [feeling: calm]']
    for wrong in [*wrong_ones, '" [feeling: calm]', 'a"\n [feeling: calm]']:
        assert not re.fullmatch(pattern, wrong), wrong
    assert "\\ " not in pattern  # spaces stay literal: not every server's regex engine reads an escaped space
    odd = suffix_choice_regex(SuffixChoiceConstraint(close="]-", lead=" ", options=["a"]))
    assert re.fullmatch(odd, "x- a") and re.fullmatch(odd, "x] a") and not re.fullmatch(odd, "x-y] a")


# ---- vLLM ---------------------------------------------------------------------------------------------


def test_vllm_uses_structured_outputs() -> None:
    assert request_fields(ChoiceConstraint(options=["x", "y"]), "vllm") == {
        "structured_outputs": {"choice": ["x", "y"]}
    }
    assert request_fields(JsonSchemaConstraint(json_schema=SCHEMA), "vllm") == {"structured_outputs": {"json": SCHEMA}}
    assert request_fields(RegexConstraint(pattern=r"\d+"), "vllm") == {"structured_outputs": {"regex": r"\d+"}}
    number = request_fields(NumberConstraint(max=10, decimals=1), "vllm")
    assert number == {"structured_outputs": {"regex": number_regex(NumberConstraint(max=10, decimals=1))}}


def _candidates(lo: int, hi: int, decimals: int) -> list[str]:
    scale = 10**decimals
    return [f"{v / scale:.{decimals}f}" for v in range(lo * scale, hi * scale + 1)]


@pytest.mark.parametrize(
    ("min_", "max_", "decimals"),
    [
        (0, 100, 2),
        (0, 7, 0),
        (0, 9.99, 2),
        (0, 1000, 1),
        (-12.5, 30, 1),
        (-20, -3, 0),
        (0, 0.5, 2),
        (5, 250, 0),
    ],
)
def test_number_regex_accepts_exactly_the_values_in_range(min_: float, max_: float, decimals: int) -> None:
    constraint = NumberConstraint(min=min_, max=max_, decimals=decimals)
    pattern = re.compile(number_regex(constraint))
    for text in _candidates(-40, 1200 if max_ >= 100 else 40, decimals):
        value = float(text)
        # The grammar bounds magnitudes only: a positive min, or values between a negative max and 0,
        # are left to parse_number's clamp.
        if max_ < 0:
            expected = text.startswith("-") and value >= min_
        else:
            expected = value <= max_ and (value >= min_ if min_ < 0 else value >= 0)
        assert bool(pattern.fullmatch(text)) == expected, (text, constraint)
        assert bool(pattern.fullmatch(" " + text)) == expected


def test_number_regex_rejects_leading_zeros_and_wrong_decimals() -> None:
    pattern = re.compile(number_regex(NumberConstraint(min=0, max=100, decimals=2)))
    for bad in ["05.00", "00.50", "5.0", "5.000", "5", ".50", "5.", "  5.00", "+5.00"]:
        assert not pattern.fullmatch(bad), bad
    for good in ["0.50", "5.00", "99.99", "100.00", " 42.10"]:
        assert pattern.fullmatch(good), good


# ---- generic OpenAI -----------------------------------------------------------------------------------


def test_openai_json_schema_only_on_chat() -> None:
    fields = request_fields(JsonSchemaConstraint(json_schema=SCHEMA), "openai", chat=True)
    assert fields["response_format"]["type"] == "json_schema"
    assert fields["response_format"]["json_schema"]["schema"] == SCHEMA
    with pytest.raises(ValueError, match="only on chat"):
        request_fields(JsonSchemaConstraint(json_schema=SCHEMA), "openai", chat=False)


@pytest.mark.parametrize(
    "constraint",
    [ChoiceConstraint(options=["a"]), NumberConstraint(), RegexConstraint(pattern="a"), FEELING],
)
def test_openai_refuses_other_constraints(constraint) -> None:
    with pytest.raises(ValueError, match="not supported by generic OpenAI-compatible servers"):
        request_fields(constraint, "openai", chat=True)


def test_no_constraint_and_unknown_dialect() -> None:
    assert request_fields(None, "openai") == {}
    with pytest.raises(ValueError, match="unknown server dialect"):
        request_fields(NumberConstraint(), "tgi")


# ---- parse_number -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42.50", (42.5, False)),
        (" 42.50\n", (42.5, False)),
        ("I'd pay 42.5 dollars", (42.5, True)),
        ("420.00", (100.0, True)),
        ("-3", (0.0, True)),
        ("3.14159", (3.14, True)),
        ("0", (0.0, False)),
        ("100.00", (100.0, False)),
    ],
)
def test_parse_number(text: str, expected: tuple[float, bool]) -> None:
    assert parse_number(text, NumberConstraint(min=0, max=100, decimals=2)) == expected


def test_parse_number_negative_range_and_failure() -> None:
    constraint = NumberConstraint(min=-10, max=10, decimals=1)
    assert parse_number("-2.5", constraint) == (-2.5, False)
    assert parse_number("-20", constraint) == (-10.0, True)
    with pytest.raises(ValueError, match="no number"):
        parse_number("no idea", constraint)
