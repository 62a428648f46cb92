"""Agents hosted by workers over a real broker: same transcript, no-shows, restarts, refusals."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from sociallm.backbone.base import GenerationRequest
from sociallm.orchestration.remote import Distribution, Down, RemoteHub, Up
from sociallm.orchestration.run import Run
from sociallm.orchestration.worker import Worker
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.events import Event
from sociallm.runtime.mqtt import MqttBus, listen, parse_bus_url
from sociallm.runtime.mqtt_security import KEY_FILE, AgentSigner, Credential
from sociallm.runtime.scenario import load_scenario
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


def run_key(run_dir: Path, run_id: str) -> Credential:
    """The run's bus key, made before the run starts so that workers can be started first (the run reuses it)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / KEY_FILE).exists():
        return Credential.load(run_dir / KEY_FILE)
    cred = Credential.generate(run_id)
    cred.save(run_dir / KEY_FILE)
    return cred


async def start_worker(broker, run_dir: Path, run_id: str, agents: list[str], llm) -> tuple[Worker, asyncio.Task]:
    cred = run_key(run_dir, run_id).for_agents(agents)
    w = Worker(run_id, agents, parse_bus_url(broker.url), credential=cred, llm=llm, worker_id=f"w-{'-'.join(agents)}")
    return w, asyncio.create_task(w.serve())


async def test_remote_agent_gives_the_same_transcript_as_in_process(tmp_path, broker):
    spec = load_scenario("bertrand", {"rounds": 3})
    local = FakeLLM(history_reply)
    await Run(spec, tmp_path / "inproc", llm=local, run_id="same-1").execute()

    run_llm, worker_llm = FakeLLM(history_reply), FakeLLM(history_reply)
    _, task = await start_worker(broker, tmp_path / "mqtt", "same-2", ["Bob"], worker_llm)
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
    workers = [await start_worker(broker, tmp_path / "r", "all-1", [n], FakeLLM()) for n in ("Alice", "Bob")]
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
    key = run_key(tmp_path / "r", "restart-1")
    link, stream = await listen(cfg, "restart-1", "watcher", credential=key.for_watcher())
    _, task = await start_worker(broker, tmp_path / "r", "restart-1", ["Bob"], FakeLLM())
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
    key = run_key(tmp_path / "r", "kill-1").for_agents(["Bob"])
    env = {"PYTHONPATH": str(Path.cwd()), "SOCIALLM_BUS_KEY": key.model_dump_json()}
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
    from sociallm.orchestration.remote import NoShow

    spec = load_scenario("bertrand", {"rounds": 2})
    _, task = await start_worker(broker, tmp_path / "r", "abort-1", ["Bob"], FakeLLM())
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
    from sociallm.orchestration.remote import NoShow

    spec = load_scenario("bertrand", {"rounds": 1})
    dist = Distribution(bus=parse_bus_url(broker.url), remote_agents=["Bob"], ready_timeout_s=0.5)
    with pytest.raises(NoShow, match="sociallm worker --run nobody-1 --agents Bob"):
        await Run(spec, tmp_path / "r", llm=FakeLLM(), run_id="nobody-1", distribution=dist).execute()


def signed_up(key: Credential, up: Up, epoch: int, signer: AgentSigner | None = None) -> bytes:
    """An Up as a worker holding `key` sends it: sealed for the run, signed with its agents' keys."""
    from sociallm.orchestration.remote import speaks_for
    from sociallm.runtime.mqtt import control_topic, pack

    topic = control_topic(key.run, "up", up.worker)
    signer = signer or AgentSigner(key, sender=up.worker, epoch=epoch)
    agents = speaks_for(up)
    return signer.wrap(topic, pack(up.model_dump_json().encode(), agents, key, topic), agents)


async def test_hub_refuses_answers_from_workers_that_do_not_host_the_agent(broker):
    master = Credential.generate("hub-1")
    bus = MqttBus("hub-1", parse_bus_url(broker.url), credential=master)
    emitted: list[Event] = []

    async def emit(ev):
        emitted.append(ev)
        return ev

    hub = RemoteHub(bus, emit)
    hub.start({"Bob"})
    w1, w2 = master.for_agents(["Bob"]), master.for_agents(["Bob", "Carol"])
    signers = {"w1": AgentSigner(w1, "w1", bus.epoch), "w2": AgentSigner(w2, "w2", bus.epoch)}

    def up(key: Credential, msg: Up) -> None:
        data = signed_up(key, msg, bus.epoch, signers[msg.worker])
        hub.on_message(f"sociallm/hub-1/_ctl/up/{msg.worker}", data)

    up(w1, Up(kind="ready", worker="w1", agents=["Bob"]))
    up(w2, Up(kind="ready", worker="w2", agents=["Bob", "Carol"]))
    rogue = Event(kind="affect", source="Bob", payload={"valence": 1})
    up(w2, Up(kind="propose", worker="w2", agent="Bob", events=[rogue]))
    hub.on_message("sociallm/hub-1/_ctl/up/w3", b"garbage")
    # w1 hosts Bob but proposes an outcome (the environment's) and speaks for Carol without her key
    up(w1, Up(kind="propose", worker="w1", events=[Event(kind="outcome", source="Bob")]))
    forged = signed_up(w1, Up(kind="propose", worker="w1", events=[rogue]), bus.epoch, signers["w1"])
    forged = forged.replace(b'"a":["Bob"]', b'"a":[]')
    hub.on_message("sociallm/hub-1/_ctl/up/w1", forged)
    await asyncio.sleep(0.05)
    assert hub.owner == {"Bob": "w1"} and emitted == []
    assert any("already hosted by w1" in p for p in hub.problems)
    assert any("'Carol', which this run does not host" in p for p in hub.problems)
    assert any("from w2, which does not host it" in p for p in hub.problems)
    assert any("unsigned" in p for p in hub.problems)
    assert any("outcome events are answers or the environment's" in p for p in hub.problems)
    assert any("mis-signed" in p for p in hub.problems)
    await hub.aclose()


