"""`sociallm resume` after kill -9: the run continues from its last checkpoint, no event lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
