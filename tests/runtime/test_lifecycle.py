"""A run lifecycle that never lies: signals, full disks, damaged state, folders that are files, and races
for one folder each end in a manifest that says what happened, one line on the terminal, and a run that
resumes to the same log as one played in one go."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sociallm.orchestration.run as run_module
import sociallm.runtime.eventlog as eventlog_module
from sociallm.cli import app
from sociallm.orchestration.replay import normalised_log
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import EVENTS_FILE, LogWriteError, read_events
from sociallm.runtime.rundir import CHECKPOINT, MANIFEST, RESERVE, RunLock, read_json
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM

ROOT = Path(__file__).resolve().parents[2]
FAKE_CLI = [sys.executable, str(Path(__file__).with_name("fake_cli.py"))]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
runner = CliRunner()


@pytest.fixture
def backbone_calls(monkeypatch) -> list[str]:
    calls: list[str] = []

    async def fake_backbone(spec):
        calls.append(spec.name)
        return FakeLLM()

    monkeypatch.setattr(run_module, "default_backbone", fake_backbone)
    return calls


def _rounds_done(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / CHECKPOINT).read_text())["rounds_completed"]
    except (OSError, ValueError, KeyError):
        return 0


# ---- signals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_interrupts_the_run_truthfully_and_it_resumes(tmp_path: Path, sig: signal.Signals) -> None:
    run_dir, reference = tmp_path / "run", tmp_path / "reference"
    rounds = "25"
    proc = subprocess.Popen(
        [*FAKE_CLI, "run", "bertrand", "--rounds", rounds, "--out", str(run_dir), "-q"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _rounds_done(run_dir) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, stderr
    manifest = read_json(run_dir / MANIFEST)
    assert manifest["status"] == "interrupted" and manifest["error"] == f"stopped by {sig.name}"
    assert f"interrupted by {sig.name}; continue with: sociallm run --resume {run_dir}" in stderr
    assert "Traceback" not in stderr
    log = read_events(run_dir / EVENTS_FILE)
    assert not log.problems  # flushed whole: no torn line
    assert not (run_dir / RESERVE).exists()
    # Released: resumable at once, to the same log as a run that was never stopped.
    resumed = subprocess.run(
        [*FAKE_CLI, "resume", str(run_dir), "-q"], cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert read_json(run_dir / MANIFEST)["status"] == "completed"
    subprocess.run(
        [*FAKE_CLI, "run", "bertrand", "--rounds", rounds, "--out", str(reference), "-q"], cwd=ROOT, env=ENV, check=True
    )
    assert normalised_log(run_dir) == normalised_log(reference)


# ---- full disks --------------------------------------------------------------------------------------


class _FullDisk(io.RawIOBase):
    """A file that takes `budget` bytes and then fails like a full disk (a short write, then ENOSPC)."""

    def __init__(self, path: Path, budget: list[int]) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.budget = budget

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[override]
        if self.budget[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = os.write(self._fd, bytes(b[: self.budget[0]]))
        self.budget[0] -= n
        return n

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


async def test_a_full_disk_fails_the_run_in_one_line_and_it_resumes(tmp_path: Path, monkeypatch, caplog) -> None:
    spec = load_scenario("bertrand", {"rounds": 12})
    run_dir, reference = tmp_path / "run", tmp_path / "reference"
    budget = [30_000]  # the log gets ~30 KB, then the disk is full

    def full_open(path, mode="r", encoding=None):
        assert mode == "a"
        return io.TextIOWrapper(io.BufferedWriter(_FullDisk(Path(path), budget)), encoding=encoding)

    monkeypatch.setattr(eventlog_module, "open", full_open, raising=False)
    caplog.set_level(logging.ERROR, logger="asyncio")
    with pytest.raises(LogWriteError) as info:
        await Run(spec, run_dir, llm=FakeLLM()).execute()
    message = str(info.value)
    assert message == f"cannot write {run_dir / EVENTS_FILE} (No space left on device); the run stopped there"
    assert not [r for r in caplog.records if "Exception in callback" in r.getMessage()]
    manifest = read_json(run_dir / MANIFEST)
    assert manifest["status"] == "failed" and manifest["error"] == f"LogWriteError: {message}"
    done = _rounds_done(run_dir)
    assert 1 <= done < 12

    monkeypatch.undo()  # space is back
    result = await Run.resume(run_dir, llm=FakeLLM()).execute()
    assert result.status == "completed" and result.rounds_completed == 12
    await Run(spec, reference, llm=FakeLLM()).execute()
    assert normalised_log(run_dir) == normalised_log(reference)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 1 MiB tmpfs (root only), grown to 64 MiB by calling the yielded function."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)

    try:
        yield mnt, grow
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_really_full_disk(tmp_path: Path, small_disk, monkeypatch) -> None:
    mnt, grow = small_disk
    run_dir, reference = mnt / "run", tmp_path / "reference"

    async def fake_backbone(spec):
        return FakeLLM(lambda req: " " + "We keep prices high and steady, " * 12 if req.purpose == "talk" else "1.85")

    monkeypatch.setattr(run_module, "default_backbone", fake_backbone)
    args = ["run", "bertrand", "--rounds", "300", "-q", "--set", "agent.history_lines=60"]
    failed = runner.invoke(app, [*args, "--out", str(run_dir)])
    assert failed.exit_code == 1, failed.output
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 2 and "No space left on device" in lines[0], lines
    assert lines[1] == (
        f"what ran is kept in {run_dir}; once the cause is fixed, continue with: sociallm run --resume {run_dir}"
    )
    manifest = read_json(run_dir / MANIFEST)  # written thanks to the space held in reserve
    assert manifest["status"] == "failed" and "No space left on device" in manifest["error"]
    done = _rounds_done(run_dir)
    assert 1 <= done < 300

    grow()  # space is back
    resumed = runner.invoke(app, ["run", "--resume", str(run_dir), "-q"])
    assert resumed.exit_code == 0, resumed.output
    assert read_json(run_dir / MANIFEST)["status"] == "completed"
    assert runner.invoke(app, [*args, "--out", str(reference)]).exit_code == 0
    assert normalised_log(run_dir) == normalised_log(reference)


# ---- damaged state, wrong folders, races ------------------------------------------------------------


def _failed_run(run_dir: Path, rounds: int = 4) -> None:
    spec = load_scenario("bertrand", {"rounds": rounds})
    import asyncio

    with pytest.raises(Exception, match="fake server went away"):
        asyncio.run(Run(spec, run_dir, llm=FakeLLM(fail_at=9)).execute())


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        ("{ not json", "checkpoint.json: not valid JSON"),
        ('{"rounds_completed": 2}', "checkpoint.json: 'seq' is missing or not a int; the file is damaged"),
        ("[1, 2]", "checkpoint.json: expected a JSON object; the file is damaged"),
    ],
)
def test_a_damaged_checkpoint_is_one_line_and_the_run_can_start_over(
    tmp_path: Path, backbone_calls: list[str], damage: str, says: str
) -> None:
    run_dir, reference = tmp_path / "run", tmp_path / "reference"
    _failed_run(run_dir)
    (run_dir / CHECKPOINT).write_text(damage)
    for cmd in (["resume", str(run_dir)], ["run", "--resume", str(run_dir)]):
        result = runner.invoke(app, cmd)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code in (1, 2) and len(lines) == 1 and "Traceback" not in result.output, result.output
        assert says in lines[0] and f"mv {run_dir / CHECKPOINT} {run_dir / CHECKPOINT}.damaged" in lines[0]
    assert backbone_calls == []  # refused before any model started
    (run_dir / CHECKPOINT).rename(run_dir / (CHECKPOINT + ".damaged"))
    assert runner.invoke(app, ["resume", str(run_dir), "-q"]).exit_code == 0
    assert (run_dir / "events.discarded-1.jsonl").exists()  # the old log is kept aside, not deleted
    assert runner.invoke(app, ["run", "bertrand", "--rounds", "4", "-q", "--out", str(reference)]).exit_code == 0
    assert normalised_log(run_dir) == normalised_log(reference)


def test_a_damaged_manifest_or_a_file_for_a_folder_is_one_line(tmp_path: Path, backbone_calls: list[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [
        (["run", "--resume", str(afile)], f"{afile} is a file, not a run folder"),
        (["resume", str(afile)], f"{afile} is a file, not a run folder"),
        (["run", "bertrand", "--out", str(afile)], f"{afile} is a file, not a run folder; choose another --out"),
        (["replay", str(afile)], f"{afile} is a file, not a run folder"),
    ]
    run_dir = tmp_path / "run"
    _failed_run(run_dir)
    damaged = {
        b"\xff\xfe garbage": f"{run_dir / MANIFEST}: not valid JSON (not UTF-8); the file is damaged",
        b'{"status": "failed"}': f"{run_dir / MANIFEST}: no run_id or scenario; the file is damaged",
    }
    for content, says in damaged.items():
        cases += [(["resume", str(run_dir)], says, content), (["run", "--resume", str(run_dir)], says, content)]
    for cmd, says, *content in cases:
        if content:
            (run_dir / MANIFEST).write_bytes(content[0])
        result = runner.invoke(app, cmd)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and lines == [f"error: {says}"] and "Traceback" not in result.output, (
            cmd,
            result.output,
        )
    assert backbone_calls == []


def test_the_loser_of_a_folder_race_leaves_the_winners_run_alone(tmp_path: Path, backbone_calls: list[str]) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    winner = RunLock(run_dir)  # another process is playing its run in this folder
    (run_dir / EVENTS_FILE).write_text("")
    (run_dir / MANIFEST).write_text('{"status": "running"}')
    try:
        result = runner.invoke(app, ["run", "bertrand", "--out", str(run_dir), "-q"])
    finally:
        winner.release()
    assert result.exit_code == 1
    assert "is being written by another sociallm process" in result.stderr
    assert "--resume" not in result.output and "what ran is kept" not in result.output
    assert backbone_calls == []  # it found out before starting a model
    assert read_json(run_dir / MANIFEST) == {"status": "running"}  # the winner's manifest is untouched
    # The winner finished: the folder holds a completed run, which is not this user's to continue.
    (run_dir / MANIFEST).write_text('{"status": "completed"}')
    result = runner.invoke(app, ["run", "bertrand", "--out", str(run_dir), "-q"])
    assert result.exit_code == 1 and "--resume" not in result.output
    assert f"{run_dir} already holds a completed run; choose another --out" in result.stderr


def test_a_backend_that_fails_to_start_leaves_no_folder(tmp_path: Path, monkeypatch) -> None:
    async def broken(spec):
        from sociallm.backbone.base import BackendError

        raise BackendError("cannot reach model server at http://nowhere/v1")

    monkeypatch.setattr(run_module, "default_backbone", broken)
    result = runner.invoke(app, ["run", "bertrand", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "cannot reach model server" in result.stderr
    assert not (tmp_path / "r").exists() and "--resume" not in result.output


async def test_a_run_whose_last_checkpoint_fails_is_not_completed(tmp_path: Path, monkeypatch) -> None:
    import sociallm.runtime.rundir as rundir_module

    write = rundir_module.Checkpointer._write

    def full_at_the_end(self, text: str, log_fd: int) -> None:
        if json.loads(text)["rounds_completed"] == 3:
            raise rundir_module.RunDirError(f"cannot write {self.path} (No space left on device)")
        write(self, text, log_fd)

    monkeypatch.setattr(rundir_module.Checkpointer, "_write", full_at_the_end)
    spec = load_scenario("bertrand", {"rounds": 3})
    with pytest.raises(rundir_module.RunDirError, match="No space left on device"):
        await Run(spec, tmp_path / "r", llm=FakeLLM()).execute()
    manifest = read_json(tmp_path / "r" / MANIFEST)
    assert manifest["status"] == "failed" and "checkpoint.json (No space left on device)" in manifest["error"]
    assert _rounds_done(tmp_path / "r") == 2
    monkeypatch.undo()
    result = await Run.resume(tmp_path / "r", llm=FakeLLM()).execute()
    assert result.status == "completed" and result.rounds_completed == 3
