"""The emotion section: appraisal, self-label loop, decay, ablations, checkpoints, and a real run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sociallm.agents.affect import VOCABULARY
from sociallm.agents.agent import Turn
from sociallm.agents.emotion import Config, Emotion, label_prompt
from sociallm.agents.sections import SectionContext
from sociallm.backbone.base import GenerationRequest
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.events import Event
from sociallm.runtime.scenario import ScenarioError, load_scenario
from tests.fakes import FakeLLM, default_reply

HOSTILE = "I hate you, you cheated me!"
FRIENDLY = "Thank you, this works well for both of us."


def reply(req: GenerationRequest) -> str:
    if req.purpose == "emotion_label":
        return " angry" if HOSTILE in (req.prompt or "").rsplit("Message:", 1)[-1] else " pleased"
    if req.purpose == "talk":
        return f" {HOSTILE}" if req.agent == "Bob" else f" {FRIENDLY}"
    return default_reply(req)


def make_section(llm: FakeLLM | None = None, **options: Any) -> tuple[Emotion, list[Event]]:
    spec = load_scenario("bertrand-emotion")
    emitted: list[Event] = []

    async def emit(ev: Event) -> Event:
        emitted.append(ev)
        return ev

    ctx = SectionContext(spec.agents[0], spec, llm or FakeLLM(reply), emit, Path("."), lambda: 1)
    return Emotion(ctx, Config.model_validate(options)), emitted


def msg(source: str, text: str, tick: int = 1) -> Event:
    return Event(kind="message", source=source, tick=tick, payload={"text": text})


def turn(tick: int, kind: str = "talk") -> Turn:
    spec = load_scenario("bertrand-emotion")
    return Turn(tick=tick, phase=next(p for p in spec.schedule if p.kind == kind))


async def test_a_hostile_message_lowers_valence_raises_arousal_and_is_recorded() -> None:
    s, emitted = make_section()
    before = s.affect()
    incoming = msg("Bob", HOSTILE)
    s.observe(incoming)
    assert s.affect() == before  # observe only queues
    await s.prepare(turn(1))
    v, a = s.affect()
    assert v < before[0] - 0.3 and a > before[1]
    (ev,) = emitted
    assert ev.kind == "affect" and ev.source == "Alice" and ev.to == ["Alice"]
    p = ev.payload
    assert p["cause"] == "appraisal" and p["event"] == incoming.id and p["source"] == "Bob"
    assert p["details"]["compound"] < -0.5 and p["before"]["valence"] == pytest.approx(before[0])
    assert p["after"]["word"] in VOCABULARY
    assert s.render(turn(1)).startswith("Alice feels ") and "valence -0." in s.render(turn(1))


async def test_source_weights_and_own_messages() -> None:
    muted, _ = make_section(source_weights={"Bob": 0.0})
    muted.observe(msg("Bob", HOSTILE))
    muted.observe(msg("Alice", HOSTILE))  # own words go through the self-label instead
    await muted.prepare(turn(1))
    assert muted.affect() == (0.0, 0.35)
    half, _ = make_section(source_weights={"Bob": 0.5})
    full, _ = make_section()
    for s in (half, full):
        s.observe(msg("Bob", HOSTILE))
        await s.prepare(turn(1))
    assert full.affect()[0] < half.affect()[0] < 0


async def test_self_label_closes_the_loop_with_one_call_and_none_for_prices() -> None:
    llm = FakeLLM(reply)
    s, emitted = make_section(llm, baseline_valence=0.0)
    own = msg("Alice", HOSTILE)
    await s.after_act(own)
    assert [r.purpose for r in llm.requests] == ["emotion_label"]
    req = llm.requests[0]
    assert req.agent == "Alice" and req.constraint is not None and req.constraint.options == list(VOCABULARY)
    assert req.prompt == label_prompt(HOSTILE)
    angry_v, angry_a = VOCABULARY["angry"]
    assert s.affect() == pytest.approx((0.3 * angry_v, 0.35 + 0.3 * (angry_a - 0.35)))
    (ev,) = emitted
    d = ev.payload["details"]
    assert ev.payload["cause"] == "self_label" and ev.payload["applied"] is True and ev.payload["event"] == own.id
    assert d["label"] == "angry" and d["agrees_sign"] is True and d["compound"] < 0
    await s.after_act(Event(kind="action", source="Alice", tick=1, payload={"action": "price", "value": 1.8}))
    await s.after_act(Event(kind="message", source="Alice", tick=1, payload={"text": "…", "silent": True}))
    assert len(llm.requests) == 1


async def test_ablations_fixed_and_loop_off() -> None:
    llm = FakeLLM(reply)
    off, emitted = make_section(llm, loop=False)
    await off.after_act(msg("Alice", HOSTILE))
    assert off.affect() == (0.0, 0.35)  # the label is recorded but does not move the state
    assert emitted[-1].payload["applied"] is False and emitted[-1].payload["details"]["label"] == "angry"
    fixed, emitted = make_section(llm, fixed=True, baseline_valence=0.4)
    fixed.observe(msg("Bob", HOSTILE))
    await fixed.prepare(turn(1))
    await fixed.after_act(msg("Alice", HOSTILE, tick=1))
    await fixed.prepare(turn(5))
    assert fixed.affect() == (0.4, 0.35)
    assert [e.payload["cause"] for e in emitted] == ["self_label"] and emitted[0].payload["applied"] is False
    silent, _ = make_section(show=False)
    assert silent.render(turn(1)) == ""


async def test_decay_once_per_tick_toward_the_baseline() -> None:
    s, emitted = make_section(decay=0.5, baseline_valence=0.2)
    s.observe(msg("Bob", HOSTILE))
    await s.prepare(turn(1))
    low = s.affect()[0]
    await s.prepare(turn(2, "talk"))
    await s.prepare(turn(2, "act"))  # second turn of the same round: no second decay
    causes = [e.payload["cause"] for e in emitted]
    assert causes == ["appraisal", "decay"]
    assert low < s.affect()[0] < 0.2
    assert emitted[-1].tick == 2 and emitted[-1].payload["details"]["ticks"] == 1
    await s.prepare(turn(40))
    assert s.affect()[0] == pytest.approx(0.2, abs=1e-6)


async def test_state_round_trip_keeps_pending_appraisals() -> None:
    s, _ = make_section()
    s.observe(msg("Bob", HOSTILE))
    await s.prepare(turn(1))
    s.observe(msg("Bob", HOSTILE, tick=1))  # arrives after the turn: still pending at the checkpoint
    saved = json.loads(json.dumps(s.state()))
    t, _ = make_section()
    t.load_state(saved)
    assert t.affect() == s.affect() and t.state() == s.state()
    await s.prepare(turn(2))
    await t.prepare(turn(2))
    assert t.affect() == s.affect()


def test_bad_options_are_one_line_errors_at_their_place() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("bertrand-emotion", {"sections.emotion.decay": -1})
    assert any(
        line.startswith("sections.emotion.decay: Input should be greater than or equal to 0")
        for line in info.value.lines
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario("bertrand-emotion", {"agents.0.sections.emotion.baseline_valnce": 0.1})
    assert any(
        line.startswith("agents[0].sections.emotion.baseline_valnce: unknown field") for line in info.value.lines
    )
    with pytest.raises(ScenarioError):
        load_scenario("bertrand-emotion", {"sections.emotion.loop": "sometimes"})


async def test_a_run_appraises_messages_and_outcomes_and_renders_the_state(tmp_path: Path) -> None:
    spec = load_scenario("bertrand-emotion", {"rounds": 3})
    llm = FakeLLM(reply)
    run = Run(spec, tmp_path / "r", llm=llm)
    await run.execute()
    alice = run.agents["Alice"].sections[0]
    assert isinstance(alice, Emotion)
    assert alice.affect()[0] < 0.2  # Bob's insults pull Alice below her baseline
    events = read_events(tmp_path / "r" / "events.jsonl").events
    affects = [e for e in events if e.kind == "affect"]
    causes = {(e.source, e.payload["cause"]) for e in affects}
    assert {("Alice", "appraisal"), ("Alice", "outcome"), ("Alice", "self_label"), ("Alice", "decay")} <= causes
    assert {("Bob", "self_label"), ("Bob", "outcome")} <= causes
    hostile = [e for e in affects if e.source == "Alice" and e.payload["cause"] == "appraisal"]
    assert all(e.payload["after"]["valence"] < e.payload["before"]["valence"] for e in hostile)
    calls = [e for e in events if e.kind == "llm_call"]
    talk = sum(1 for c in calls if c.payload["purpose"] == "talk")
    labels = sum(1 for c in calls if c.payload["purpose"] == "emotion_label")
    assert talk == 6 and labels == talk  # exactly one extra call per talk turn, none for prices
    prompts = [r.prompt or "" for r in llm.requests if r.agent == "Alice" and r.purpose in ("talk", "price")]
    assert all("Alice feels " in p for p in prompts)
    assert prompts[-1].index("Private notes") < prompts[-1].index("Alice feels ") < prompts[-1].index("--- Round")
    checkpoint = json.loads((tmp_path / "r" / "checkpoint.json").read_text())
    saved = checkpoint["agents"]["Alice"]["sections"]["emotion"]
    assert saved["valence"] == pytest.approx(alice.affect()[0]) and saved["last_tick"] == 3


@pytest.mark.integration
async def test_bertrand_emotion_on_the_embedded_model(tmp_path: Path) -> None:
    spec = load_scenario("bertrand-emotion", {"rounds": 2})
    result = await Run(spec, tmp_path / "r").execute()
    assert result.status == "completed"
    events = read_events(tmp_path / "r" / "events.jsonl").events
    affects = [e for e in events if e.kind == "affect"]
    assert {e.source for e in affects} == {"Alice", "Bob"}
    labels = [e for e in affects if e.payload["cause"] == "self_label"]
    assert len(labels) == 4 and all(e.payload["details"]["label"] in VOCABULARY for e in labels)
    calls = [e for e in events if e.kind == "llm_call"]
    talk_prompts = [c.payload["prompt"] for c in calls if c.payload["purpose"] == "talk" and c.source == "Alice"]
    assert talk_prompts and all("Alice feels " in p and "(valence " in p for p in talk_prompts)
    assert sum(c.payload["purpose"] == "emotion_label" for c in calls) == 4


@pytest.mark.integration
async def test_folded_labels_on_the_embedded_model(tmp_path: Path) -> None:
    spec = load_scenario("bertrand-emotion", {"rounds": 2, "sections.emotion.self_label": "folded"})
    result = await Run(spec, tmp_path / "r").execute()
    assert result.status == "completed"
    events = read_events(tmp_path / "r" / "events.jsonl").events
    talk = [e for e in events if e.kind == "llm_call" and e.payload["purpose"] == "talk"]
    assert talk and all(c.payload["constraint"] == "suffix_choice" for c in talk)  # llama.cpp took the grammar
    labels = self_labels(tmp_path / "r")
    assert len(labels) == 4 and all(e.payload["details"]["label"] in VOCABULARY for e in labels)
    fallbacks = sum(e.payload["details"]["mode"] == "fallback" for e in labels)
    assert sum(c.payload["purpose"] == "emotion_label" for c in events if c.kind == "llm_call") == fallbacks
    messages = [e for e in events if e.kind == "message" and e.source in ("Alice", "Bob")]
    assert all("[feeling" not in e.payload["text"] + e.payload["raw"] for e in messages)


async def test_arousal_temperature_shifts_sampling_when_switched_on(tmp_path: Path) -> None:
    spec = load_scenario(
        "bertrand-emotion", {"rounds": 2, "sections.emotion.arousal_temperature": 1.0, "backbone.temperature": 0.7}
    )
    llm = FakeLLM(reply)
    run = Run(spec, tmp_path / "r", llm=llm)
    await run.execute()
    talk = [r for r in llm.requests if r.purpose == "talk"]
    assert any(abs(r.temperature - 0.7) > 1e-6 for r in talk)  # moved away from the base temperature
    plain = FakeLLM(reply)
    await Run(load_scenario("bertrand-emotion", {"rounds": 2}), tmp_path / "p", llm=plain).execute()
    assert all(abs(r.temperature - 0.7) < 1e-6 for r in plain.requests if r.purpose == "talk")


def folded_reply(req: GenerationRequest) -> str:
    """What a server enforcing the suffix grammar sends: the utterance, the closing quote, the label.
    Bob's replies stop before their suffix (as a stop string would), so his labels are asked separately."""
    if req.purpose == "talk" and req.constraint is not None and req.constraint.kind == "suffix_choice":
        text = reply(req)
        return text if req.agent == "Bob" else f'{text}" [feeling: delighted]'
    return reply(req)


