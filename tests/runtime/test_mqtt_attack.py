"""A rogue broker client against a live run with two workers: forged, replayed and unsigned messages on every topic.

The rogue can connect to the broker and publish anywhere (an open broker, or a stolen broker account),
but holds no run key. The run must come out exactly as without it: same transcript, same prompts,
no worker gone, and the rogue reads nothing private.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sociallm.orchestration.remote import Distribution
from sociallm.orchestration.run import Run
from sociallm.orchestration.worker import Worker
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.mqtt import parse_bus_url
from sociallm.runtime.scenario import load_raw, parse_scenario, resolve
from tests.fakes import FakeLLM
from tests.runtime.broker import make_broker
from tests.runtime.rogue import MARK, Rogue
from tests.runtime.test_worker import history_reply, run_key, transcript

pytestmark = pytest.mark.integration

GROUPS = {"wAB": ["Alice", "Bob"], "wC": ["Carol"]}


def three_firms(rounds: int):
    """Alice and Bob share a private backroom; Carol only hears the public chat."""
    raw = load_raw(resolve("bertrand-private"))
    raw["rounds"] = rounds
    raw["agents"].append({"name": "Carol", "persona": "Carol runs a discount chain."})
    raw["schedule"] = [
        {"name": "chat", "kind": "talk", "mode": "sequential", "channel": "public", "turns": 1},
        {"name": "deal", "kind": "talk", "mode": "sequential", "channel": "backroom", "turns": 1},
        {"name": "pricing", "kind": "act", "mode": "simultaneous", "action": "price"},
    ]
    return parse_scenario(raw, "three firms")


class SlowFake(FakeLLM):
    async def generate(self, requests):
        await asyncio.sleep(0.05)
        return await super().generate(requests)


async def play(tmp_path: Path, broker, run_id: str, rounds: int, rogue: Rogue | None):
    spec = three_firms(rounds)
    run_dir = tmp_path / run_id
    key = run_key(run_dir, run_id)
    cfg = parse_bus_url(broker.url)
    llms = {w: SlowFake(history_reply) for w in GROUPS}
    workers = {
        w: Worker(run_id, agents, cfg, credential=key.for_agents(agents), llm=llms[w], worker_id=w)
        for w, agents in GROUPS.items()
    }
    tasks = [asyncio.create_task(w.serve()) for w in workers.values()]
    attacker = None
    if rogue is not None:
        await rogue.link.start()
        attacker = asyncio.create_task(rogue.keep_attacking())
    dist = Distribution(bus=cfg, remote_agents=["Alice", "Bob", "Carol"], timeout_s=30)
    run = Run(spec, run_dir, llm=FakeLLM(history_reply), run_id=run_id, distribution=dist)
    try:
        result = await run.execute()
        done, _ = await asyncio.wait(tasks, timeout=20)
    finally:
        if attacker is not None:
            attacker.cancel()
            await rogue.link.aclose(drain_s=0)
    assert len(done) == 2 and all(t.exception() is None for t in done)
    return result, run, workers, llms


async def test_a_rogue_client_changes_nothing(tmp_path):
    broker = make_broker(tmp_path / "broker")
    await broker.start()
    try:
        base, _, _, base_llms = await play(tmp_path, broker, "calm-1", 3, None)
        rogue = Rogue(broker.url, "attacked-1", GROUPS)
        result, run, workers, llms = await play(tmp_path, broker, "attacked-1", 3, rogue)
    finally:
        await broker.stop()

    assert base.status == result.status == "completed"
    log = read_events(tmp_path / "attacked-1" / "events.jsonl").events
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    assert MARK not in (tmp_path / "attacked-1" / "events.jsonl").read_text()
    assert transcript(tmp_path / "attacked-1") == transcript(tmp_path / "calm-1")
    assert not [e for e in log if e.payload.get("event") == "no_show"]
    for w in GROUPS:  # every agent saw and was asked exactly what it would have been without the rogue
        assert [r.prompt for r in llms[w].requests] == [r.prompt for r in base_llms[w].requests]
        assert all(MARK not in (r.prompt or "") for r in llms[w].requests)
    assert rogue.sent > 300
    # every kind of attack was seen and refused with a reason, by the run and by both workers
    reasons = " ".join([*run.remote.hub.problems, *(d for w in workers.values() for d in w.dropped)])
    for why in ("unsigned", "mis-signed", "signed by"):
        assert why in reasons, why
    for w in workers.values():
        assert w.dropped and w.stream is not None and w.stream.repeats > 0  # replays counted, never delivered

    # what the rogue could read: the public chat, never the backroom, a prompt, an agent's rules or state
    heard = b"\n".join(p for _, p in rogue.heard)
    backroom = [e.text for e in log if e.channel == "backroom"]
    assert backroom and not any(t.encode() in heard for t in backroom)
    assert any(e.text.encode() in heard for e in log if e.channel == "public" and e.kind == "message")
    prompts = [e.payload["prompt"] for e in log if e.kind == "llm_call"]
    assert prompts and not any(p[-200:].encode() in heard for p in prompts)
    assert run.env.rules("Alice").encode() not in heard
    # Carol's worker holds no backroom key: it kept the order but never opened them
    carol_prompts = " ".join(r.prompt or "" for r in llms["wC"].requests)
    assert not any(t in carol_prompts for t in backroom)
