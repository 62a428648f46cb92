from sociallm.memory import reflection as refl


def test_trigger() -> None:
    assert refl.should_reflect(150, 150)
    assert not refl.should_reflect(149.9, 150)
    assert not refl.should_reflect(1000, 0)  # 0 turns reflection off


def test_citations_unknown_ids_dropped_and_recorded() -> None:
    ids = ["m1", "m2", "m3"]
    ins = refl.parse_insight('{"insight": "Bob keeps prices high", "because": [1, 3, 7, 0, 3]}', ids)
    assert ins is not None
    assert ins.cites == ["m1", "m3"] and ins.dropped == ["7", "0"]
    assert any("7, 0" in r for r in ins.repairs)


def test_line_form_and_garbage() -> None:
    ins = refl.parse_insight("Bob is not to be trusted (because of 2, 3)", ["a", "b", "c"])
    assert ins is not None and ins.text == "Bob is not to be trusted" and ins.cites == ["b", "c"]
    assert "not JSON" in ins.repairs[0]
    no_cite = refl.parse_insight("Prices are high today", ["a"])
    assert no_cite is not None and no_cite.cites == []
    assert refl.parse_insight("   ", ["a"]) is None
    assert refl.parse_insight('{"insight": "x", "because": [1]}', ["a"]) is None


def test_questions_cleaned_and_filled() -> None:
    qs, repairs = refl.parse_questions(" What does Bob want\n2) ok\n3. What does Bob want?\n", 3, "Alice", ["Bob"])
    assert qs[0] == "What does Bob want?"
    assert len(qs) == 3 and all(q.endswith("?") for q in qs)
    assert any("too short" in r for r in repairs) and any("fixed question" in r for r in repairs)
    qs, repairs = refl.parse_questions("", 3, "Alice", ["Bob"])
    assert qs == refl.fallback_questions("Alice", ["Bob"])


def test_prompts_number_the_memories() -> None:
    p = refl.insight_prompt("Alice", "Why?", ["one", "two"])
    assert "1. one\n2. two" in p and p.endswith("Answer: ")
    assert refl.questions_prompt("Alice", ["x"]).endswith("\n1.")


def test_copied_example_and_stray_punctuation() -> None:
    copied = refl.parse_insight('{"insight": "Carol\'s bread sells out every day", "because": [1, 3]}', ["a", "b", "c"])
    assert copied is not None and copied.cites == [] and "copied" in copied.repairs[-1]
    assert refl.copies_example("Alice's bread is sold out every day")
    assert not refl.copies_example("Bob sells out every time he cuts prices")
    messy = refl.parse_insight('{"insight": ": [2, 4]} Bob raised his price", "because": [2]}', ["a", "b"])
    assert messy is not None and messy.text == "Bob raised his price" and messy.cites == ["b"]
    qs, _ = refl.parse_questions(" b. What Alice expects from Bob\nc) Who sets the lower price", 2, "Alice", ["Bob"])
    assert qs == ["What Alice expects from Bob?", "Who sets the lower price?"]


def test_cut_off_json_is_salvaged() -> None:
    ins = refl.parse_insight('{"because":[2,5],"insight":"Bob wants to sell at a low price and he', ["a", "b"])
    assert ins is not None and ins.text.startswith("Bob wants") and ins.cites == ["b"] and ins.dropped == ["5"]
    assert "salvaged" in ins.repairs[0]
