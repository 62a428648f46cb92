"""Every shell and Python example of the README runs as written, in README order, in one folder.

Each ```sh / ```python block carries a marker on the line before it:
  <!-- readme-test: run -->            run it here
  <!-- readme-test: skip: WHY -->      not here; WHY names the test that covers it (checked to exist)
A block without a marker fails the test, so a new example cannot go untested by accident.

How: each shell line is split as a shell would (shlex) and run by the real `sociallm` app in this
process, with the embedded model swapped for the instant fake model (tests/readme_cli.py): the
examples' commands, flags, folders, errors and hints are the real ones, the model's words are not.
An example that names a server (`--backend http://127.0.0.1:8000/v1`) talks to a local stand-in
OpenAI server on a free port (tests/backbone/fake_vllm) through the real OpenAI-compatible client.
Python blocks run here with the same swap. A line ending in `# → error: ...` must fail and print
that error, word for word.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = re.compile(r"<!--\s*readme-test:\s*(run|skip)\s*(?::\s*(.*?))?\s*-->")
EXPECT = re.compile(r"^(?P<cmd>.*?)\s+#\s*→\s*(?P<msg>error: .*)$")


def readme_blocks() -> list[tuple[int, str, str, str]]:
    """(line, language, marker, body) of every sh/python block; marker '' when there is none."""
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\w+)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if lang in ("sh", "python"):
            prev = lines[start - 1] if start > 0 else ""
            mk = MARKER.search(prev)
            marker = "" if mk is None else mk.group(1) + (f": {mk.group(2)}" if mk.group(2) else "")
            blocks.append((start + 1, lang, marker, "\n".join(lines[start + 1 : j])))
        i = j + 1
    return blocks


BLOCKS = readme_blocks()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    """A folder where the README's examples run in order, and a stand-in OpenAI server for the examples
    that name one."""
    ws = tmp_path_factory.mktemp("readme")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests/backbone/fake_vllm")}
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", "NAME", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield ws, port
    finally:
        server.terminate()
        server.wait(10)


def _flat(text: str) -> str:
    return " ".join(text.split())  # the terminal may wrap a long line anywhere between words


def run_shell_block(line_no: int, body: str, ws: Path, port: int, brokers: list[Any]) -> None:
    """Each line as a shell would split it (shlex), run by the real `sociallm` app in this process (a
    Python start-up per command costs seconds on a loaded 2-core machine). Supported: `sociallm ...`,
    `> FILE`, comments, `source .venv/bin/activate`, and `mosquitto -p 1883 &` (a real Mosquitto on a
    free port, put in place of 1883 in the lines after it); anything else fails, so the README stays
    in what is checked here."""
    from typer.testing import CliRunner

    from sociallm.cli import app
    from tests.runtime.broker import MOSQUITTO, Mosquitto

    swaps = {"127.0.0.1:8000": f"127.0.0.1:{port}"}
    for k, raw in enumerate(body.splitlines()):
        where = f"README.md:{line_no + 1 + k}: {raw.strip()}"
        text = raw
        for old, new in swaps.items():
            text = text.replace(old, new)
        if text.startswith("mosquitto -p "):
            if MOSQUITTO is None:
                pytest.skip("the example needs the mosquitto binary")
            asked = shlex.split(text, comments=True)
            assert asked[:2] == ["mosquitto", "-p"] and asked[3:] == ["&"], where
            broker = Mosquitto(ws / f"mosquitto-{len(brokers)}")
            broker._spawn()
            brokers.append(broker)
            swaps[f"127.0.0.1:{asked[2]}"] = f"127.0.0.1:{broker.port}"
            continue
        m = EXPECT.match(text)
        expect = m.group("msg") if m else None
        words = shlex.split(m.group("cmd") if m else text, comments=True)
        if not words:
            continue
        if words[0] == "source":
            assert words[1:] == [".venv/bin/activate"], where
            continue
        target = None
        if ">" in words:
            i = words.index(">")
            target, words = words[i + 1], words[:i]
        assert words[0] == "sociallm" and all(w not in ("|", "&", ";", "&&") for w in words), (
            f"{where}: the README test runs `sociallm ...` lines only"
        )
        result = CliRunner().invoke(app, words[1:])
        output = result.stdout + (result.stderr if result.stderr_bytes is not None else "")
        if expect is not None:
            assert result.exit_code != 0, f"{where}: should fail, but:\n{output}"
            assert _flat(expect) in _flat(output), f"{where}: expected {expect!r}, got:\n{output}"
            continue
        assert result.exit_code == 0, f"{where}: exit {result.exit_code}\n{output}\n{result.exception!r}"
        if target is not None:
            (ws / target).write_text(result.stdout, encoding="utf-8")


def test_every_example_is_marked() -> None:
    unmarked = [f"README.md:{line} ({lang})" for line, lang, marker, _ in BLOCKS if not marker]
    assert not unmarked, f"examples without a readme-test marker: {unmarked}"
    for line, _, marker, _ in BLOCKS:
        if marker.startswith("skip"):
            why = marker.partition(":")[2]
            named = re.findall(r"tests/[\w/]+\.py", why)
            assert named, f"README.md:{line}: a skipped example must name the test that covers it"
            for path in named:
                assert (ROOT / path).exists(), f"README.md:{line}: {path} does not exist"
    assert sum(m == "run" for _, _, m, _ in BLOCKS) >= 5


@pytest.mark.integration  # a stand-in server and Mosquitto as subprocesses; ~15 s of CPU for all blocks
@pytest.mark.parametrize(
    ("line", "lang", "body"),
    [pytest.param(line, lang, body, id=f"README.md:{line}") for line, lang, marker, body in BLOCKS if marker == "run"],
)
def test_readme_example_runs(line: int, lang: str, body: str, workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ws, port = workspace
    import sociallm.orchestration.run as run_module
    from tests.readme_cli import instant_or_real

    monkeypatch.setattr(run_module, "default_backbone", instant_or_real)
    monkeypatch.chdir(ws)
    if lang == "sh":
        brokers: list[Any] = []
        try:
            run_shell_block(line, body, ws, port, brokers)
        finally:
            for b in brokers:
                if b.proc is not None:
                    b.proc.terminate()
                    b.proc.wait(10)
        return
    exec(compile(body, f"README.md:{line}", "exec"), {"__name__": "__readme__"})


def test_makefile_announces_each_setup_step(tmp_path: Path) -> None:
    """`make demo` / `make vllm-env` on a fresh machine: every install step says what it does and how
    long it takes, and when (a dry run: nothing installed)."""
    for target, steps in (("demo", 3), ("vllm-env", 4)):
        proc = subprocess.run(
            ["make", "-n", target, f"VENV={tmp_path}/v", f"VLLM_VENV={tmp_path}/vv", f"PYTHON={sys.executable}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        announced = re.findall(r'echo "==> \[(\d)/(\d)\]', proc.stdout)
        assert [int(k) for k, _ in announced] == list(range(1, steps + 1)), proc.stdout
        assert "done in" in proc.stdout
        # Here stderr is no terminal: pip is told -q (a CI log stays short); on a terminal it is not.
        pips = re.findall(r"pip (?:install|uninstall -y) (-q )?", proc.stdout)
        assert pips and all(q for q in pips), proc.stdout
