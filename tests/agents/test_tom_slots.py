"""Typed values in claims (tom_slots): reworded values match, changed values conflict, vocatives are surface."""

from __future__ import annotations

import pytest

from sociallm.agents.tom import load_model
from sociallm.agents.tom_claims import Claim, pieces_for
from sociallm.agents.tom_data import Embedder
from sociallm.agents.tom_slots import Slot, compare_slots, slots_of, values_agree
from sociallm.agents.tom_values import read_values

pytestmark = pytest.mark.integration  # the real MiniLM encoder and the shipped read-out


@pytest.fixture(scope="module")
def read():
    model, _ = load_model("default")
    embed = Embedder()

    def claims(texts: list[str], names: list[list[str]] | None = None) -> list[Claim]:
        return model.claims.read(embed(texts), pieces_for(embed.encoder, texts), texts, names or [[]] * len(texts))

    return model.claims, claims


def _slots(text: str) -> list[Slot]:
    # one piece per character is enough for the comparison's bookkeeping
    return slots_of(text, [(i, i + 1) for i in range(len(text))])


def test_values_compare_by_kind_and_a_bare_number_meets_a_typed_one():
    (a,), (b,), (c,) = read_values("at 7 pm"), read_values("at seven in the evening"), read_values("at 7 am")
    assert values_agree(a, b) is True and values_agree(a, c) is False
    (n,), (t,) = read_values("we open 10"), read_values("from 10:00")
    assert values_agree(n, t) is True  # "10 till 4" against "10:00 to 16:00"
    (m,), (q,) = read_values("the van holds 12 crates"), read_values("it costs £12")
    assert values_agree(m, q) is None  # a count and a price: not comparable


def test_a_value_conflicts_only_when_neither_side_meets_it():
    moved = compare_slots(_slots("moved from 9:00 to 9:30"), _slots("it starts at half nine"))
    assert moved.agreed and not moved.conflict  # 9:30 is met; 9:00 is history, not a claim against it
    clash = compare_slots(_slots("it starts at half nine"), _slots("it starts at quarter past ten"))
    assert clash.conflict and not clash.agreed
    assert not compare_slots(_slots("two boxes"), _slots("meet at 6 pm")).conflict  # other kinds


def test_reworded_values_do_not_conflict_and_changed_values_do(read):
    reader, claims = read
    base, words, other, extra = claims(
        [
            "The ferry to the island leaves at 8:40 tomorrow.",
            "Tomorrow's island ferry goes at twenty to nine, grab a coffee on board!",
            "The ferry to the island leaves at 10:15 tomorrow.",
            "The ferry to the island leaves at 8:40 tomorrow, tickets are 12 euros.",
        ]
    )
    assert reader.conflict(base, other) > 0.9  # one topic, 8:40 against 10:15
    assert reader.conflict(base, words) < 0.05  # the same time in words, and a side remark
    assert reader.conflict(base, extra) < 0.05  # says more, contradicts nothing


def test_the_listener_s_name_is_surface_and_slots_survive_a_checkpoint(read):
    _, claims = read
    (named,) = claims(["Wojciech, the lab key is in drawer 3."], [["Wojciech"]])
    (plain,) = claims(["Wojciech, the lab key is in drawer 3."])
    assert float(named.content.sum()) < float(plain.content.sum())
    assert len(named.slots) == 1 and named.slots[0].value.kind in ("number", "quantity")
    back = Claim.decode(named.encoded()[0])
    assert back.slots == named.slots and back.novelty().tolist() == named.novelty().tolist()


def test_a_decimal_point_does_not_split_a_sentence_or_its_value(read):
    reader, claims = read
    cheap, dear, same = claims(
        ["Entry is £3.50 per head. Doors at 7.", "Entry is £4.20 per head. Doors at 7.", "It's 3.50 pounds to get in."]
    )
    assert cheap.sentences().tolist().count(0) > 4 and int(cheap.sentences().max()) == 1
    assert cheap.slots[0].value.readings == {3.5}
    assert reader.conflict(cheap, dear) > 0.5 and reader.conflict(cheap, same) < 0.05


