"""Every hint in an error names a command that works in that situation: each backticked `sociallm ...`
command of the error is run as given, and must succeed (the instant fake model stands in)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sociallm.orchestration.run as run_module
from sociallm.cli import app
from tests.readme_cli import instant_or_real


def sociallm(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def hinted(text: str) -> list[list[str]]:
    return [shlex.split(c)[1:] for c in re.findall(r"`(sociallm [^`]+)`", " ".join(text.split()))]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A completed run and a completed sweep, made once; each test works on its own copy."""
    base = tmp_path_factory.mktemp("hints")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run_module, "default_backbone", instant_or_real)
        mp.chdir(base)
        assert sociallm("run", "bertrand", "--rounds", "2", "--out", "runs/demo", "-q").exit_code == 0
        assert sociallm("sweep", "bertrand", "--seeds", "1", "--set", "comm=none,public", "--rounds", "2",
                        "--out", "sweeps/s").exit_code == 0  # fmt: skip
    return base


@pytest.fixture
def ws(made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(made, tmp_path / "ws")
    monkeypatch.setattr(run_module, "default_backbone", instant_or_real)
    monkeypatch.chdir(tmp_path / "ws")
    return tmp_path / "ws"


CASES = [
    # (what the user typed, words the error must hold, how many hinted commands at least)
    (["run", "--resume", "runs/demo"], ["already completed all 2 rounds"], 3),
    (["resume", "runs/demo"], ["already completed all 2 rounds"], 3),
    (["run", "bertrand", "--out", "runs/demo"], ["already holds a completed run", "choose another --out"], 1),
    (["run", "--resume", "sweeps/s"], ["is a sweep folder"], 2),
    (["show", "sweeps/s"], ["is a sweep folder"], 2),
    (["replay", "sweeps/s"], ["is a sweep folder"], 2),
    (["sweep", "--resume", "runs/demo"], ["is a run folder, not a sweep"], 2),
    (["sweep", "bertrand", "--seeds", "2", "--out", "sweeps/s"], ["holds a different sweep"], 1),
]


@pytest.mark.integration  # each case plays the hinted commands (runs, reports): ~2-5 s each
@pytest.mark.parametrize(("typed", "words", "n"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_each_hint_names_a_command_that_works(ws: Path, typed: list[str], words: list[str], n: int) -> None:
    result = sociallm(*typed)
    text = result.stdout + result.stderr
    assert result.exit_code != 0, text
    for w in words:
        assert w in " ".join(text.split()), text
    assert "--resume runs/demo`" not in text  # never "resume" a completed run again: that is the circle
    commands = hinted(text)
    assert len(commands) >= n, text
    for cmd in commands:
        done = sociallm(*cmd)
        assert done.exit_code == 0, f"hint `sociallm {' '.join(cmd)}` failed:\n{done.stdout}{done.stderr}"


def test_resume_of_an_unfinished_run_is_offered_only_then(ws: Path) -> None:
    manifest = ws / "runs/demo/manifest.json"
    manifest.write_text(manifest.read_text().replace('"status": "completed"', '"status": "interrupted"'))
    result = sociallm("sweep", "--resume", "runs/demo")
    assert hinted(result.stderr) == [["resume", "runs/demo"]]
    result = sociallm("run", "bertrand", "--out", "runs/demo", "-q")
    assert hinted(result.stderr) == [["run", "--resume", "runs/demo"]]
    assert sociallm(*hinted(result.stderr)[0]).exit_code == 0  # it did continue (and complete) the run
    manifest.unlink()  # a log with no manifest: nothing to resume
    result = sociallm("run", "bertrand", "--out", "runs/demo", "-q")
    assert result.exit_code != 0 and "choose another --out" in result.stderr and "--resume" not in result.stderr
