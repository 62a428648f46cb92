from sociallm.agents.prompts import clean_reply, render_event, stable_prefix
from sociallm.runtime.events import Event
from sociallm.runtime.scenario import load_scenario


def test_clean_reply_keeps_one_utterance() -> None:
    text, repairs = clean_reply(" Let's both charge 1.90.\nBob: ok", "Alice", ["Bob"], 300)
    assert text == "Let's both charge 1.90." and "cut at newline" in repairs


def test_clean_reply_cuts_other_speaker_and_echo() -> None:
    text, repairs = clean_reply("Alice: I agree. Bob: fine", "Alice", ["Bob"], 300)
    assert text == "I agree."
    assert "removed echoed speaker name" in repairs and "cut where another speaker began" in repairs


def test_clean_reply_strips_markup_and_truncates() -> None:
    text, _ = clean_reply(' "**Hello there**" ', "Alice", ["Bob"], 300)
    assert text == "Hello there"
    text, repairs = clean_reply("word " * 100, "Alice", ["Bob"], 40)
    assert len(text) <= 41 and text.endswith("…") and any("truncated" in r for r in repairs)


def test_clean_reply_rejects_no_words() -> None:
    assert clean_reply(" ... 123 !!", "Alice", ["Bob"], 300)[0] == ""
    assert clean_reply("", "Alice", ["Bob"], 300)[0] == ""


def test_stable_prefix_holds_persona_rules_and_private_info() -> None:
    spec = load_scenario("bertrand", {"agents.0.private": "Your cost is secretly low."})
    prefix = stable_prefix(spec, spec.agents[0], "RULES HERE")
    assert prefix.index(spec.preamble[:20]) < prefix.index("RULES HERE") < prefix.index("secretly low")
    assert "Bob" not in prefix.split("Private notes")[1]


def test_render_event() -> None:
    msg = Event(kind="message", source="Bob", payload={"text": "hi"})
    assert render_event(msg, "Alice", set()) == 'Bob: "hi"'
    dm = Event(kind="message", source="Bob", channel="dm", to=["Alice"], payload={"text": "psst"})
    assert render_event(dm, "Alice", {"dm"}) == 'Bob (privately to Alice): "psst"'
    out = Event(kind="outcome", source="market", payload={"text": "Alice sold 3."})
    assert render_event(out, "Alice", set()) == "Market: Alice sold 3."
    rs = Event(kind="system", source="scheduler", tick=3, payload={"event": "round_start"})
    assert render_event(rs, "Alice", set()) == "--- Round 3 ---"
    assert render_event(Event(kind="llm_call", source="Alice"), "Alice", set()) is None


def test_clean_reply_drops_a_sentence_cut_by_the_token_limit() -> None:
    text, repairs = clean_reply("I will charge more. Will you also ra", "Alice", ["Bob"], 300, hit_token_limit=True)
    assert text == "I will charge more." and any("token limit" in r for r in repairs)
    assert clean_reply("no sentence end here", "Alice", ["Bob"], 300, hit_token_limit=True)[0] == "no sentence end here"
