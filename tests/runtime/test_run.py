import asyncio
import json
import os
from pathlib import Path

import pytest

from sociallm.backbone.base import BackendError
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.rundir import RunDirError
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM


def kinds(events, kind, event=None):
    return [e for e in events if e.kind == kind and (event is None or e.payload.get("event") == event)]


async def test_full_run_writes_log_manifest_and_metrics(tmp_path: Path) -> None:
    spec = load_scenario("bertrand", {"rounds": 3})
    llm = FakeLLM()
    result = await Run(spec, tmp_path / "run", llm=llm).execute()
    assert result.status == "completed" and result.rounds_completed == 3
    log = read_events(tmp_path / "run" / "events.jsonl")
    assert log.problems == []
    events = log.events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(kinds(events, "message")) == 6  # 2 firms x 3 rounds
    assert len(kinds(events, "action")) == 6
    outcomes = kinds(events, "outcome")
    assert len(outcomes) == 3 and all(o.payload["prices"] == {"Alice": 1.85, "Bob": 1.85} for o in outcomes)
    assert len(kinds(events, "llm_call")) == len(llm.requests) == 12
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["rounds_completed"] == 3
    assert manifest["seed"] == spec.seed and manifest["backend"] == {"kind": "fake"}
    assert "pydantic" in manifest["packages"] and manifest["ended_at"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["llm"]["calls"] == 12 and metrics["environment"]["rounds"] == 3


async def test_sequential_talk_rotates_and_later_speaker_sees_earlier(tmp_path: Path) -> None:
    spec = load_scenario("bertrand", {"rounds": 2})
    llm = FakeLLM()
    await Run(spec, tmp_path / "r", llm=llm).execute()
    talk = [r for r in llm.requests if r.purpose == "talk"]
    assert [r.agent for r in talk] == ["Alice", "Bob", "Bob", "Alice"]
    assert 'Alice: "I am Alice' in talk[1].prompt


async def test_existing_run_folder_is_refused(tmp_path: Path) -> None:
    spec = load_scenario("bertrand", {"rounds": 1})
    await Run(spec, tmp_path / "r", llm=FakeLLM()).execute()
    with pytest.raises(RunDirError, match="already holds a completed run; choose another --out"):
        await Run(spec, tmp_path / "r", llm=FakeLLM()).execute()


async def test_failed_run_keeps_its_log_and_resumes_to_the_end(tmp_path: Path) -> None:
    spec = load_scenario("bertrand", {"rounds": 4})
    run_dir = tmp_path / "r"
    # 4 calls per round: the 10th call fails in round 3, after rounds 1-2 are checkpointed.
    with pytest.raises(BackendError):
        await Run(spec, run_dir, llm=FakeLLM(fail_at=10)).execute()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "fake server went away" in manifest["error"]
    assert manifest["rounds_completed"] == 2
    before = read_events(run_dir / "events.jsonl").events
    assert any(e.tick == 3 for e in before)  # part of round 3 was logged before the failure

    resumed = Run.resume(run_dir, llm=FakeLLM())
    result = await resumed.execute()
    assert result.status == "completed" and result.rounds_completed == 4
    events = read_events(run_dir / "events.jsonl").events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # no gaps, no duplicates
    assert len({e.id for e in events}) == len(events)
    assert [o.tick for o in kinds(events, "outcome")] == [1, 2, 3, 4]
    assert len(kinds(events, "system", "resumed")) == 1
    assert (run_dir / "events.discarded-1.jsonl").exists()  # the half round is kept aside, not lost


async def test_resuming_a_completed_run_is_refused(tmp_path: Path) -> None:
    spec = load_scenario("bertrand", {"rounds": 1})
    await Run(spec, tmp_path / "r", llm=FakeLLM()).execute()
    with pytest.raises(RuntimeError, match="already completed"):
        await Run.resume(tmp_path / "r", llm=FakeLLM()).execute()


async def test_silent_scenario_has_no_talk(tmp_path: Path) -> None:
    spec = load_scenario("bertrand-silent", {"rounds": 2})
    llm = FakeLLM()
    await Run(spec, tmp_path / "r", llm=llm).execute()
    assert {r.purpose for r in llm.requests} == {"price"} and len(llm.requests) == 6


async def test_a_run_folder_cannot_be_written_by_two_runs_at_once(tmp_path: Path) -> None:
    spec = load_scenario("bertrand", {"rounds": 3})
    gate, waiting = asyncio.Event(), asyncio.Event()

    class Held(FakeLLM):
        async def generate(self, requests):
            waiting.set()
            await gate.wait()
            return await super().generate(requests)

    first = asyncio.create_task(Run(spec, tmp_path / "r", llm=Held()).execute())
    await waiting.wait()  # the first run is inside round 1, holding the folder
    with pytest.raises(RunDirError, match=f"another sociallm process \\(pid {os.getpid()}\\)"):
        await Run.resume(tmp_path / "r", llm=FakeLLM()).execute()
    gate.set()
    assert (await first).status == "completed"
    # Released at the end: the folder can be resumed (here: refused only because it is complete).
    with pytest.raises(RuntimeError, match="already completed"):
        await Run.resume(tmp_path / "r", llm=FakeLLM()).execute()
