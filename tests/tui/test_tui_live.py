import asyncio
import json
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from sociallm.backbone.base import BackendError
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.scenario import load_scenario
from sociallm.tui.app import SocietyApp
from sociallm.tui.feed import LiveFeed
from sociallm.tui.widgets import StatusBar
from tests.fakes import FakeLLM
from tests.tui.helpers import SlowLLM

SIZE = (160, 48)


async def until(pilot, condition, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


def live_app(run: Run) -> SocietyApp:
    feed = LiveFeed()
    run.add_tap(feed.tap)
    return SocietyApp(feed, run=run, backend="fake")


@pytest.mark.integration  # ~6 s: waits to prove that nothing moves while paused
async def test_pause_step_inject_and_stop_drive_the_run(tmp_path: Path) -> None:
    run = Run(load_scenario("bertrand", {"rounds": 30}), tmp_path / "r", llm=SlowLLM(0.03))
    app = live_app(run)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: run.rounds_completed >= 1)
        await pilot.press("space")
        assert run.control.paused
        await asyncio.sleep(0.4)  # the round in play finishes, then nothing more
        held = run.rounds_completed
        await asyncio.sleep(0.4)
        assert run.rounds_completed == held < 30
        await pilot.pause(0.2)
        assert "paused" in str(app.query_one(StatusBar).render())

        await pilot.press("n")
        await until(pilot, lambda: run.rounds_completed == held + 1)
        await asyncio.sleep(0.4)
        assert run.rounds_completed == held + 1 and run.control.paused  # exactly one round

        await pilot.press("i")
        app.screen.query_one(Input).value = "Regulator: price fixing is illegal."
        await pilot.press("enter")
        await until(pilot, lambda: any(line.source == "moderator" for line in app.state.lines))
        line = next(line for line in app.state.lines if line.source == "moderator")
        assert line.injected and line.channel == "public"

        await pilot.press("q")
        assert app.screen.__class__.__name__ == "QuitScreen"
        await pilot.press("s")  # stop after the current round, then quit
        await until(pilot, lambda: app.result is not None)
    result = app.return_value
    assert result is not None and result.status == "stopped" and result.rounds_completed == held + 1
    events = read_events(tmp_path / "r" / "events.jsonl").events
    injected = [e for e in events if e.source == "moderator"]
    assert len(injected) == 1 and injected[0].payload["injected"] is True
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["status"] == "stopped"
    resumed = await Run.resume(tmp_path / "r", llm=FakeLLM()).execute()  # resumable
    assert resumed.status == "completed" and resumed.rounds_completed == 30


async def test_step_from_a_paused_start_then_resume_to_the_end(tmp_path: Path) -> None:
    run = Run(load_scenario("bertrand", {"rounds": 3}), tmp_path / "r", llm=SlowLLM(0.01))
    run.control.pause()  # held before round 1
    app = live_app(run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await until(pilot, lambda: run.rounds_completed == 1 and run.control.paused)
        assert app.result is None
        await pilot.press("space")
        await until(pilot, lambda: app.result is not None)
        assert app.result.status == "completed" and app.state.round == 3
        await pilot.pause(0.2)
        status = str(app.query_one(StatusBar).render())
        # Over: the status bar says so (not "live"), and no toast sits over the metrics panel.
        assert "completed" in status and "run ended after 3 rounds" in status and "live" not in status
        assert not app._notifications
        await pilot.press("i")  # the run is over: nothing to inject into
        assert any("the run has ended" in n.message for n in app._notifications)
        await pilot.press("q")


async def test_quit_now_interrupts_cleanly_and_the_run_resumes(tmp_path: Path) -> None:
    run = Run(load_scenario("bertrand", {"rounds": 12}), tmp_path / "r", llm=SlowLLM(0.05))
    app = live_app(run)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: run.rounds_completed >= 1)
        await pilot.press("ctrl+q")  # asks, like q
        assert app.screen.__class__.__name__ == "QuitScreen"
        await pilot.press("k")
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and 1 <= manifest["rounds_completed"] < 12
    resumed = await Run.resume(tmp_path / "r", llm=FakeLLM()).execute()
    assert resumed.status == "completed" and resumed.rounds_completed == 12


async def test_a_failing_run_is_reported_and_kept(tmp_path: Path) -> None:
    run = Run(load_scenario("bertrand", {"rounds": 3}), tmp_path / "r", llm=FakeLLM(fail_at=6))
    app = live_app(run)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.run_error is not None)
        await pilot.pause(0.2)
        assert "failed" in str(app.query_one(StatusBar).render())
        assert any("the run failed" in n.message for n in app._notifications)
        await pilot.press("q")  # the run is over: quits without asking
    assert isinstance(app.run_error, BackendError)
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["status"] == "failed"
