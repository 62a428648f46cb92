from sociallm.runtime.events import Event
from sociallm.tui.plots import heat_map, series_chart, signed_bar, spark
from sociallm.tui.state import SocietyState
from tests.tui.helpers import synthetic_events


def fold(events) -> SocietyState:
    st = SocietyState()
    for ev in events:
        st.apply(ev)
    return st


def test_folds_every_subsystem() -> None:
    st = fold(synthetic_events(3))
    assert st.round == 3 and st.channels == ["public"]
    assert [a for a in st.agents] == ["Alice", "Bob"]  # market, scheduler are not agents
    alice = st.agents["Alice"]
    assert alice.tokens == 330 and alice.calls == 3 and st.tokens == 660
    assert alice.valence == 0.3 and list(alice.valence_history) == [0.1, 0.2, 0.3] and alice.word == "calm"
    assert alice.last_action == "price $1.80"
    assert list(alice.memories) == ["memo 1", "memo 2", "memo 3"]
    assert alice.tom == {"Bob": {"surprise": 0.3}}
    assert st.emotion_enabled and st.memory_enabled and st.tom_enabled
    msgs = st.lines_for("public")
    assert len(msgs) == 6 and all(m.label == "calm" for m in msgs)
    m = st.metrics
    # The panel folds what the game's view declares: its chart, reference lines and sparklines.
    assert m.lines() == [("N", "Nash", 1.4729), ("M", "monopoly", 1.925)] and list(m.sparks["delta"]) == [0.5] * 3
    assert [round(x, 2) for x in m.chart["Alice"]] == [1.81, 1.82, 1.83]


def test_subsystems_without_events_are_not_enabled() -> None:
    events = [e for e in synthetic_events(1) if e.kind not in ("affect", "memory", "tom")]
    st = fold(events)
    assert not st.emotion_enabled and not st.memory_enabled and not st.tom_enabled
    assert st.agents["Alice"].valence is None and st.lines_for("public")[0].label is None


def test_label_arriving_after_the_message_marks_its_channel() -> None:
    st = SocietyState()
    msg = Event(kind="message", source="Alice", channel="backroom", to=["Bob"], payload={"text": "psst"})
    st.apply(msg)
    st.relabelled.clear()
    st.apply(Event(kind="affect", source="Alice", payload={"event": msg.id, "after": {"word": "tense"}}))
    assert st.lines[0].label == "tense" and [line.channel for line in st.relabelled] == ["backroom"]
    # Someone else's affect about the same message does not relabel the speaker's line.
    st.apply(Event(kind="affect", source="Bob", payload={"event": msg.id, "after": {"word": "happy"}}))
    assert st.lines[0].label == "tense"


def test_odd_payloads_do_not_break_the_state() -> None:
    st = fold(
        [
            Event(kind="affect", source="A", payload={"valence": "high"}),
            Event(kind="memory", source="A", payload={"op": "reflection", "insights": [{"text": "B lies"}, "x"]}),
            Event(kind="memory", source="A", payload={"op": "retrieve", "results": []}),
            Event(kind="tom", source="A", payload={"targets": {"B": {"overlap": 0.7, "note": "n/a"}}}),
            Event(kind="outcome", source="auction", payload={"winner": "A"}),
            Event(kind="llm_call", source="runtime", payload={"prompt_tokens": None}),
        ]
    )
    a = st.agents["A"]
    assert a.valence is None and list(a.reflections) == ["B lies (+1)"] and a.retrievals == 1
    assert a.tom == {"B": {"overlap": 0.7}} and not st.metrics.chart


def test_filters_by_agent_or_channel() -> None:
    st = fold(
        [
            Event(kind="message", source="Alice", payload={"text": "hi"}),
            Event(kind="message", source="Bob", channel="backroom", to=["Carol"], payload={"text": "deal"}),
        ]
    )
    assert [line.text for line in st.lines_for(who="Carol")] == ["deal"]
    assert [line.text for line in st.lines_for("backroom")] == ["deal"]
    assert [line.text for line in st.lines_for(who="Alice")] == ["hi"]


def test_plots() -> None:
    assert spark([-1, 0, 1], -1, 1) == "▁▅█"  # fixed scale, so agents compare
    assert signed_bar(-1.0, 4).plain == "▕██│  ▏" and signed_bar(0.5, 4).plain == "▕  │█ ▏"
    chart = series_chart(
        {"Alice": [1.5, 1.9], "Bob": [1.5, 1.6]}, [("N", 1.4729), ("M", 1.925)], width=10, height=6
    ).plain
    lines = chart.splitlines()
    assert len(lines) == 6 and lines[0].endswith(" M") and any(line.endswith(" N") for line in lines)
    assert "*" in chart and "A" in chart and "B" in chart  # same price in round 1, apart in round 2
    hm = heat_map({"Bob": {"surprise": 0.2, "overlap": 0.9}}).plain
    assert "surprise" in hm and "0.90" in hm and "Bob" in hm
    # A tiny negative read-out (duplicity of a speaker everyone sees alike) is shown as 0.00, not -0.00.
    assert "-0.00" not in heat_map({"Bob": {"duplicity": -0.001}}).plain


def test_tom_section_events_fill_each_observers_view_of_the_speaker() -> None:
    st = SocietyState()
    payload = {
        "message": "e1",
        "speaker": "Mallory",
        "surprise": {"Alice": 0.8, "Bob": 0.4},
        "self_surprise": 0.2,
        "duplicity": 0.31,
        "overlap": 0.9,
        "observers": ["Alice", "Bob", "Carol"],
    }
    st.apply(Event(kind="tom", source="Mallory", channel="tom", to=["Mallory"], payload=payload))
    assert st.agent("Alice").tom == {"Mallory": {"surprise": 0.8, "duplicity": 0.31}}
    assert st.agent("Carol").tom == {"Mallory": {"duplicity": 0.31}}  # a first message: no surprise yet
    assert st.agent("Mallory").tom_self == {"duplicity": 0.31, "overlap": 0.9}
    assert "Mallory" not in st.agent("Mallory").tom and st.tom_enabled
    # The agent panel's running summary, as report.md has it: the analyst's duplicity, and what each felt.
    mallory = "theory of mind: duplicity 0.310 (max 0.310; analyst view), surprise caused 0.60"
    assert st.tally.lines("Mallory") == [mallory]
    assert st.tally.lines("Alice") == ["theory of mind: felt 0.80"]
