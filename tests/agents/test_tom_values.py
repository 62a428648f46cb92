"""Typed value reader (tom_values): rewordings of one value agree, changed values conflict.

Every phrase here is written from general English usage, not taken from any scene file.
"""

from __future__ import annotations

import itertools

import pytest

from sociallm.agents.tom_values import Value, agree, read_values


def one(text: str) -> Value:
    values = read_values(text)
    assert len(values) == 1, (text, values)
    return values[0]


SAME = [
    # times
    ("meet at 9:45", "meet at quarter to ten"),
    ("at 9:45", "at a quarter to ten"),
    ("at 10:30", "at half ten"),
    ("at 9:30", "at half past nine"),
    ("at 9:15", "at quarter past nine"),
    ("at 5:50", "at ten to six"),
    ("at 4:20", "at twenty past four"),
    ("at 7", "at 7 pm"),
    ("at 7", "at seven o'clock"),
    ("at 7pm", "at 19:00"),
    ("at seven in the evening", "at 7 pm"),
    ("at 9.45 am", "at 09:45"),
    ("at noon", "at 12:00"),
    ("at midday", "at noon"),
    ("at midnight", "at 12 am"),
    ("leaves at 6.30 pm", "leaves at half past six"),
    ("at seven thirty", "at 7:30"),
    ("by 2:15 pm", "by quarter past two"),
    ("at eleven fifteen", "at 11:15"),
    ("at seven-forty", "at 7:40"),
    # dates
    ("on the 3rd of June", "on June third"),
    ("3 June", "June 3rd"),
    ("the third of June", "June 3"),
    ("03/06", "3 June"),
    ("03/06", "March 6"),
    ("on the 14th", "14 June"),
    ("June 3, 2025", "3rd June 2025"),
    ("2025-06-03", "the 3rd of June"),
    # weekdays
    ("Monday", "Mon."),
    ("on Tues", "on Tuesday"),
    ("every Friday", "Fri."),
    # money
    ("£240", "it costs two-forty"),
    ("£2.40", "it costs two forty"),
    ("£240", "240 pounds"),
    ("240 quid", "£240"),
    ("50 pounds", "fifty quid"),
    ("$18", "18 dollars"),
    ("$18", "18 bucks"),
    ("€1,350", "1,350 euros"),
    ("€1,350", "1350 euros"),
    ("$2k", "two grand"),
    ("a grand", "£1,000"),
    ("£3.50", "3 pounds 50"),
    ("£3.50", "three pounds fifty"),
    ("the rent is 240", "£240"),
    ("50p", "£0.50"),
    ("$1.35k", "$1,350"),
    # quantities
    ("10 litres", "ten litres"),
    ("10 l", "ten liters"),
    ("30 cm", "30cm"),
    ("14 GB", "fourteen gigs"),
    ("800 MB", "eight hundred megabytes"),
    ("12 laps", "twelve laps"),
    ("2 hours", "two hours"),
    ("2 hours", "120 minutes"),
    ("a couple of hours", "2 hours"),
    ("half an hour", "30 minutes"),
    ("an hour and a half", "90 minutes"),
    ("two and a half hours", "150 mins"),
    ("20%", "twenty percent"),
    ("20 per cent", "20%"),
    ("48 crates", "forty-eight crates"),
    ("one tablet", "1 tablet"),
    ("floor five", "5th floor"),
    ("floor five", "the fifth floor"),
    ("a dozen eggs", "12 eggs"),
    ("1.5 km", "1500 m"),
    ("500 ml", "half a litre"),
    ("2 weeks", "fourteen days"),
    ("one hundred and twenty people", "120 people"),
    # numbers
    ("twenty-five", "25"),
    ("the 3rd", "third"),
    ("1.35k", "1350"),
    ("one thousand three hundred and fifty", "1,350"),
    ("a hundred", "100"),
    ("we won 2-1", "it ended 2 - 1 to us"),
    ("42 to 45", "42-45"),
    ("pages 42-45", "pages 42-45"),
]

DIFFERENT = [
    ("at 9:45", "at half ten"),
    ("at 9:45", "at quarter past ten"),
    ("at 7 pm", "at 7 am"),
    ("at 7", "at 8"),
    ("at seven o'clock", "at six o'clock"),
    ("at noon", "at midnight"),
    ("at 19:00", "at 20:00"),
    ("on the 3rd of June", "on the 4th of June"),
    ("3 June", "3 July"),
    ("on the 14th", "on the 15th"),
    ("13/06", "14/06"),
    ("Monday", "Tuesday"),
    ("Fri.", "Sat."),
    ("£240", "£250"),
    ("£240", "it costs three-fifty"),
    ("50 pounds", "sixty quid"),
    ("$18", "20 bucks"),
    ("€1,350", "1,530 euros"),
    ("two grand", "$3k"),
    ("10 litres", "12 litres"),
    ("30 cm", "40cm"),
    ("2 hours", "90 minutes"),
    ("half an hour", "an hour"),
    ("20%", "thirty percent"),
    ("48 crates", "30 crates"),
    ("floor five", "6th floor"),
    ("1 km", "900 m"),
    ("twenty-five", "26"),
    ("we won 2-1", "we won 1-2"),
    ("the bill was one fifty", "£2.50"),
    ("a dozen eggs", "ten eggs"),
]

