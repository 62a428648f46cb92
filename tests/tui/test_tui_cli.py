import asyncio
import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sociallm.cli.tui import register
from tests.tui.helpers import make_run_folder

ROOT = Path(__file__).resolve().parents[2]
# `sociallm watch` once cli.py registers it; until then the same command through this shim.
SHIM = (
    "import sys; from sociallm.cli import app; from sociallm.cli.tui import register; "
    "names = {c.name or c.callback.__name__ for c in app.registered_commands}; "
    "'watch' in names or register(app); app(prog_name='sociallm')"
)


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(lambda: None)  # a second command keeps typer in multi-command mode
    register(app)
    return app


def test_watch_over_mqtt_needs_a_run_id_and_a_good_url() -> None:
    result = CliRunner().invoke(cli(), ["watch", "--bus", "mqtt://127.0.0.1:1883"])
    assert result.exit_code == 2 and "--bus needs --run RUN_ID" in result.output
    result = CliRunner().invoke(cli(), ["watch", "--bus", "http://127.0.0.1:1883", "--run", "r1"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "expected mqtt://" in lines[0]


def test_watch_refuses_a_folder_without_a_log(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["watch", str(tmp_path)])
    assert result.exit_code == 2 and "no event log" in result.output


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def start_session(command: str) -> str:
    session = f"sociallm-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", command], check=True)
    return session


def wait_for(done: Callable[[], bool], seconds: float) -> None:
    """Poll until `done()` or the time is up; the caller asserts what it needed."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.2)


def screen_when(session: str, ready: Callable[[str], bool], seconds: float) -> str:
    screen = [""]

    def check() -> bool:
        screen[0] = tmux("capture-pane", "-p", "-t", session)
        return ready(screen[0])

    wait_for(check, seconds)
    return screen[0]


@pytest.mark.integration  # a real terminal in a subprocess: ~3-8 s
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_watch_in_a_real_terminal(tmp_path: Path) -> None:
    run = asyncio.run(make_run_folder(tmp_path / "run", rounds=3))
    # pytest exports COLUMNS/LINES, which Textual would take over the real terminal size.
    session = start_session(
        f'cd {ROOT} && env -u COLUMNS -u LINES {sys.executable} -c "{SHIM}" watch {run} --speed 400'
    )
    try:
        screen = screen_when(session, lambda s: "round 3/3" in s and "completed" in s, 20)
        assert "Alice: I am Alice and I propose we keep prices high." in screen, screen
        assert "Bob" in screen and "agents" in screen and "scenario metrics" in screen
        assert "not enabled in this run" in screen
        tmux("send-keys", "-t", session, "s")
        wait_for(lambda: bool(list(run.glob("tui-*.svg"))), 10)
        assert list(run.glob("tui-*.svg"))
        tmux("send-keys", "-t", session, "q")
        wait_for(lambda: session not in tmux("ls"), 10)
        assert session not in tmux("ls")  # q quit the app (and so the session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


RUN_SHIM = (
    "import sys, json; from pathlib import Path; from sociallm.orchestration.run import Run; "
    "from sociallm.runtime.scenario import load_scenario; from sociallm.cli.tui import run_with_tui; "
    "from tests.tui.helpers import SlowLLM; d = Path(sys.argv[1]); "
    "r = run_with_tui(Run(load_scenario('bertrand', {'rounds': 200}), d / 'run', llm=SlowLLM(0.05))); "
    "(d / 'result.json').write_text(json.dumps([r.status, r.rounds_completed]))"
)


@pytest.mark.integration  # a live run in a real terminal: ~5-10 s
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_run_with_tui_in_a_real_terminal_stops_on_q(tmp_path: Path) -> None:
    session = start_session(f'cd {ROOT} && env -u COLUMNS -u LINES {sys.executable} -c "{RUN_SHIM}" {tmp_path}')
    try:
        screen = screen_when(session, lambda s: "round 2/200" in s, 20)
        assert "running" in screen and "I am Alice" in screen, screen
        tmux("send-keys", "-t", session, "q")
        time.sleep(0.5)
        assert "still playing" in tmux("capture-pane", "-p", "-t", session)
        tmux("send-keys", "-t", session, "s")
        wait_for((tmp_path / "result.json").exists, 15)
        status, rounds = json.loads((tmp_path / "result.json").read_text())
        assert status == "stopped" and 2 <= rounds < 200
        manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
        assert manifest["status"] == "stopped" and manifest["rounds_completed"] == rounds
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)