async def test_worker_acts_only_for_its_agents(broker):
    key = Credential.generate("solo-1").for_agents(["Alice"])
    w = Worker("solo-1", ["Alice"], parse_bus_url(broker.url), credential=key, llm=FakeLLM())
    await w._answer(Down(kind="turn", agent="Bob"))
    assert w.refused == ["Bob"]
    from sociallm.orchestration.worker import WorkerError

    with pytest.raises(WorkerError, match="no key for Bob"):
        Worker("solo-1", ["Alice", "Bob"], parse_bus_url(broker.url), credential=key, llm=FakeLLM())


async def test_resume_gives_a_fresh_worker_its_agents_state(tmp_path, broker):
    from sociallm.backbone.base import BackendError

    spec = load_scenario("bertrand", {"rounds": 3})
    dist = Distribution(bus=parse_bus_url(broker.url), remote_agents=["Bob"], timeout_s=20)
    _, task = await start_worker(broker, tmp_path / "r", "resume-1", ["Bob"], FakeLLM(history_reply))
    failing = FakeLLM(history_reply, fail_at=5)  # Alice's model dies in round 2 (2 calls per round)
    with pytest.raises(BackendError):
        await Run(spec, tmp_path / "r", llm=failing, run_id="resume-1", distribution=dist).execute()
    await asyncio.wait_for(task, 10)

    fresh = FakeLLM(history_reply)
    _, task = await start_worker(broker, tmp_path / "r", "resume-1", ["Bob"], fresh)
    result = await Run.resume(tmp_path / "r", llm=FakeLLM(history_reply), distribution=dist).execute()
    await asyncio.wait_for(task, 10)
    assert result.status == "completed" and result.rounds_completed == 3
    first = fresh.requests[0].prompt
    assert 'Alice: "I am Alice' in first and "round 1" in first.lower()  # round 1 came back with the state
    events = read_events(tmp_path / "r" / "events.jsonl").events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


@pytest.mark.skipif(MOSQUITTO is None, reason="needs the mosquitto binary (its sessions persist across a restart)")
async def test_a_worker_that_dies_during_a_broker_outage_no_shows_after_one_turn_timeout(tmp_path, broker):
    """Silence after an outage is suspect, not death: one turn waits out its timeout, the next ones no-show at once."""
    spec = load_scenario("bertrand", {"rounds": 3})
    _, task = await start_worker(broker, tmp_path / "r", "dies-1", ["Bob"], FakeLLM())
    dist = Distribution(bus=parse_bus_url(broker.url), remote_agents=["Bob"], timeout_s=4)
    run = Run(spec, tmp_path / "r", llm=FakeLLM(), run_id="dies-1", distribution=dist)

    async def outage(r, tick):
        if tick == 2:
            await broker.stop()
            task.cancel()  # the worker dies while the broker is down: no will can announce it
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.sleep(1.0)
            await broker.start()

    run.round_hooks.append(outage)
    result = await run.execute()
    assert result.status == "completed"
    no_shows = [
        e.payload for e in read_events(tmp_path / "r" / "events.jsonl").events if e.payload.get("event") == "no_show"
    ]
    assert no_shows and all(n["agent"] == "Bob" for n in no_shows)
    assert "within 4" in no_shows[0]["reason"]
    assert all("gone" in n["reason"] for n in no_shows[1:])  # no second wait: declared gone after one timeout


def outcome_appraisals(run_dir: Path) -> list[tuple]:
    """Each affect change an outcome caused: whose, which round, the game's impulse, the state after."""
    return [
        (e.source, e.tick, e.payload["impulse"], e.payload["before"], e.payload["after"])
        for e in read_events(run_dir / "events.jsonl").events
        if e.kind == "affect" and e.payload.get("cause") == "outcome"
    ]


async def test_workers_appraise_outcomes_like_the_run_process(tmp_path, broker):
    """Workers build the same RunResources as the run (environment included): emotion appraises outcomes."""
    spec = load_scenario("bertrand-emotion", {"rounds": 3})
    await Run(spec, tmp_path / "inproc", llm=FakeLLM(), run_id="appraise-1").execute()
    local = outcome_appraisals(tmp_path / "inproc")
    assert len(local) >= 2 * 2  # both firms, every round after the first at least

    workers = [await start_worker(broker, tmp_path / "r", "appraise-2", [n], FakeLLM()) for n in ("Alice", "Bob")]
    dist = Distribution(bus=parse_bus_url(broker.url), remote_agents=["Alice", "Bob"], timeout_s=20)
    result = await Run(spec, tmp_path / "r", llm=FakeLLM(), run_id="appraise-2", distribution=dist).execute()
    await asyncio.gather(*(asyncio.wait_for(t, 10) for _, t in workers))
    assert result.status == "completed"
    assert all(w.resources.environment is not None for w, _ in workers)
    assert outcome_appraisals(tmp_path / "r") == local