INCOMPARABLE = [
    ("at 7", "£7"),
    ("10 litres", "10 kg"),
    ("10 litres", "£10"),
    ("Monday", "the 3rd of June"),
    ("48 crates", "48 boxes"),
    ("20%", "20 minutes"),
    ("£20", "$20"),
    ("we won 2-1", "2"),
    ("3 June", "at 3"),
]

SPANS = [
    ("we meet at quarter to ten then", "quarter to ten"),
    ("it was £1,350 in the end", "£1,350"),
    ("see you at 2:15 pm sharp", "2:15 pm"),
    ("it's on the 3rd of June", "the 3rd of June"),
    ("she paid 3 pounds 50 for it", "3 pounds 50"),
    ("we need ten litres of water", "ten litres"),
    ("it costs two-forty, I think", "two-forty"),
    ("he drove for an hour and a half", "an hour and a half"),
    ("one hundred and twenty people came", "one hundred and twenty people"),
    ("room on floor five please", "floor five"),
    ("back by seven o'clock", "seven o'clock"),
    ("it ended 2 - 1 to us", "2 - 1"),
    ("Meet me Mon. morning", "Mon."),
    ("a couple of hours later", "a couple of hours"),
]

NO_VALUES = [
    "Hey, how are you doing?",
    "I think someone left the door open.",
    "No one told me about it.",
    "Is anyone coming to the party?",
    "I like that one better than the other.",
    "A few of us might go later.",
    "Let me think for a second.",
    "First, thanks for waiting.",
    "At one point I almost gave up.",
    "We sat in the sun all afternoon.",
    "May I ask you something?",
    "They march along the river every spring.",
    "Wait a minute, that's not right.",
    "One of them said it was fine.",
    "I'll do it one way or another.",
    "Could you pass me the salt?",
    "That was the best day ever.",
    "We went there once or twice.",
    "Honestly I have no idea.",
    "See you soon, take care!",
    "Anyone else want some tea?",
    "The second time was easier.",
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same_value_in_other_words_agrees(a: str, b: str) -> None:
    assert agree(one(a), one(b)) is True
    assert agree(one(b), one(a)) is True


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_value_of_one_kind_disagrees(a: str, b: str) -> None:
    assert agree(one(a), one(b)) is False
    assert agree(one(b), one(a)) is False


@pytest.mark.parametrize(("a", "b"), INCOMPARABLE)
def test_different_kinds_or_units_do_not_compare(a: str, b: str) -> None:
    assert agree(one(a), one(b)) is None


@pytest.mark.parametrize(("text", "expr"), SPANS)
def test_span_covers_the_whole_expression(text: str, expr: str) -> None:
    v = one(text)
    assert text[v.start : v.end] == expr


@pytest.mark.parametrize("text", NO_VALUES)
def test_chat_without_values_reads_nothing(text: str) -> None:
    assert read_values(text) == []


def test_kinds_units_and_readings() -> None:
    assert one("at 7").readings == {7 * 60, 19 * 60}
    assert one("at 7 pm").readings == {19 * 60}
    assert one("at 7 tonight").readings == {19 * 60}
    assert one("I have 7").kind == "number"
    assert one("it costs two-forty").readings == {240, 2.4}
    assert one("it costs two-forty").unit is None
    assert one("£240").unit == "£"
    assert one("48 crates").unit == "crate"
    assert one("3 hours").unit == "min"
    assert one("it's 20 degrees").unit == "°c"
    assert one("03/06").readings == {(None, 6, 3), (None, 3, 6)}
    assert one("the 3rd").kind == "number"
    assert one("it ended 2 - 1 to us").readings == {(2, 1)}
    assert [v.kind for v in read_values("open from 7 to 9")] == ["time", "time"]
    assert one("I think it's two-forty").kind == "number"


def test_several_values_left_to_right_without_overlap() -> None:
    text = "On Monday at 7 pm, bring 10 litres and £240 for the 48 crates."
    values = read_values(text)
    assert [v.kind for v in values] == ["weekday", "time", "quantity", "money", "quantity"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(values))


def test_enough_cases() -> None:
    assert len(SAME) >= 40 and len(DIFFERENT) >= 25 and len(NO_VALUES) >= 20
