import asyncio
import json
from pathlib import Path

from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM


async def settle(run: Run, rounds: int) -> None:
    for _ in range(200):
        if run.rounds_completed >= rounds:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"run stuck at {run.rounds_completed} rounds, wanted {rounds}")


async def test_pause_step_resume(tmp_path: Path) -> None:
    run = Run(load_scenario("bertrand", {"rounds": 4}), tmp_path / "r", llm=FakeLLM())
    run.control.pause()
    task = asyncio.create_task(run.execute())
    await asyncio.sleep(0.1)
    assert run.rounds_completed == 0  # paused before round 1
    run.control.step()
    await settle(run, 1)
    await asyncio.sleep(0.1)
    assert run.rounds_completed == 1 and run.control.paused  # exactly one round, then paused again
    run.control.step()
    run.control.step()
    await settle(run, 3)
    await asyncio.sleep(0.1)
    assert run.rounds_completed == 3
    run.control.resume()
    result = await task
    assert result.status == "completed" and result.rounds_completed == 4


async def test_injected_message_is_logged_and_seen_by_agents(tmp_path: Path) -> None:
    llm = FakeLLM()
    run = Run(load_scenario("bertrand", {"rounds": 2}), tmp_path / "r", llm=llm)
    run.control.pause()
    task = asyncio.create_task(run.execute())
    await asyncio.sleep(0.05)
    await run.control.inject("Regulator: price fixing is illegal.")
    run.control.resume()
    await task
    events = read_events(tmp_path / "r" / "events.jsonl").events
    injected = [e for e in events if e.source == "moderator"]
    assert len(injected) == 1 and injected[0].payload["injected"] is True
    assert all('Moderator: "Regulator: price fixing is illegal."' in r.prompt for r in llm.requests)


async def test_stop_ends_cleanly_and_can_resume(tmp_path: Path) -> None:
    run = Run(load_scenario("bertrand", {"rounds": 5}), tmp_path / "r", llm=FakeLLM())
    run.control.pause()
    task = asyncio.create_task(run.execute())
    run.control.step()
    await settle(run, 1)
    run.control.stop()
    result = await task
    assert result.status == "stopped" and result.rounds_completed == 1
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["status"] == "stopped"
    resumed = await Run.resume(tmp_path / "r", llm=FakeLLM()).execute()
    assert resumed.status == "completed" and resumed.rounds_completed == 5
