"""Reading a label folded into a talk reply: what is published and what the section gets."""

from __future__ import annotations

import pytest

from sociallm.agents.talk_suffix import TalkSuffix, split_suffix

FEELING = TalkSuffix(lead=" [feeling: ", options=("calm", "angry", "wary"), end="]")


def test_a_complete_suffix_gives_the_label_and_a_message_without_it() -> None:
    message, tail, label, why = split_suffix('Fine, I will match your price." [feeling: calm]', FEELING, "stop")
    assert (message, tail, label, why) == ("Fine, I will match your price.", "[feeling: calm]", "calm", None)
    # Case and stray punctuation do not lose a vocabulary word.
    assert split_suffix('No." [Feeling: Angry.]', FEELING)[2] == "angry"


@pytest.mark.parametrize(
    ("raw", "finish", "why"),
    [
        ("We should talk about prices and", "length", "the reply used its whole token budget"),
        ("We should talk", "stop", "the reply ended before the suffix"),
        ('Hm." [feeling: happy]', "stop", "'happy' is not a vocabulary word"),
        ('Hm." [feeling: ]', "stop", "the suffix has no word"),
    ],
)
def test_a_missing_or_foreign_label_says_why(raw: str, finish: str, why: str) -> None:
    message, _, label, reason = split_suffix(raw, FEELING, finish)
    assert label is None and reason == why
    assert "[feeling" not in message


def test_the_message_is_cut_at_the_first_marker_so_none_is_ever_published() -> None:
    message, tail, label, _ = split_suffix('a [feeling: wary] b" [feeling: calm]', FEELING)
    assert message == "a" and label == "wary" and tail.startswith("[feeling: wary]")


def test_the_constraint_hands_over_at_the_closing_quote_or_the_end_of_the_line() -> None:
    c = FEELING.constraint()
    assert (c.close, c.lead, c.options, c.end) == ('"\n', " [feeling: ", ["calm", "angry", "wary"], "]")
    assert FEELING.marker == "[feeling:"
    # A reply the model ended at a newline (the quote left open) reads like one cut at the newline stop.
    assert split_suffix("Fine by me\n [feeling: calm]", FEELING)[::2] == ("Fine by me", "calm")
