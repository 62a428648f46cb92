"""The launcher's process handling, on a stand-in server (tests/backbone/fake_vllm): start, log,
per-agent model validation, restart after a crash, stop by process group. The real vLLM is in
test_vllm_real.py."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from sociallm.backbone import make_backbone
from sociallm.backbone.base import BackendError, GenerationRequest
from sociallm.backbone.launcher import VLLMServer, vllm_python
from sociallm.backbone.vllm import VLLMLLM
from sociallm.cli.serve import usage_lines
from sociallm.runtime.scenario import BackboneSpec

FAKE = Path(__file__).parent / "fake_vllm"


def fake_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(FAKE)
    env.update(extra)
    return env


def fake_server(tmp_path: Path, **extra: str) -> VLLMServer:
    return VLLMServer(
        "some/model",
        args=["--served-model-name", "base", "alice-lora"],
        python=sys.executable,
        log_path=tmp_path / "launch.log",
        start_timeout_s=20,
        progress=lambda _msg: None,
        env=fake_env(**extra),
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_launch_answer_stop_and_log_moves_into_run_folder(tmp_path: Path) -> None:
    server = fake_server(tmp_path)
    await server.start()
    llm = VLLMLLM(server.url, server=server, backoff_s=0.01)
    await llm.open()
    assert llm.dialect == "vllm" and llm.model == "base" and llm.served_models == ["base", "alice-lora"]
    (res,) = await llm.generate([GenerationRequest(prompt="hi", model="alice-lora")])
    assert res.text == "ok" and res.cached_tokens == 4
    pid = server.pid
    assert pid is not None and _alive(pid)
    llm.use_run_dir(tmp_path / "run")
    await llm.aclose()
    assert not server.alive
    await asyncio.sleep(0.2)
    assert not _alive(pid)
    log = (tmp_path / "run" / "vllm.log").read_text()
    assert "Application startup complete" in log and "starting:" in log and "stopped" in log
    assert not (tmp_path / "launch.log").exists()


async def test_start_failure_names_the_fix(tmp_path: Path) -> None:
    server = fake_server(tmp_path, FAKE_VLLM_FAIL="ModuleNotFoundError: No module named 'vllm'")
    with pytest.raises(BackendError, match=r"exited during start-up.*has no vLLM.*make vllm-env"):
        await server.start()
    assert not server.alive


async def test_start_timeout_is_clear_and_leaves_no_process(tmp_path: Path) -> None:
    server = fake_server(tmp_path, FAKE_VLLM_DELAY_S="30")
    server.start_timeout_s = 1.0
    with pytest.raises(BackendError, match=r"did not answer /v1/models within 1 s.*start_timeout_s"):
        await server.start()
    assert not server.alive


def test_interpreter_missing_and_reserved_flags() -> None:
    with pytest.raises(BackendError, match=r"not found.*SOCIALLM_VLLM_PYTHON.*make vllm-env"):
        vllm_python("/nonexistent/python")
    with pytest.raises(ValueError, match="--port is set by SociaLLM"):
        VLLMServer("m", args=["--port", "9"], python=sys.executable)


async def test_unknown_agent_model_fails_before_the_run(tmp_path: Path) -> None:
    server = fake_server(tmp_path)
    await server.start()
    try:
        llm = VLLMLLM(server.url, required_models={"agents[1].model": "bob-lora", "agents[0].model": "alice-lora"})
        with pytest.raises(BackendError, match=r"agents\[1\]\.model: 'bob-lora' not served.*served: base, alice-lora"):
            await llm.open()
    finally:
        await server.aclose()


async def test_crashed_server_is_restarted_and_requests_go_on(tmp_path: Path) -> None:
    server = fake_server(tmp_path)
    await server.start()
    llm = await VLLMLLM(server.url, server=server, max_restarts=1, backoff_s=0.01).open()
    try:
        first_pid = server.pid
        assert first_pid is not None
        os.killpg(first_pid, signal.SIGKILL)
        await asyncio.to_thread(lambda: server._proc.wait() if server._proc else None)
        results = await llm.generate([GenerationRequest(prompt=f"p{i}") for i in range(6)])
        assert [r.text for r in results] == ["ok"] * 6
        assert len(llm.restarts) == 1 and server.starts == 2 and server.pid != first_pid
        assert all(r.attempts == 1 for r in results)  # the crash was not charged to the requests
        # A second death exceeds max_restarts: a clear error, not a hang.
        assert server.pid is not None
        os.killpg(server.pid, signal.SIGKILL)
        await asyncio.to_thread(lambda: server._proc.wait() if server._proc else None)
        with pytest.raises(BackendError, match=r"died and its restarts are used up \(1 of max_restarts 1\).*--resume"):
            await llm.generate([GenerationRequest(prompt="again")])
    finally:
        await llm.aclose()
    assert "restarting" in server.log_path.read_text()


async def test_make_backbone_vllm_attach_and_launch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(FAKE))
    llm: Any = await make_backbone(
        "vllm",
        model="some/model",
        launch=True,
        python=sys.executable,
        args=["--served-model-name", "base"],
        start_timeout_s=20,
    )
    try:
        assert llm.describe()["launched"] and llm.describe()["kind"] == "vllm"
        attached: Any = await make_backbone("vllm", url=llm.server.url)
        assert attached.server is None and attached.dialect == "vllm"
        async with httpx.AsyncClient() as client:  # the attached client does not own the server
            await attached.aclose()
            assert (await client.get(llm.server.url + "/v1/models")).status_code == 200
    finally:
        await llm.aclose()


def test_backbone_spec_vllm_validation() -> None:
    assert BackboneSpec(kind="vllm", url="http://h:8000").url
    assert BackboneSpec(kind="vllm", launch=True, model="m", args=["--max-num-seqs", "64"]).launch
    with pytest.raises(ValueError, match="needs `url:` to attach, or `launch: true` and `model:`"):
        BackboneSpec(kind="vllm")
    with pytest.raises(ValueError, match="not both"):
        BackboneSpec(kind="vllm", url="http://h", launch=True, model="m")


def test_usage_lines() -> None:
    keys = ("calls", "prompt_tokens", "completion_tokens", "cached_tokens", "latency_s")
    bob = dict(zip(keys, (2, 100, 8, 50, 1.5), strict=True))
    rows = {"Bob": bob, "Alice": dict(zip(keys, (1, 10, 2, 0, 0.2), strict=True))}
    metrics = {"llm": {"by_agent": rows}}
    lines = usage_lines(metrics)
    assert lines[0].startswith("  Alice: 1 calls, 10 prompt + 2 completion tokens")
    assert "(50% cached)" in lines[1]
    assert usage_lines({}) == []


def test_serve_command_starts_prints_the_url_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    import subprocess
    import time

    env = fake_env()
    cmd = [sys.executable, "-m", "sociallm.cli", "serve", "vllm", "some/model", "--python", sys.executable]
    proc = subprocess.Popen(
        [*cmd, "--quiet", "--log", str(tmp_path / "serve.log"), "--served-model-name", "base"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # Ctrl-C as in a terminal: a suite started in the background (`make test &`) inherits an ignored
        # SIGINT, and a Python started with SIGINT ignored never turns it into KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if "attach a run" in line or not line:
            break
    url = next(line.split("--backend ")[1].strip() for line in lines if "--backend " in line)
    assert httpx.get(url + "/models").json()["data"][0]["id"] == "base"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/models", timeout=2)
    assert "Application startup complete" in (tmp_path / "serve.log").read_text()


async def test_run_fails_cleanly_when_restarts_run_out_and_resumes(tmp_path: Path) -> None:
    from sociallm.orchestration.run import Run
    from sociallm.runtime.eventlog import EVENTS_FILE, read_events
    from sociallm.runtime.scenario import parse_scenario

    spec = parse_scenario(
        {
            "name": "crash",
            "rounds": 3,
            "agents": [{"name": "Alice"}, {"name": "Bob"}],
            "schedule": [{"name": "chat", "kind": "talk", "mode": "simultaneous"}],
            "environment": {"kind": "bertrand", "params": {"a": 2.0, "a0": 0.0, "c": 1.0, "mu": 0.25}},
            "backbone": {"kind": "vllm", "url": "http://unused"},
        },
        "test",
    )
    server = fake_server(tmp_path)
    await server.start()
    llm = await VLLMLLM(server.url, server=server, max_restarts=0, retries=0).open()

    def kill_after_first(done: int, total: int) -> None:
        if done == 1 and server.pid is not None:
            os.killpg(server.pid, signal.SIGKILL)

    run_dir = tmp_path / "run"
    try:
        with pytest.raises(BackendError, match=r"restarts are used up \(0 of max_restarts 0\)"):
            await Run(spec, run_dir, llm=llm, on_round=kill_after_first).execute()
    finally:
        await llm.aclose()
    assert read_events(run_dir / EVENTS_FILE).events  # what ran is kept

    server2 = fake_server(tmp_path)
    await server2.start()
    llm2 = await VLLMLLM(server2.url, server=server2).open()
    try:
        result = await Run.resume(run_dir, llm=llm2).execute()
    finally:
        await llm2.aclose()
    assert result.status == "completed" and result.rounds_completed == 3
    events = read_events(run_dir / EVENTS_FILE).events
    assert [e.tick for e in events if e.payload.get("event") == "round_start"] == [1, 2, 3]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
