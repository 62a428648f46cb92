"""A society at scale: the shared transcript, the router, calls per action and prompt size.

Logic tests on the instant fake model and a hashed encoder (speed is measured in bench/bench_scale.py).
"""

from __future__ import annotations

from collections import Counter, deque
from pathlib import Path

import pytest

import sociallm.backbone.encoders as encoders
from sociallm.agents.prompts import render_event
from sociallm.environments.village import society
from sociallm.orchestration.run import Run
from sociallm.runtime.events import Event
from sociallm.runtime.router import Router
from sociallm.runtime.scenario import load_scenario, parse_scenario
from tests.fakes import FakeLLM
from tests.memory.helpers import memory_reply
from tests.runtime.all_sections_run import HashEncoder384

TRANSCRIPT = {"message", "observation", "outcome", "action", "system"}


def accepts(spec, name: str, event: Event) -> bool:
    """What an agent's own observe accepts (Agent.observe's filter)."""
    if not event.visible_to(name):
        return False
    return event.kind != "message" or event.channel in spec.index.channels_of(name)


async def test_shared_transcript_is_exactly_what_each_agent_saw(tmp_path: Path) -> None:
    spec = parse_scenario(society(20, rounds=3, sections=False), "village-20")
    # The old way, kept here as the reference: each agent's own deque of the lines it accepted.
    own = {n: deque(maxlen=spec.agent.history_lines) for n in spec.agent_names}
    private = spec.index.private

    def reference(event: Event) -> None:
        for n in spec.agent_names:
            if event.kind in TRANSCRIPT and accepts(spec, n, event):
                line = render_event(event, n, private)
                if line is not None:
                    own[n].append(line)

    checked = []

    def compare(done: int, total: int) -> None:
        for n in spec.agent_names:
            assert run.agents[n].history == list(own[n]), n
        checked.append(done)

    run = Run(spec, tmp_path / "r", llm=FakeLLM(), taps=[reference], on_round=compare)
    await run.execute()
    assert checked == [1, 2, 3]


def test_router_reaches_every_agent_that_would_accept_in_scenario_order() -> None:
    spec = parse_scenario(society(20, sections=False), "village-20")

    class Listener:
        def __init__(self, name: str) -> None:
            self.name = name
            self.got: list[str] = []

        def observe(self, event: Event) -> None:
            self.got.append(event.id)
            order.append(self.name)

    order: list[str] = []
    agents = {n: Listener(n) for n in spec.agent_names}
    router = Router(spec, agents)
    names = spec.agent_names
    events = [
        Event(kind="message", source=names[0], channel="h0", to=names[1:8]),
        Event(kind="message", source=names[9], channel="g1", to=[names[8]]),
        Event(kind="message", source=names[3], channel="h0", to=[names[12]]),  # not on h0: must not see it
        Event(kind="system", source="scheduler", channel="system"),
        Event(kind="outcome", source="market", to=[names[5]]),
        Event(kind="llm_call", source=names[7], channel="llm", to=[names[7]]),
    ]
    for ev in events:
        order.clear()
        router.deliver(ev)
        want = [n for n in names if accepts(spec, n, ev)]
        assert [n for n in order if accepts(spec, n, ev)] == want, ev
        assert len(order) <= len(want) + len(ev.to) + 1  # never the whole village for a private event


def test_prompts_do_not_grow_with_the_village(tmp_path: Path) -> None:
    import asyncio

    sizes = {}
    for n in (8, 160):
        llm = FakeLLM()
        spec = parse_scenario(society(n, rounds=2, sections=False), f"village-{n}")
        asyncio.run(Run(spec, tmp_path / f"r{n}", llm=llm).execute())
        talk = [len(r.prompt or "") for r in llm.requests if r.purpose == "talk"]
        sizes[n] = sum(talk) / len(talk)
        stops = max(len(r.stop) for r in llm.requests if r.purpose == "talk")
        assert stops <= 2 + 8  # quote, newline, and the speakers an agent can see
    assert sizes[160] == pytest.approx(sizes[8], rel=0.10)


async def test_village_with_all_three_parts_makes_at_most_three_calls_per_action(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(encoders, "make_encoder", lambda name="minilm", **options: HashEncoder384(name))
    spec = load_scenario("village", {"rounds": 3})
    llm = FakeLLM(reply=memory_reply)
    result = await Run(spec, tmp_path / "r", llm=llm).execute()
    assert result.status == "completed"
    calls = Counter(r.purpose for r in llm.requests)
    actions = calls["talk"] + calls["price"]
    assert actions == 3 * (12 + 2 + 3 + 2 + 12)  # square, well, tavern, orchard, pricing
    assert calls["emotion_label"] and calls["memory_importance"] and calls["memory_reflection"]
    assert sum(calls.values()) / actions <= 3.0, calls
    assert "memory_questions" not in calls and "memory_insight" not in calls  # one call per reflection


async def test_village_failed_and_resumed_logs_what_a_clean_run_logs(tmp_path: Path, monkeypatch) -> None:
    """The society's memory settings (run-wide ratings, one collection written per round, mirror reads,
    one-call reflections) resume exactly: a run that fails mid-round and is resumed logs what a clean
    run logs."""
    from sociallm.backbone.base import BackendError
    from sociallm.orchestration.replay import normalised_log

    monkeypatch.setattr(encoders, "make_encoder", lambda name="minilm", **options: HashEncoder384(name))
    spec = parse_scenario(society(16, rounds=3), "village-16")
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    await Run(spec, clean, llm=FakeLLM(reply=memory_reply)).execute()
    with pytest.raises(BackendError):  # ~90 calls a round: this fails inside round 2
        await Run(spec, broken, llm=FakeLLM(reply=memory_reply, fail_at=130)).execute()
    import json

    assert json.loads((broken / "checkpoint.json").read_text())["rounds_completed"] == 1
    resumed = await Run.resume(broken, llm=FakeLLM(reply=memory_reply)).execute()
    assert resumed.status == "completed"
    assert normalised_log(broken) == normalised_log(clean)
