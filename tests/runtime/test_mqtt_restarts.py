"""Broker restarts mid-run (stops of 1-5 s, kill -9): nothing lost for a third-party subscriber, no no-shows.

The short form of bench/bench_bus_restarts.py: a fast fake model and in-process workers (the real CLI
path with worker processes and the embedded model runs in the bench, and in test_worker.py).
"""

from __future__ import annotations

import asyncio
import random
import shutil
from pathlib import Path

import pytest

from sociallm.orchestration.remote import Distribution
from sociallm.orchestration.run import Run
from sociallm.orchestration.worker import Worker
from sociallm.runtime.mqtt import parse_bus_url
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM
from tests.runtime.broker import MOSQUITTO
from tests.runtime.restarts import Outage, plan, stressed_run
from tests.runtime.test_worker import run_key

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        MOSQUITTO is None or not shutil.which("mosquitto_sub"), reason="needs mosquitto and mosquitto_sub"
    ),
]


class SlowFake(FakeLLM):
    async def generate(self, requests):
        await asyncio.sleep(0.05)
        return await super().generate(requests)


def play_fake(run_id: str, rounds: int):
    async def play(url: str, run_dir: Path) -> str:
        cfg = parse_bus_url(url)
        key = run_key(run_dir, run_id)
        workers = [
            Worker(run_id, [n], cfg, credential=key.for_agents([n]), llm=SlowFake(), worker_id=f"w{n}")
            for n in ("Alice", "Bob")
        ]
        tasks = [asyncio.create_task(w.serve()) for w in workers]
        dist = Distribution(bus=cfg, remote_agents=["Alice", "Bob"], timeout_s=30)
        spec = load_scenario("bertrand", {"rounds": rounds, "seed": 17})
        result = await Run(spec, run_dir, llm=SlowFake(), run_id=run_id, distribution=dist).execute()
        done, _ = await asyncio.wait(tasks, timeout=30)
        assert len(done) == 2 and all(t.exception() is None for t in done), "a worker did not finish cleanly"
        return result.status

    return play


async def test_a_four_second_broker_stop_is_no_death(tmp_path):
    report = await stressed_run(tmp_path, "stop4-1", [Outage(30, "term", 4.0)], play_fake("stop4-1", 4))
    assert report.done and report.status == "completed", report.line()
    assert report.no_shows == 0 and report.missing == [], report.line()


@pytest.mark.parametrize(("seed", "kill_share"), [(1, 0.0), (2, 1.0)])
async def test_restarts_lose_nothing_for_a_persistent_subscriber(tmp_path, seed, kill_share):
    outages = plan(random.Random(seed), 3, 5, 70, kill_share=kill_share)
    run_id = f"restarts-{seed}"
    report = await stressed_run(tmp_path, run_id, outages, play_fake(run_id, 5))
    assert len(report.done) == 3 and report.status == "completed", report.line()
    assert report.missing == [] and report.no_shows == 0, report.line()
