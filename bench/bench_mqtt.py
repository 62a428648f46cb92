"""The MQTT bus on a real broker: round trips, throughput, per-turn overhead, a 1,000-agent society.

Starts its own Mosquitto (twice: with and without TCP_NODELAY on both ends) on free ports. Also what
security costs: signing, checking and sealing one event, and the round trip with signed messages.

    python bench/bench_mqtt.py [--n 300] [--agents 1000] [--workers 4] [--rounds 2]

An instant fake model stands in for the LLM here (and only here and in tests): the point is what the
bus and the turn protocol cost, not what a model costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sociallm.backbone.base import GenerationRequest, GenerationResult
from sociallm.orchestration.remote import Distribution
from sociallm.orchestration.run import Run
from sociallm.runtime.events import Event
from sociallm.runtime.mqtt import MqttBus, MqttLink, encode_event, listen, pack, parse_bus_url, unpack
from sociallm.runtime.mqtt_security import KEY_FILE, AgentSigner, Credential, Gate, ReadPolicy, RunSigner
from sociallm.runtime.scenario import load_scenario, parse_scenario
from tests.runtime.broker import Mosquitto


class InstantLLM:
    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        out = []
        for r in requests:
            text = "1.5" if r.constraint is not None and r.constraint.kind == "number" else " Let us keep prices high."
            out.append(GenerationResult(text=text, prompt_tokens=1, completion_tokens=1, model="instant"))
        return out

    def describe(self) -> dict:
        return {"kind": "instant-bench"}

    async def aclose(self) -> None:
        return None


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# -- 0. what security costs, per event ---------------------------------------------------------------
def security_costs(n: int = 2000) -> list[tuple[str, float]]:
    master = Credential.generate("bench")
    policy = ReadPolicy(agents={"Alice", "Bob"})
    signer, gate = RunSigner(master, epoch=1), Gate(master.for_agents(["Bob"]))
    worker = AgentSigner(master.for_agents(["Bob"]), sender="w", epoch=1)
    run_gate = Gate(master)
    public = Event(kind="message", source="Alice", payload={"text": "Let us keep prices high this round. " * 3})
    private = Event(kind="llm_call", source="Bob", channel="llm", to=["Bob"], payload={"prompt": "x" * 1500})
    for i, ev in enumerate((public, private), 1):
        ev.seq, ev.run = i, "bench"
    topic, up = "sociallm/bench/public", "sociallm/bench/_ctl/up/w"
    marks = ["Alice", "Bob", "Carol", "Dan"]

    def per(fn) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n * 1e6

    body = public.model_dump_json().encode()
    signed = [signer.wrap(topic, body, ["Bob"]) for _ in range(n)]
    it, mit = iter(signed), iter([signer.wrap(topic, body, ["Bob"]) for _ in range(n)])
    watcher = Gate(master.for_watcher())
    wsigned = [worker.wrap(up, body, ["Bob"]) for _ in range(n)]
    wit = iter(wsigned)
    return [
        ("encode a public event (JSON, as before)", per(lambda: public.model_dump_json().encode())),
        (
            "seal an llm_call for its agent + watchers (AES-GCM)",
            per(lambda: encode_event(private, policy, master, topic)),
        ),
        ("run signs an event (Ed25519 + a mark for 4 workers)", per(lambda: signer.wrap(topic, body, marks))),
        ("a watcher checks the run's signature (Ed25519)", per(lambda: watcher.open(topic, next(it)))),
        ("a worker checks the run's mark (HMAC-SHA256)", per(lambda: gate.open(topic, next(mit)))),
        ("worker signs a message (HMAC-SHA256, one agent)", per(lambda: worker.wrap(up, body, ["Bob"]))),
        ("run checks a worker's signature", per(lambda: run_gate.open(up, next(wit)))),
    ]


# -- 1. two-process round trip --------------------------------------------------------------------
def echo_main(url: str, nodelay: bool, qos: int, tag: str, secret: str | None = None) -> None:
    async def main() -> None:
        cfg = parse_bus_url(url)
        link: MqttLink
        # Signed: the ping as the run signs a turn request, the pong as a worker signs its answer.
        key = Credential.from_secret("bench", bytes.fromhex(secret)) if secret else None
        gate = Gate(key.for_agents(["Bob"])) if key else None
        signer = AgentSigner(key.for_agents(["Bob"]), sender="echo") if key else None

        def on_message(topic: str, payload: bytes) -> None:
            if payload == b"stop":
                done.set()
            elif gate is not None and signer is not None and key is not None:
                body, _ = gate.open(topic, payload)
                plain = unpack(body, key.for_agents(["Bob"]), topic) or b""
                pong = pack(plain, ["Bob"], key.for_agents(["Bob"]), f"bench/{tag}/pong")
                link.publish(f"bench/{tag}/pong", signer.wrap(f"bench/{tag}/pong", pong, ["Bob"]), qos=qos)
            else:
                link.publish(f"bench/{tag}/pong", payload, qos=qos)

        done = asyncio.Event()
        link = MqttLink(cfg, f"echo-{tag}", [f"bench/{tag}/ping"], on_message, nodelay=nodelay)
        await link.start()
        link.publish(f"bench/{tag}/ready", b"1", qos=1)
        await done.wait()
        await link.aclose()

    asyncio.run(main())


async def round_trips(url: str, nodelay: bool, qos: int, n: int, signed: bool = False) -> list[float]:
    cfg = parse_bus_url(url)
    got: asyncio.Queue[bytes] = asyncio.Queue()
    tag = f"{qos}-{nodelay}-{signed}-{time.time_ns()}"  # fresh ids and topics: no session of an earlier call
    link = MqttLink(cfg, f"ping-{tag}", [f"bench/{tag}/pong", f"bench/{tag}/ready"], lambda t, p: got.put_nowait(p))
    link.nodelay = nodelay
    await link.start()
    secret = secrets.token_bytes(32)
    key = Credential.from_secret("bench", secret)
    signer, gate = RunSigner(key, epoch=1), Gate(key)
    proc = mp.get_context("spawn").Process(
        target=echo_main, args=(url, nodelay, qos, tag, secret.hex() if signed else None)
    )
    proc.start()
    await asyncio.wait_for(got.get(), 30)  # the echo is subscribed
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        body = json.dumps({"kind": "turn", "i": i, "pad": "x" * 300}).encode()
        if signed:  # as a turn request goes: sealed for the agent, marked for its worker by the run
            sealed = pack(body, ["Bob"], key, f"bench/{tag}/ping")
            body = signer.wrap(f"bench/{tag}/ping", sealed, ["Bob"], sign=False)
        link.publish(f"bench/{tag}/ping", body, qos=qos)
        answer = await got.get()
        if signed:
            unpack(gate.open(f"bench/{tag}/pong", answer)[0], key, f"bench/{tag}/pong")
        times.append((time.perf_counter() - t0) * 1000)
    link.publish(f"bench/{tag}/ping", b"stop", qos=1)
    await link.drain()
    await link.aclose()
    await asyncio.to_thread(proc.join, 10)
    return times[10:]


async def throughput(url: str, qos: int, n: int) -> float:
    cfg = parse_bus_url(url)
    run = f"tp{qos}-{time.time_ns()}"  # a fresh run id: persistent sessions of earlier runs stay out of it
    key = Credential.generate(run)
    link, stream = await listen(cfg, run, f"{run}-listener", credential=key.for_watcher())
    bus = MqttBus(run, cfg, credential=key)
    await bus.start()
    bus.link.publish = _with_qos(bus.link.publish, qos)  # type: ignore[method-assign]
    t0 = time.perf_counter()
    for i in range(n):
        await bus.publish(Event(kind="message", source="A", payload={"text": f"message {i}"}))
    for _ in range(n):
        await stream.queue.get()
    dt = time.perf_counter() - t0
    await bus.aclose()
    await link.aclose()
    return n / dt


def _with_qos(publish, qos):
    def f(topic, payload, qos_=1, retain=False, label=""):
        return publish(topic, payload, qos=qos, retain=retain, label=label)

    return f


# -- 3. per-turn overhead ---------------------------------------------------------------------------
async def per_turn(url: str | None, rounds: int, remote: bool) -> tuple[float, int]:
    from sociallm.orchestration.worker import Worker

    spec = load_scenario("bertrand", {"rounds": rounds, "backbone.log_prompts": False})
    with tempfile.TemporaryDirectory() as d:
        dist = None
        task = None
        run_id = f"turn-{'r' if remote else 'l'}-{url is not None}-{time.time_ns()}"
        key = Credential.generate(run_id)
        (Path(d) / "r").mkdir()
        key.save(Path(d) / "r" / KEY_FILE)
        if url:
            dist = Distribution(bus=parse_bus_url(url), remote_agents=["Bob"] if remote else [])
            if remote:
                w = Worker(run_id, ["Bob"], parse_bus_url(url), credential=key.for_agents(["Bob"]), llm=InstantLLM())
                task = asyncio.create_task(w.serve())
        run = Run(spec, Path(d) / "r", llm=InstantLLM(), run_id=run_id, distribution=dist)
        c0, t0 = time.process_time(), time.perf_counter()
        res = await run.execute()
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        if task:
            await task
        turns = rounds * 2 * 2  # 2 agents x (talk + price)
        return wall / turns * 1000, int(cpu / turns * 1e6) if res.status == "completed" else -1


# -- 4. a big society across worker processes -------------------------------------------------------
def big_spec(n: int, rounds: int):
    agents = [{"name": f"a{i:04d}"} for i in range(n)]
    return parse_scenario(
        {
            "name": "big",
            "rounds": rounds,
            "agents": agents,
            "schedule": [{"name": "pricing", "kind": "act", "mode": "simultaneous", "action": "price"}],
            "environment": {"kind": "bertrand", "params": {}},
            "backbone": {"log_prompts": False},
            "agent": {"history_lines": 5},
        },
        "bench",
    )


def worker_main(url: str, run_id: str, names: list[str], key_json: str) -> None:
    from sociallm.orchestration.worker import Worker

    key = Credential.model_validate_json(key_json)
    cfg = parse_bus_url(url)
    asyncio.run(Worker(run_id, names, cfg, credential=key, llm=InstantLLM(), worker_id=f"w{names[0]}").serve())


async def big_run(url: str, n: int, workers: int, rounds: int) -> dict:
    spec = big_spec(n, rounds)
    run_id = f"big-{time.time_ns()}"
    names = spec.agent_names
    groups = [names[i::workers] for i in range(workers)]
    key = Credential.generate(run_id)
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=worker_main, args=(url, run_id, g, key.for_agents(g).model_dump_json())) for g in groups
    ]
    for p in procs:
        p.start()
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "r").mkdir()
        key.save(Path(d) / "r" / KEY_FILE)
        dist = Distribution(bus=parse_bus_url(url), remote_agents=names, timeout_s=120)
        run = Run(spec, Path(d) / "r", llm=InstantLLM(), run_id=run_id, distribution=dist)
        t0 = time.perf_counter()
        res = await run.execute()
        wall = time.perf_counter() - t0
    for p in procs:
        await asyncio.to_thread(p.join, 30)
    return {
        "status": res.status,
        "events": res.events,
        "wall_s": wall,
        "events_per_s": res.events / wall,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300, help="round trips per setting")
    ap.add_argument("--messages", type=int, default=5000, help="events for the throughput figure")
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        fast, slow = Mosquitto(Path(d) / "fast"), Mosquitto(Path(d) / "slow", nodelay=False)
        await fast.start()
        await slow.start()
        try:
            print("what security costs, per message (µs, this process)")
            for what, us in security_costs():
                print(f"  {what:<52} {us:7.1f}")
            print("two-process round trip through Mosquitto (ms)")
            for label, broker, nodelay in (("TCP_NODELAY", fast, True), ("Nagle (default)", slow, False)):
                for qos in (0, 1):
                    n = args.n if nodelay else max(20, args.n // 10)
                    t = await round_trips(broker.url, nodelay, qos, n)
                    p50, p99 = statistics.median(t), pct(t, 0.99)
                    print(f"  {label:<16} QoS {qos}: p50 {p50:6.2f}  p99 {p99:6.2f}  (n={len(t)})")
            # Plain and signed, interleaved in blocks so that a load change on a shared machine hits both alike.
            plain: list[float] = []
            signed: list[float] = []
            for _ in range(3):
                plain += await round_trips(fast.url, True, 1, args.n // 3 + 10)
                signed += await round_trips(fast.url, True, 1, args.n // 3 + 10, signed=True)
            for label, t in (("QoS 1, unsigned", plain), ("QoS 1, signed + sealed both ways", signed)):
                p50, p99 = statistics.median(t), pct(t, 0.99)
                print(f"  TCP_NODELAY      {label}: p50 {p50:6.2f}  p99 {p99:6.2f}  (n={len(t)})")
            print("one-way throughput, run process -> listener process-side stream (events/s)")
            for qos in (0, 1):
                print(f"  QoS {qos}: {await throughput(fast.url, qos, args.messages):,.0f}")
            print("per agent turn, bertrand, instant model: wall ms / own CPU µs")
            for label, url, remote in (
                ("in-process bus", None, False),
                ("MQTT bus, agents local", fast.url, False),
                ("MQTT bus, Bob in a worker", fast.url, True),
            ):
                wall, cpu = await per_turn(url, 20, remote)
                print(f"  {label:<26} {wall:6.2f} ms  {cpu:6d} µs")
            print(f"{args.agents} agents across {args.workers} worker processes, {args.rounds} rounds, instant model")
            r = await big_run(fast.url, args.agents, args.workers, args.rounds)
            print(
                f"  {r['status']}: {r['events']} events in {r['wall_s']:.1f} s = {r['events_per_s']:,.0f} events/s; "
                f"run process peak RSS {r['rss_mb']:.0f} MB"
            )
        finally:
            await fast.stop()
            await slow.stop()


if __name__ == "__main__":
    asyncio.run(main())
