"""`sociallm resume` after kill -9: the run continues from its last checkpoint, no event lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import sociallm.orchestration.run as run_module
from sociallm.cli.sweep import register
from sociallm.orchestration.replay import normalised_log
from tests.fakes import FakeLLM

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 40


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def other() -> None:
        pass

    register(app)
    return app


def _rounds_done(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "checkpoint.json").read_text())["rounds_completed"]
    except (OSError, ValueError, KeyError):
        return 0


def test_resume_after_kill_9_loses_and_duplicates_nothing(tmp_path: Path, monkeypatch) -> None:
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    script = [sys.executable, str(Path(__file__).with_name("slow_fake_run.py"))]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*script, str(killed), str(ROUNDS)], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while _rounds_done(killed) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # mid-run, most likely mid-round: no chance to clean up
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = _rounds_done(killed)
    assert 6 <= done < ROUNDS
    assert json.loads((killed / "manifest.json").read_text())["status"] == "running"

    # Resume with the CLI command (same fake model: the default backbone is swapped for it).
    async def fake_backbone(spec):
        return FakeLLM()

    monkeypatch.setattr(run_module, "default_backbone", fake_backbone)
    result = CliRunner().invoke(_cli(), ["resume", str(killed), "-q"])
    assert result.exit_code == 0, result.output
    assert f"resuming {killed} after round {done}" in result.stdout

    events = [json.loads(line) for line in (killed / "events.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # contiguous, nothing doubled
    starts = [e["tick"] for e in events if e["payload"].get("event") == "round_start"]
    outcomes = [e["tick"] for e in events if e["kind"] == "outcome"]
    assert starts == outcomes == list(range(1, ROUNDS + 1))
    resumed = [e for e in events if e["payload"].get("event") == "resumed"]
    assert len(resumed) == 1 and resumed[0]["payload"]["from_round"] == done + 1
    assert json.loads((killed / "manifest.json").read_text())["status"] == "completed"

    # The same run played without a kill gives the same log (ids, times and the resume marker aside).
    subprocess.run([*script, str(reference), str(ROUNDS)], cwd=ROOT, env=env, check=True, timeout=120)
    assert normalised_log(killed) == normalised_log(reference)


def test_resume_refuses_what_it_cannot_continue(tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), ["resume", str(tmp_path)])
    assert result.exit_code == 2 and "no manifest.json" in result.stderr


async def _two_rounds_with_a_warning_at_round_3(run_dir: Path) -> None:
    from sociallm.orchestration.experiment import attach_interventions, parse_interventions, save_interventions
    from sociallm.orchestration.run import Run
    from sociallm.runtime.scenario import load_scenario

    ivs = parse_interventions([{"kind": "warn", "at": 3, "text": "The authority is watching."}])
    run = Run(load_scenario("bertrand", {"rounds": 2}), run_dir, llm=FakeLLM())
    save_interventions(run_dir, ivs, None)
    attach_interventions(run, ivs, None)
    await run.execute()


@pytest.mark.parametrize("command", [["run", "--resume"], ["resume"]])
def test_both_resume_commands_re_attach_the_runs_interventions(tmp_path: Path, monkeypatch, command) -> None:
    """`sociallm run --resume` and `sociallm resume` share one path: the run's interventions come back."""
    import asyncio

    from sociallm.cli import app

    run_dir = tmp_path / "r"
    asyncio.run(_two_rounds_with_a_warning_at_round_3(run_dir))

    async def fake_backbone(spec):
        return FakeLLM()

    monkeypatch.setattr(run_module, "default_backbone", fake_backbone)
    args = [*command, str(run_dir), "-q"]
    if command[0] == "run":
        args += ["--rounds", "4"]
    else:  # `resume` continues what the manifest says: give the run two more rounds first
        manifest = json.loads((run_dir / "manifest.json").read_text())
        manifest["scenario"]["rounds"], manifest["status"] = 4, "running"
        (run_dir / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    warned = [e for e in events if e["kind"] == "message" and "authority is watching" in e["payload"].get("text", "")]
    assert [e["tick"] for e in warned] == [3]
