"""Agents hosted by workers over a real broker: same transcript, no-shows, restarts, refusals."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from sociallm.backbone.base import GenerationRequest
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.events import Event
from sociallm.runtime.mqtt import MqttBus, listen, parse_bus_url
from sociallm.runtime.remote import Distribution, Down, RemoteHub, Up
from sociallm.runtime.run import Run
from sociallm.runtime.scenario import load_scenario
from sociallm.runtime.worker import Worker
from tests.fakes import FakeLLM, default_reply
from tests.runtime.broker import MOSQUITTO, make_broker

pytestmark = pytest.mark.integration


def history_reply(req: GenerationRequest) -> str:
    """Depends on everything the agent saw: a remote agent that missed or reordered an event answers differently."""
    if req.constraint is not None:
        return default_reply(req)
    lines = (req.prompt or "").splitlines()
    return f" I am {req.agent}; I have seen {len(lines)} lines, the last {lines[-2][:40]!r}."


@pytest.fixture
async def broker(tmp_path):
    b = make_broker(tmp_path / "broker")
    await b.start()
    yield b
    await b.stop()


def transcript(run_dir: Path) -> list[tuple]:
    events = read_events(run_dir / "events.jsonl").events
    return [
        (e.tick, e.kind, e.source, e.channel, e.payload.get("text"), e.payload.get("value"))
        for e in events
        if e.kind in ("message", "action", "outcome")
    ]


async def start_worker(broker, run_id: str, agents: list[str], llm) -> tuple[Worker, asyncio.Task]:
    w = Worker(run_id, agents, parse_bus_url(broker.url), llm=llm, worker_id=f"w-{'-'.join(agents)}")
    return w, asyncio.create_task(w.serve())


async def test_remote_agent_gives_the_same_transcript_as_in_process(tmp_path, broker):
    spec = load_scenario("bertrand", {"rounds": 3})
    local = FakeLLM(history_reply)
    await Run(spec, tmp_path / "inproc", llm=local, run_id="same-1").execute()

    run_llm, worker_llm = FakeLLM(history_reply), FakeLLM(history_reply)
    _, task = await start_worker(broker, "same-2", ["Bob"], worker_llm)
    dist = Distribution(bus=parse_bus_url(broker.url), remote_agents=["Bob"], timeout_s=20)
    result = await Run(spec, tmp_path / "mqtt", llm=run_llm, run_id="same-2", distribution=dist).execute()
    await asyncio.wait_for(task, 10)

    assert result.status == "completed"
    assert transcript(tmp_path / "mqtt") == transcript(tmp_path / "inproc")
    bob_prompts = [r.prompt for r in local.requests if r.agent == "Bob"]
    assert [r.prompt for r in worker_llm.requests] == bob_prompts  # saw exactly what a local Bob saw
    assert all(r.agent == "Alice" for r in run_llm.requests)
    events = read_events(tmp_path / "mqtt" / "events.jsonl").events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    bob_calls = [e for e in events if e.kind == "llm_call" and e.source == "Bob"]
    assert len(bob_calls) == len(worker_llm.requests)  # the worker's model calls are logged by the run
    import json

    checkpoint = json.loads((tmp_path / "mqtt" / "checkpoint.json").read_text())
    assert checkpoint["agents"]["Bob"]["history"]  # the worker's state comes back for checkpoints


async def test_two_workers_host_every_agent(tmp_path, broker):
    spec = load_scenario("bertrand", {"rounds": 2})
    workers = [await start_worker(broker, "all-1", [n], FakeLLM()) for n in ("Alice", "Bob")]
    dist = Distribution(bus=parse_bus_url(broker.url), remote_agents=["Alice", "Bob"], timeout_s=20)
    result = await Run(spec, tmp_path / "r", llm=FakeLLM(), run_id="all-1", distribution=dist).execute()
    await asyncio.gather(*(asyncio.wait_for(t, 10) for _, t in workers))
    assert result.status == "completed"
    outcomes = [e for e in read_events(tmp_path / "r" / "events.jsonl").events if e.kind == "outcome"]
    assert [o.payload["prices"] for o in outcomes] == [{"Alice": 1.85, "Bob": 1.85}] * 2


@pytest.mark.skipif(MOSQUITTO is None, reason="needs the mosquitto binary (its sessions persist across a restart)")
async def test_broker_restart_mid_run(tmp_path, broker):
    spec = load_scenario("bertrand", {"rounds": 3})
    cfg = parse_bus_url(broker.url)
    link, stream = await listen(cfg, "restart-1", "watcher")
    _, task = await start_worker(broker, "restart-1", ["Bob"], FakeLLM())
    dist = Distribution(bus=cfg, remote_agents=["Bob"], timeout_s=30)
    run = Run(spec, tmp_path / "r", llm=FakeLLM(), run_id="restart-1", distribution=dist)
    restarted = asyncio.Event()

    async def bounce(r, tick):
        if tick == 2:
            await broker.stop()

            async def back():
                await asyncio.sleep(1.0)
                await broker.start()
                restarted.set()

            asyncio.get_running_loop().create_task(back())

    run.round_hooks.append(bounce)
    result = await run.execute()
    await asyncio.wait_for(task, 20)
    assert restarted.is_set() and result.status == "completed"
    logged = read_events(tmp_path / "r" / "events.jsonl").events
    assert not [e for e in logged if e.payload.get("event") == "no_show"]
    heard = []
    while len(heard) < len(logged):
        heard.append(await asyncio.wait_for(stream.queue.get(), 20))
    await asyncio.sleep(0.3)
    assert stream.queue.empty()
    assert [e.id for e in heard] == [e.id for e in logged]  # exactly what was published, none twice
    await link.aclose()


async def test_killed_worker_gives_no_shows_and_the_run_finishes(tmp_path, broker):
    spec = load_scenario("bertrand", {"rounds": 3, "backbone.max_tokens": 8})
    env = {"PYTHONPATH": str(Path.cwd())}
    import os

    proc = await asyncio.to_thread(
        subprocess.Popen,
        [
            sys.executable,
            "-m",
            "sociallm.cli",
            "worker",
            "--run",
            "kill-1",
            "--agents",
            "Bob",
            "--bus",
            broker.url,
            "--id",
            "local-kill",
        ],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )
    dist = Distribution(bus=parse_bus_url(broker.url), remote_agents=["Bob"], timeout_s=60, ready_timeout_s=120)
    run = Run(spec, tmp_path / "r", llm=FakeLLM(), run_id="kill-1", distribution=dist)

    async def kill(r, tick):
        if tick == 2:
            proc.kill()
            await asyncio.to_thread(proc.wait)

    run.round_hooks.append(kill)
    try:
        result = await run.execute()
    finally:
        proc.kill()
    assert result.status == "completed" and result.rounds_completed == 3
    events = read_events(tmp_path / "r" / "events.jsonl").events
    no_shows = [e for e in events if e.payload.get("event") == "no_show"]
    assert no_shows and {e.payload["agent"] for e in no_shows} == {"Bob"} and min(e.tick for e in no_shows) == 2
    assert "is gone" in no_shows[0].payload["reason"]  # the broker's last will: no 60 s wait
    round1 = [e for e in events if e.kind == "message" and e.source == "Bob" and e.tick == 1]
    assert round1 and not round1[0].payload.get("no_show")  # the real model answered while the worker lived
    assert [e.payload.get("missing") for e in events if e.kind == "action" and e.source == "Bob"] == [None, True, True]


async def test_abort_on_no_show(tmp_path, broker):
    from sociallm.runtime.remote import NoShow

    spec = load_scenario("bertrand", {"rounds": 2})
    _, task = await start_worker(broker, "abort-1", ["Bob"], FakeLLM())
    dist = Distribution(bus=parse_bus_url(broker.url), remote_agents=["Bob"], timeout_s=1.0, on_no_show="abort")
    run = Run(spec, tmp_path / "r", llm=FakeLLM(), run_id="abort-1", distribution=dist)

    async def stall(r, tick):
        task.cancel()

    run.round_hooks.append(stall)
    with pytest.raises(NoShow, match="abort"):
        await run.execute()
    import json

    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["status"] == "failed"


async def test_missing_worker_is_a_clear_error(tmp_path, broker):
    from sociallm.runtime.remote import NoShow

    spec = load_scenario("bertrand", {"rounds": 1})
    dist = Distribution(bus=parse_bus_url(broker.url), remote_agents=["Bob"], ready_timeout_s=0.5)
    with pytest.raises(NoShow, match="sociallm worker --run nobody-1 --agents Bob"):
        await Run(spec, tmp_path / "r", llm=FakeLLM(), run_id="nobody-1", distribution=dist).execute()


async def test_hub_refuses_answers_from_workers_that_do_not_host_the_agent(broker):
    bus = MqttBus("hub-1", parse_bus_url(broker.url))
    emitted: list[Event] = []

    async def emit(ev):
        emitted.append(ev)
        return ev

    hub = RemoteHub(bus, emit)
    hub.start({"Bob"})
    hub.on_message("t", Up(kind="ready", worker="w1", agents=["Bob"]).model_dump_json().encode())
    hub.on_message("t", Up(kind="ready", worker="w2", agents=["Bob", "Carol"]).model_dump_json().encode())
    rogue = Event(kind="affect", source="Bob", payload={"valence": 1})
    hub.on_message("t", Up(kind="propose", worker="w2", agent="Bob", events=[rogue]).model_dump_json().encode())
    hub.on_message("t", b"garbage")
    await asyncio.sleep(0.05)
    assert hub.owner == {"Bob": "w1"} and emitted == []
    assert any("already hosted by w1" in p for p in hub.problems)
    assert any("'Carol', which this run does not host" in p for p in hub.problems)
    assert any("from w2, which does not host it" in p for p in hub.problems)
    assert any("not a worker message" in p for p in hub.problems)
    await hub.aclose()


async def test_worker_acts_only_for_its_agents(broker):
    w = Worker("solo-1", ["Alice"], parse_bus_url(broker.url), llm=FakeLLM())
    await w._answer(Down(kind="turn", agent="Bob"))
    assert w.refused == ["Bob"]


async def test_cli_run_with_local_workers_on_the_embedded_model(tmp_path, broker):
    """`sociallm run --bus --workers 2`: two worker processes share the run's model server."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "sociallm.cli", "run", "bertrand", "--rounds", "2", "--set", "backbone.max_tokens=12"]
    cmd += ["--bus", broker.url, "--workers", "2", "--out", str(out), "-q"]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    stdout, _ = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, stdout.decode()[-2000:]
    events = read_events(out / "events.jsonl").events
    talk = [e for e in events if e.kind == "message"]
    assert {e.source for e in talk} == {"Alice", "Bob"} and not [e for e in talk if e.payload.get("no_show")]
    calls = [e for e in events if e.kind == "llm_call"]
    assert {e.source for e in calls} == {"Alice", "Bob"} and all(e.payload.get("text") is not None for e in calls)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_resume_gives_a_fresh_worker_its_agents_state(tmp_path, broker):
    from sociallm.backbone.base import BackendError

    spec = load_scenario("bertrand", {"rounds": 3})
    dist = Distribution(bus=parse_bus_url(broker.url), remote_agents=["Bob"], timeout_s=20)
    _, task = await start_worker(broker, "resume-1", ["Bob"], FakeLLM(history_reply))
    failing = FakeLLM(history_reply, fail_at=5)  # Alice's model dies in round 2 (2 calls per round)
    with pytest.raises(BackendError):
        await Run(spec, tmp_path / "r", llm=failing, run_id="resume-1", distribution=dist).execute()
    await asyncio.wait_for(task, 10)

    fresh = FakeLLM(history_reply)
    _, task = await start_worker(broker, "resume-1", ["Bob"], fresh)
    result = await Run.resume(tmp_path / "r", llm=FakeLLM(history_reply), distribution=dist).execute()
    await asyncio.wait_for(task, 10)
    assert result.status == "completed" and result.rounds_completed == 3
    first = fresh.requests[0].prompt
    assert 'Alice: "I am Alice' in first and "round 1" in first.lower()  # round 1 came back with the state
    events = read_events(tmp_path / "r" / "events.jsonl").events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