def self_labels(run_dir: Path) -> list[Event]:
    events = read_events(run_dir / "events.jsonl").events
    return [e for e in events if e.kind == "affect" and e.payload["cause"] == "self_label"]


async def test_folded_labels_ride_on_the_talk_call_and_never_reach_the_message(tmp_path: Path) -> None:
    spec = load_scenario("bertrand-emotion", {"rounds": 2, "sections.emotion.self_label": "folded"})
    llm = FakeLLM(folded_reply)
    await Run(spec, tmp_path / "r", llm=llm).execute()
    talk = [r for r in llm.requests if r.purpose == "talk"]
    assert talk and all(r.constraint is not None and r.constraint.kind == "suffix_choice" for r in talk)
    assert all('"' not in r.stop and "\n" not in r.stop and r.max_tokens == 40 + 10 for r in talk)
    # Alice's labels came with her talk calls; Bob's replies had none, so each cost the separate call.
    labelled = [r.agent for r in llm.requests if r.purpose == "emotion_label"]
    assert labelled == ["Bob", "Bob"]
    events = read_events(tmp_path / "r" / "events.jsonl").events
    messages = [e for e in events if e.kind == "message" and e.source in ("Alice", "Bob")]
    assert len(messages) == 4
    assert all("feeling" not in e.payload["text"] and "feeling" not in e.payload["raw"] for e in messages)
    assert all(not e.payload.get("repairs") for e in messages if e.source == "Alice")  # the quote is the grammar's
    labels = self_labels(tmp_path / "r")
    by_agent = {(e.source, e.payload["details"]["mode"], e.payload["details"]["label"]) for e in labels}
    assert by_agent == {("Alice", "folded", "delighted"), ("Bob", "fallback", "angry")}
    bob = next(e for e in labels if e.source == "Bob")
    assert bob.payload["details"]["repairs"] == [
        "folded label missing (the reply ended before the suffix): asked with a separate call"
    ]
    alice = next(e for e in labels if e.source == "Alice")
    assert alice.payload["applied"] is True and alice.payload["details"]["raw"] == "[feeling: delighted]"


