"""Deterministic resume: seeds of every model call come from the scenario seed and the turn, caches that
decide which calls are made are checkpointed, and background measurements are published at fixed points.
So with every section on, a run killed with SIGKILL and resumed logs what the same run played in one go
logs, and two clean runs log the same, even when the model's replies come back in a random order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sociallm.orchestration.replay import normalise_events, normalised_log
from sociallm.runtime.eventlog import EVENTS_FILE, read_events
from sociallm.runtime.rundir import CHECKPOINT, MANIFEST, read_json
from tests.runtime import all_sections_run

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = [sys.executable, str(Path(__file__).with_name("all_sections_run.py"))]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
ROUNDS = 10


def _rounds_done(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / CHECKPOINT).read_text())["rounds_completed"]
    except (OSError, ValueError, KeyError):
        return 0


def _first_difference(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a.split(b"\n"), b.split(b"\n"), strict=False)):
        if x != y:
            return f"event {i + 1}:\n  {x[:300]!r}\n  {y[:300]!r}"
    return "lengths differ"


def test_kill_9_and_resume_with_every_section_on_logs_what_a_clean_run_logs(tmp_path: Path) -> None:
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen([*SCRIPT, "run", str(killed), str(ROUNDS)], cwd=ROOT, env=ENV)
    try:
        deadline = time.monotonic() + 120
        while _rounds_done(killed) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # mid-round most likely: no chance to clean up
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = _rounds_done(killed)
    assert 4 <= done < ROUNDS
    subprocess.run([*SCRIPT, "resume", str(killed)], cwd=ROOT, env=ENV, check=True, timeout=300)
    assert read_json(killed / MANIFEST)["status"] == "completed"
    subprocess.run([*SCRIPT, "run", str(clean), str(ROUNDS)], cwd=ROOT, env=ENV, check=True, timeout=300)

    events = read_events(clean / EVENTS_FILE).events
    kinds = Counter(e.kind for e in events)
    memory_ops = Counter(e.payload.get("op") for e in events if e.kind == "memory")
    sources = {s for e in events if e.kind == "memory" for s in e.payload.get("importance_source", [])}
    # Every section did its work: info scores, ToM read-outs, affect, memory writes, reflections, cache hits.
    assert kinds["info"] > 10 and kinds["tom"] > 10 and kinds["affect"] > 10
    assert memory_ops["add"] and memory_ops["retrieve"] and memory_ops["reflection"]
    assert any(s.startswith("cache") for s in sources)
    a, b = normalised_log(killed), normalised_log(clean)
    assert a == b, _first_difference(a, b)


async def test_two_clean_runs_with_info_on_are_identical(tmp_path: Path, monkeypatch) -> None:
    import sociallm.backbone.encoders as encoders

    monkeypatch.setattr(encoders, "make_encoder", lambda name="minilm", **o: all_sections_run.HashEncoder384(name))
    logs = []
    for k in range(2):
        result = await all_sections_run.play(tmp_path / f"run{k}", 6)
        assert result.status == "completed"
        logs.append(normalise_events(read_events(tmp_path / f"run{k}" / EVENTS_FILE).events))
    assert sum('"kind": "info"' in line for line in logs[0]) > 10
    assert logs[0] == logs[1]
