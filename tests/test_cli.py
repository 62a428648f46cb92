"""The command line: unit tests with typer's runner, and end-to-end runs on the real embedded model."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sociallm.cli import app
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM

runner = CliRunner()


def test_scenarios_lists_builtins_one_line_each() -> None:
    result = runner.invoke(app, ["scenarios"])
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("bertrand ") for line in lines)
    assert all("invalid" not in line for line in lines)


def test_check_reports_each_problem_on_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nrounds: 0\nagents: [{persona: p}]\nschedule: [{name: a, kind: act}]\nenvironment: {}\n")
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2
    out = result.stderr
    assert f"{bad}: rounds: Input should be greater than or equal to 1" in out
    assert f"{bad}: agents[0].name: Field required" in out
    assert f"{bad}: environment.kind: Field required" in out
    assert "Traceback" not in out


def test_check_ok() -> None:
    result = runner.invoke(app, ["check", "bertrand"])
    assert result.exit_code == 0 and "ok" in result.stdout


def test_run_rejects_bad_flags_with_one_line() -> None:
    result = runner.invoke(app, ["run", "bertrand", "--set", "nonsense"])
    assert result.exit_code == 2 and "expected KEY=VALUE" in result.stderr
    result = runner.invoke(app, ["run", "bertrand", "--set", "environment.params.mu=-1", "--out", "/tmp/unused"])
    assert result.exit_code == 2 and "environment.params.mu: must be > 0" in result.stderr
    result = runner.invoke(app, ["run", "no-such-scenario"])
    assert result.exit_code == 2 and "built-ins:" in result.stderr
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 2


def test_resume_of_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--resume", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such run folder" in result.stderr


def test_show_prints_transcript_and_warns_on_torn_log(tmp_path: Path) -> None:
    spec = load_scenario("bertrand", {"rounds": 1})
    asyncio.run(Run(spec, tmp_path / "r", llm=FakeLLM()).execute())
    with open(tmp_path / "r" / "events.jsonl", "a") as f:
        f.write('{"half a line')
    result = runner.invoke(app, ["show", str(tmp_path / "r")])
    assert result.exit_code == 0
    assert "Alice: I am Alice" in result.stdout and "market:" in result.stdout
    assert "torn last line" in result.stderr


def sociallm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "sociallm.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def check_run_folder(run_dir: Path, rounds: int) -> dict:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["rounds_completed"] == rounds
    log = read_events(run_dir / "events.jsonl")
    assert log.problems == []
    outcomes = [e for e in log.events if e.kind == "outcome"]
    assert [o.tick for o in outcomes] == list(range(1, rounds + 1))
    for o in outcomes:
        assert set(o.payload["prices"]) == {"Alice", "Bob"}
        assert all(0 <= p <= 10 for p in o.payload["prices"].values())
    calls = [e for e in log.events if e.kind == "llm_call"]
    assert len(calls) == 4 * rounds  # 2 talk turns + 2 prices per round: one model call per turn
    assert all(c.payload["completion_tokens"] > 0 and c.payload["latency_s"] > 0 for c in calls)
    messages = [e for e in log.events if e.kind == "message"]
    assert len(messages) == 2 * rounds and all(m.text for m in messages)
    return manifest


@pytest.mark.integration
def test_run_bertrand_end_to_end_on_the_embedded_model(tmp_path: Path) -> None:
    proc = sociallm("run", "bertrand", "--rounds", "2", "--seed", "3", "--out", str(tmp_path / "demo"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "completed: 2 rounds" in proc.stdout
    manifest = check_run_folder(tmp_path / "demo", 2)
    assert manifest["backend"]["kind"] == "embedded" and manifest["backend"]["gguf_sha256"]
    assert manifest["seed"] == 3


@pytest.mark.integration
def test_run_attaches_to_an_openai_compatible_server(tmp_path: Path) -> None:
    from sociallm.backbone.embedded import EmbeddedServer

    async def serve_and_run() -> subprocess.CompletedProcess[str]:
        server = await EmbeddedServer(n_parallel=2).start()
        try:
            return await asyncio.to_thread(
                sociallm, "run", "bertrand", "--rounds", "1", "--out", str(tmp_path / "r"),
                "--backend", server.url + "/v1", "--model", "gemma3-270m", "-q", cwd=tmp_path,
            )  # fmt: skip
        finally:
            await server.stop()

    proc = asyncio.run(serve_and_run())
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = check_run_folder(tmp_path / "r", 1)
    assert manifest["backend"]["kind"] == "openai" and manifest["backend"]["dialect"] == "llamacpp"


def test_unreachable_backend_fails_cleanly_before_creating_the_folder(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", "bertrand", "--rounds", "1", "--out", str(tmp_path / "r"), "--backend", "http://127.0.0.1:9/v1"]
    )
    assert result.exit_code == 1
    assert "cannot reach model server" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.integration
def test_deterministic_runs_replay_the_same_conversation(tmp_path: Path) -> None:
    texts = []
    for name in ("a", "b"):
        proc = sociallm(
            "run", "bertrand", "--rounds", "1", "--out", str(tmp_path / name), "-q",
            "--set", "backbone.deterministic=true", cwd=tmp_path,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        events = read_events(tmp_path / name / "events.jsonl").events
        texts.append(
            [(e.source, e.kind, e.text, e.payload.get("value")) for e in events if e.kind in ("message", "action")]
        )
    assert texts[0] == texts[1] and len(texts[0]) == 4
