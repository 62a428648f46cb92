"""Bounded input: files too big, not UTF-8, nested too deep or amplified by aliases are refused in one line
naming the file and the limit, quickly and without the memory they would have cost; prompts that grow past
`backbone.max_prompt_chars` stop the run with one line naming the agent and the part that grew."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import sociallm.orchestration.run as run_module
from sociallm.cli import app
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import EVENTS_FILE
from sociallm.runtime.rundir import MANIFEST, read_json
from sociallm.runtime.scenario import MAX_ERROR_LINES, ScenarioError, load_raw, load_scenario, parse_scenario
from sociallm.runtime.scenario_file import ENV_MAX_BYTES, Limits
from tests.fakes import FakeLLM

runner = CliRunner()
HEAD = (
    "name: t\nagents: [{name: Alice}, {name: Bob}]\nschedule: [{name: chat, kind: talk}]\n"
    "environment: {kind: bertrand}\n"
)


@pytest.fixture(autouse=True)
def no_model(monkeypatch) -> None:
    async def refuse(spec):
        raise AssertionError("a model server was started for a scenario that should have been refused")

    monkeypatch.setattr(run_module, "default_backbone", refuse)


def one_line(path: Path, *commands: list[str]) -> str:
    """The one stderr line every command gives for `path`; each exits 2 without a traceback."""
    outputs = []
    for cmd in commands or (["check"], ["run"]):
        result = runner.invoke(app, [*cmd, str(path)])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{path}: "), lines
        outputs.append(lines[0])
    assert len(set(outputs)) == 1
    return outputs[0].removeprefix(f"{path}: ")


def test_alias_amplification_is_refused_fast_and_small(tmp_path: Path) -> None:
    # The file: ~112 KB, `goals` of 3,000 aliases to one long string (~110 MB once expanded).
    path = tmp_path / "bomb.yaml"
    long = "x" * 100_000
    goals = ", ".join(["*g"] * 3000)
    path.write_text(f"{HEAD}x: &g {long}\ngoals: [{goals}]\n")
    assert 100_000 < path.stat().st_size < 130_000
    tracemalloc.start()
    started = time.perf_counter()
    line = one_line(path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "line 6: more than 1000 aliases (*name)" in line
    assert elapsed < 10 and peak < 50e6, (elapsed, peak)
    # Fewer aliases, still ~50 MB expanded: the expansion limit.
    path.write_text(f"{HEAD}x: &g {long}\ngoals: [{', '.join(['*g'] * 500)}]\n")
    line = one_line(path)
    assert "with its aliases expanded this value is over the 2.0 MiB" in line and ENV_MAX_BYTES in line


def test_billion_laughs_and_alias_count(tmp_path: Path) -> None:
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "laughs.yaml"
    path.write_text(HEAD + "\n".join(levels) + "\n")
    assert "with its aliases expanded" in one_line(path)
    many = tmp_path / "aliases.yaml"
    many.write_text(HEAD + "x: &x 1\ny: [" + ", ".join(["*x"] * 1500) + "]\n")
    assert "more than 1000 aliases" in one_line(many)
    loop = tmp_path / "loop.yaml"
    loop.write_text(HEAD + "x: &x [1, *x]\n")
    assert "refers to a value that contains it" in one_line(loop)


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "name: t\nagents:\n  - &firm {name: Alice, persona: A careful firm.}\n  - {<<: *firm, name: Bob}\n"
        "schedule: [{name: chat, kind: talk}]\nenvironment: {kind: bertrand}\n"
    )
    spec = load_scenario(str(path))
    assert [a.persona for a in spec.agents] == ["A careful firm."] * 2


def test_size_limit_and_its_override(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "big.yaml"
    # 50 MB of unknown keys: refused by its size, at once, without reading it all.
    with open(path, "w") as f:
        f.write(HEAD)
        line = "unknown_key_%07d: some value that is not part of any scenario\n"
        f.writelines(line % i for i in range(800_000))
    assert path.stat().st_size > 50e6
    started = time.perf_counter()
    said = one_line(path)
    assert time.perf_counter() - started < 5
    assert said == f"file is over the 2.0 MiB limit for scenario files (raise it with {ENV_MAX_BYTES}=BYTES if it " \
                   "really is a scenario)"  # fmt: skip
    small = tmp_path / "small.yaml"
    small.write_text(HEAD)
    monkeypatch.setenv(ENV_MAX_BYTES, "50")
    assert "over the 50 bytes limit" in one_line(small, ["check"])
    monkeypatch.setenv(ENV_MAX_BYTES, "lots")
    assert one_line(small, ["check"]) == f"{ENV_MAX_BYTES}='lots': expected a number of bytes, e.g. 10000000"
    monkeypatch.setenv(ENV_MAX_BYTES, "100000000")
    assert load_scenario(str(small)).name == "t"


def test_many_problems_are_capped(tmp_path: Path) -> None:
    path = tmp_path / "typos.yaml"
    path.write_text(HEAD + "".join(f"typo_{i}: 1\n" for i in range(40_000)))
    started = time.perf_counter()
    result = runner.invoke(app, ["check", str(path)])
    assert time.perf_counter() - started < 30
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == MAX_ERROR_LINES + 1
    assert lines[0].startswith(f"{path}: typo_0: unknown field; check the spelling")
    assert lines[-1] == f"{path}: ... and {40_000 - MAX_ERROR_LINES} more problems"
    # A value as long as the file is cut in its line, never printed whole.
    with pytest.raises(ScenarioError) as info:
        parse_scenario({**yaml.safe_load(HEAD), "rounds": "9" * 100_000 + "x"}, "s.yaml")
    assert all(len(line) <= 400 for line in info.value.lines)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("name: café\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 9); save the file as UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a binary file, not YAML text (a NUL byte at offset 8)"),
        (b"\xff\xfe" + "name: t\n".encode("utf-16-le"), "a binary file, not YAML text (a NUL byte at offset 3)"),
        (b"name: t\x07\n", "unacceptable character #x0007: control characters are not allowed"),
    ],
)
def test_binary_and_non_utf8_files_name_the_file(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "weird.yaml"
    path.write_bytes(content)
    assert says in one_line(path)


def test_utf8_with_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + HEAD.encode())
    assert load_scenario(str(path)).name == "t"


def test_deep_nesting_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 100_000)
    assert "YAML syntax error" in one_line(deep)  # libyaml stops at 1,000 levels itself
    middling = tmp_path / "middling.yaml"
    middling.write_text(HEAD + "x: " + "[" * 500 + "]" * 500 + "\n")
    assert "nested more than 64 levels deep" in one_line(middling)
    block = tmp_path / "block.yaml"
    block.write_text(HEAD + "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v\n")
    assert "nested more than 64 levels deep" in one_line(block)
    # Depth built from aliases: each alias adds the depth of what it names.
    chained = tmp_path / "chained.yaml"
    chained.write_text(HEAD + "a0: &a0 " + "[" * 40 + "]" * 40 + "\na1: " + "[" * 30 + "*a0" + "]" * 30 + "\n")
    assert "with its aliases expanded this value is nested more than 64 levels deep" in one_line(chained)


def test_odd_values_are_one_line(tmp_path: Path) -> None:
    for text, says in [
        (HEAD + "when: 2001-13-40\n", "a value cannot be read"),
        (HEAD + "big: " + "9" * 5000 + "\n", "a value cannot be read"),
        (HEAD + "? [a, b]\n: 1\n", "YAML"),
        (HEAD + "x: !!python/object:os.system ls\n", "YAML"),
    ]:
        path = tmp_path / "odd.yaml"
        path.write_text(text)
        assert says in one_line(path, ["check"])


def test_a_folder_or_missing_file(tmp_path: Path) -> None:
    assert one_line(tmp_path / "nope.yaml", ["check"]) == "file not found"
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    assert one_line(folder, ["check"]) == "is a folder, not a scenario file"


def test_load_raw_limits_are_adjustable(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "x: [[[[1]]]]\n")
    with pytest.raises(ScenarioError, match="nested more than 3 levels"):
        load_raw(path, Limits(max_depth=3))
    assert load_raw(path, Limits(max_depth=8))["x"] == [[[[1]]]]


# ---- prompt length -----------------------------------------------------------------------------------


def test_a_prompt_prefix_over_the_limit_is_refused_before_the_run(tmp_path: Path) -> None:
    data = {**yaml.safe_load(HEAD), "backbone": {"max_prompt_chars": 5000}}
    data["agents"][1]["goals"] = ["win " * 500, "win big " * 500]
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, "s.yaml")
    (line,) = info.value.lines
    assert line.startswith("agents[1].goals: makes Bob's prompt 6,")
    assert "over backbone.max_prompt_chars (5,000); shorten it (6,000 characters) or raise the limit" in line


async def test_a_prompt_that_grows_stops_the_run_naming_agent_and_part(tmp_path: Path) -> None:
    data = {
        **yaml.safe_load(HEAD),
        "rounds": 20,
        "backbone": {"max_prompt_chars": 3000},
        "agent": {"history_lines": 1000, "max_reply_chars": 5000},
    }
    spec = parse_scenario(data, "s.yaml")
    llm = FakeLLM(lambda req: " " + "We keep prices high. " * 40)  # ~840 characters a reply
    with pytest.raises(RuntimeError) as info:
        await Run(spec, tmp_path / "r", llm=llm).execute()
    message = str(info.value)
    assert "\n" not in message
    assert "prompt for chat in round 2 is 3," in message  # round 1: 2 replies; round 2: a third one pushes it over
    assert (
        "over backbone.max_prompt_chars (3,000); the transcript (the last 1000 lines, agent.history_lines)" in message
    )
    manifest = read_json(tmp_path / "r" / MANIFEST)
    assert manifest["status"] == "failed" and "PromptTooLong" in manifest["error"]
    assert (tmp_path / "r" / EVENTS_FILE).exists()
    assert max(len(r.prompt or "") for r in llm.requests) <= 3000  # nothing over the limit was sent