def test_synonyms_match_as_one_word_and_survive_a_checkpoint(read):
    reader, claims = read
    shut, closed, open_, red, blue = claims(
        [
            "Heads up: the side gate is shut all weekend.",
            "Heads up: the side gate is closed all weekend.",
            "Heads up: the side gate is open all weekend.",
            "The new fence by the side gate is red.",
            "The new fence by the side gate is blue.",
        ]
    )
    assert any(w.form == "shut" for w in shut.words)
    assert reader.conflict(shut, closed) < 0.05  # WordNet: one synset
    assert reader.conflict(closed, open_) > 0.5 and reader.conflict(red, blue) > 0.5  # antonyms, co-hyponyms
    back = Claim.decode(shut.encoded()[0])
    assert back.words == shut.words


def test_duplicity_is_the_mean_of_both_readings_and_survives_a_checkpoint(read):
    from dataclasses import replace

    from sociallm.agents.tom_claims import ClaimLedger

    reader, claims = read
    texts = ["The side gate is shut all weekend, sorry.", "Good news: the side gate is open all weekend."]
    a, b = claims(texts)
    assert a.plain is not None and a.plain.lexical
    both, learned, plain = ClaimLedger(reader), ClaimLedger(reader), ClaimLedger(reader)
    for i, (c, who) in enumerate(((a, "Bob"), (b, "Carol"))):
        both.add("Alice", str(i), frozenset({who}), c)
        learned.add("Alice", str(i), frozenset({who}), replace(c, plain=None, saved=None))
        plain.add("Alice", str(i), frozenset({who}), c.plain)
    mean = (learned.duplicity("Alice") + plain.duplicity("Alice")) / 2
    assert abs(learned.duplicity("Alice") - plain.duplicity("Alice")) > 0.01  # so the mean is a test of both
    assert abs(both.duplicity("Alice") - mean) < 1e-9 and mean > 0.5
    back = ClaimLedger(reader)
    back.load_state(both.state())
    assert back.duplicity("Alice") == both.duplicity("Alice")
    assert back.speakers["Alice"].said[0].claim.plain is not None


def test_a_24_hour_hhmm_meets_its_clock_time_and_a_possessive_day_is_a_day():
    (n,), (t,), (u,) = read_values("briefing 0745"), read_values("briefing at 7:45"), read_values("at 9:15")
    assert values_agree(n, t) is True  # "0745" / "7:45"
    (late,) = read_values("shift change 1915")
    assert values_agree(late, read_values("change at 7:15pm")[0]) is True
    assert values_agree(n, u) is None  # a bare number that is not that time may be a count or a year: no conflict
    (day,) = read_values("Tuesday's meeting moved")
    assert day.kind == "weekday" and day.readings == {1}


def test_a_possessive_is_no_part_of_the_word(read):
    reader, claims = read
    a, b = claims(["Tulips, mostly, for the shop window.", "The shop window's mostly tulips."])
    assert reader.conflict(a.plain, b.plain) < 0.05  # "window's" is "window"
    for words in (b.words, b.plain.words):  # both readings look the word up without its 's
        assert [w.form for w in words if w.form.startswith("window")] == ["window"]


def test_an_agreed_value_inside_one_frame_does_not_hide_a_changed_slot(read):
    reader, claims = read
    cup, vase, kit, hall = claims(
        [
            "Monday's raffle prize on stall four was a silver cup.",
            "Monday's raffle prize on stall four was a glass vase.",
            "Raffle is on Monday, bring your tickets.",
            "Raffle is on Monday, the marquee is up already.",
        ]
    )
    # Monday and four agree; the frame is the same and one slot differs: a conflict on the plain words
    assert reader.conflict(cup.plain, vase.plain) > 0.3
    # the same day, then each message adds its own remark: elaboration, not a conflict
    assert reader.conflict(kit, hall) < 0.05 and reader.conflict(kit.plain, hall.plain) < 0.05


def test_a_typed_conflict_survives_a_clause_only_one_side_adds(read):
    reader, claims = read
    short, longer = claims(["The pamphlet run is 300 copies.", "Pamphlet run's 500 copies, they found more budget."])
    assert reader.conflict(short, longer) > 0.5 and reader.conflict(short.plain, longer.plain) > 0.5