class NoGrammarLLM(FakeLLM):
    """A backend that cannot enforce the suffix (e.g. a generic OpenAI-compatible server)."""

    def supports(self, constraint: Any) -> bool:
        return False


async def test_folded_on_a_backend_without_grammars_asks_separately_and_says_why(tmp_path: Path) -> None:
    spec = load_scenario("bertrand-emotion", {"rounds": 1, "sections.emotion.self_label": "folded"})
    llm = NoGrammarLLM(folded_reply)
    await Run(spec, tmp_path / "r", llm=llm).execute()
    talk = [r for r in llm.requests if r.purpose == "talk"]
    assert all(r.constraint is None and r.stop[:2] == ['"', "\n"] and r.max_tokens == 40 for r in talk)
    assert sum(r.purpose == "emotion_label" for r in llm.requests) == len(talk) == 2
    for ev in self_labels(tmp_path / "r"):
        assert ev.payload["details"]["mode"] == "fallback"
        assert ev.payload["details"]["repairs"] == [
            "folded label missing (the backend cannot enforce a suffix): asked with a separate call"
        ]


async def test_separate_mode_ignores_suffixes_and_off_makes_no_label_call(tmp_path: Path) -> None:
    llm = FakeLLM(folded_reply)
    await Run(load_scenario("bertrand-emotion", {"rounds": 1}), tmp_path / "s", llm=llm).execute()
    assert all(r.constraint is None for r in llm.requests if r.purpose == "talk")
    assert {e.payload["details"]["mode"] for e in self_labels(tmp_path / "s")} == {"separate"}
    off = FakeLLM(folded_reply)
    spec = load_scenario("bertrand-emotion", {"rounds": 1, "sections.emotion.self_label": "off"})
    await Run(spec, tmp_path / "o", llm=off).execute()
    assert not any(r.purpose == "emotion_label" for r in off.requests) and not self_labels(tmp_path / "o")


def test_the_old_boolean_self_label_still_reads() -> None:
    assert Config(self_label=True).self_label == "separate"
    assert Config(self_label=False).self_label == "off"
    assert Config().self_label == "separate"
    deception = load_scenario("deception")  # says `self_label: false`
    assert deception.sections["emotion"]["self_label"] is False
    assert Config.model_validate(deception.sections["emotion"]).self_label == "off"
    with pytest.raises(ScenarioError):
        load_scenario("bertrand-emotion", {"sections.emotion.self_label": "sometimes"})
