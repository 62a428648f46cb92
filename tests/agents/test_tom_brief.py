"""The manipulation check of real-speaker runs (tom_brief): was the brief said, did a conflict reach two listeners?"""

from __future__ import annotations

import random

from sociallm.agents.tom_brief import check, states
from sociallm.agents.tom_data import NAN, Message, RunData, run_data
from sociallm.environments import get_environment
from sociallm.runtime.events import Event

AGENTS = ["Alice", "Bob", "Carol", "Dave"]


def test_a_value_is_stated_in_its_words_or_as_an_agreeing_typed_value():
    assert states("a monk", "Bob, the architect of the zoo was a Monk, believe it or not.")
    assert states("7 pm", "we meet at 19:00")
    assert not states("a monk", "Bob, lovely weather today!")
    assert not states("red", "it was painted reddish brown")  # a whole word, not a part of one
    assert not states("7 pm", "we meet at 8 pm")


def _run(texts: dict[int, dict[str, str]], told: dict[int, dict[str, str]], deceptive: bool) -> RunData:
    run = RunData("r", speaker="Alice", deceptive=deceptive, told=told)
    for tick, by in texts.items():
        run.messages += [Message("Alice", [n], t, tick, (NAN,) * 3) for n, t in by.items()]
    return run


def test_a_conflict_reaches_listeners_only_when_two_different_values_were_said():
    told = {1: {"Bob": "red", "Carol": "blue", "Dave": "red"}}
    obeyed = _run({1: {"Bob": "The bridge is red.", "Carol": "It's blue, Carol.", "Dave": "Red!"}}, told, True)
    c = check(obeyed)
    assert (c.passed, c.briefed, c.conflict_reached) == (3, 3, True)
    chatted = _run({1: {"Bob": "Hi Bob!", "Carol": "The bridge is blue.", "Dave": "How are you?"}}, told, True)
    c = check(chatted)
    assert (c.passed, c.briefed, c.conflict_reached) == (1, 3, False)
    assert check(RunData("x")) is None  # no briefing record


def test_the_briefing_record_is_read_from_the_log():
    game = get_environment("briefing")
    game.reset(AGENTS, {"speaker": "Alice", "mislead": ["Bob"]}, random.Random(3))
    start = Event(kind="system", source="scheduler", tick=1, payload={"event": "round_start", "tick": 1})
    _, truth = game.on_event(start)
    run = run_data([truth])
    assert run.told == {1: truth.payload["told"]} and run.deceptive
