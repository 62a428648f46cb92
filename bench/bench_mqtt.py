"""The MQTT bus on a real broker: round trips, throughput, per-turn overhead, a 1,000-agent society.

Starts its own Mosquitto (twice: with and without TCP_NODELAY on both ends) on free ports.

    python bench/bench_mqtt.py [--n 300] [--agents 1000] [--workers 4] [--rounds 2]

An instant fake model stands in for the LLM here (and only here and in tests): the point is what the
bus and the turn protocol cost, not what a model costs.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sociallm.backbone.base import GenerationRequest, GenerationResult
from sociallm.runtime.events import Event
from sociallm.runtime.mqtt import MqttBus, MqttLink, listen, parse_bus_url
from sociallm.runtime.remote import Distribution
from sociallm.runtime.run import Run
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


# -- 1. two-process round trip --------------------------------------------------------------------
def echo_main(url: str, nodelay: bool, qos: int) -> None:
    async def main() -> None:
        cfg = parse_bus_url(url)
        link: MqttLink

        def on_message(topic: str, payload: bytes) -> None:
            if payload == b"stop":
                done.set()
            else:
                link.publish("bench/pong", payload, qos=qos)

        done = asyncio.Event()
        link = MqttLink(cfg, f"echo-{qos}-{nodelay}", ["bench/ping"], on_message, nodelay=nodelay)
        await link.start()
        link.publish("bench/ready", b"1", qos=1)
        await done.wait()
        await link.aclose()

    asyncio.run(main())


async def round_trips(url: str, nodelay: bool, qos: int, n: int) -> list[float]:
    cfg = parse_bus_url(url)
    got: asyncio.Queue[bytes] = asyncio.Queue()
    link = MqttLink(cfg, f"ping-{qos}-{nodelay}", ["bench/pong", "bench/ready"], lambda t, p: got.put_nowait(p))
    link.nodelay = nodelay
    await link.start()
    proc = mp.get_context("spawn").Process(target=echo_main, args=(url, nodelay, qos))
    proc.start()
    await asyncio.wait_for(got.get(), 30)  # the echo is subscribed
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        link.publish("bench/ping", str(i).encode(), qos=qos)
        await got.get()
        times.append((time.perf_counter() - t0) * 1000)
    link.publish("bench/ping", b"stop", qos=1)
    await link.drain()
    await link.aclose()
    await asyncio.to_thread(proc.join, 10)
    return times[10:]


async def throughput(url: str, qos: int, n: int) -> float:
    cfg = parse_bus_url(url)
    run = f"tp{qos}-{time.time_ns()}"  # a fresh run id: persistent sessions of earlier runs stay out of it
    link, stream = await listen(cfg, run, f"{run}-listener")
    bus = MqttBus(run, cfg)
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
    def f(topic, payload, qos_=1, retain=False):
        return publish(topic, payload, qos=qos, retain=retain)

    return f


# -- 3. per-turn overhead ---------------------------------------------------------------------------
async def per_turn(url: str | None, rounds: int, remote: bool) -> tuple[float, int]:
    from sociallm.runtime.worker import Worker

    spec = load_scenario("bertrand", {"rounds": rounds, "backbone.log_prompts": False})
    with tempfile.TemporaryDirectory() as d:
        dist = None
        task = None
        run_id = f"turn-{'r' if remote else 'l'}-{url is not None}-{time.time_ns()}"
        if url:
            dist = Distribution(bus=parse_bus_url(url), remote_agents=["Bob"] if remote else [])
            if remote:
                w = Worker(run_id, ["Bob"], parse_bus_url(url), llm=InstantLLM())
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


def worker_main(url: str, run_id: str, names: list[str]) -> None:
    from sociallm.runtime.worker import Worker

    asyncio.run(Worker(run_id, names, parse_bus_url(url), llm=InstantLLM(), worker_id=f"w{names[0]}").serve())


async def big_run(url: str, n: int, workers: int, rounds: int) -> dict:
    spec = big_spec(n, rounds)
    run_id = f"big-{time.time_ns()}"
    names = spec.agent_names
    groups = [names[i::workers] for i in range(workers)]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=worker_main, args=(url, run_id, g)) for g in groups]
    for p in procs:
        p.start()
    with tempfile.TemporaryDirectory() as d:
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
            print("two-process round trip through Mosquitto (ms)")
            for label, broker, nodelay in (("TCP_NODELAY", fast, True), ("Nagle (default)", slow, False)):
                for qos in (0, 1):
                    n = args.n if nodelay else max(20, args.n // 10)
                    t = await round_trips(broker.url, nodelay, qos, n)
                    p50, p99 = statistics.median(t), pct(t, 0.99)
                    print(f"  {label:<16} QoS {qos}: p50 {p50:6.2f}  p99 {p99:6.2f}  (n={len(t)})")
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
