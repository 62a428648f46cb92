"""One validation path: `check`, `run`, `sweep` and the Python API refuse the same scenarios with the same
lines, every problem listed, and nothing (no model server, no run folder) starts before they pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import sociallm
import sociallm.orchestration.run as run_module
from sociallm.cli import app
from sociallm.orchestration.experiment import ConditionError
from sociallm.orchestration.run import Run
from sociallm.runtime.scenario import ScenarioError, load_scenario, parse_scenario
from tests.fakes import FakeLLM

runner = CliRunner()


def scenario(**extra) -> dict:
    data = {
        "name": "t",
        "rounds": 2,
        "agents": [{"name": "Alice"}, {"name": "Bob"}],
        "schedule": [{"name": "chat", "kind": "talk"}, {"name": "pricing", "kind": "act", "action": "price"}],
        "environment": {"kind": "bertrand"},
    }
    data.update(extra)
    return data


@pytest.fixture
def backbone_calls(monkeypatch) -> list[str]:
    """Records every model server the run would start (it gets a fake one)."""
    calls: list[str] = []

    async def fake_backbone(spec):
        calls.append(spec.name)
        return FakeLLM()

    monkeypatch.setattr(run_module, "default_backbone", fake_backbone)
    return calls


def refused_alike(path: Path, tmp_path: Path, backbone_calls: list[str]) -> list[str]:
    """Lines of `check`; `run` must refuse with the same lines, before a model or a run folder exists."""
    checked = runner.invoke(app, ["check", str(path)])
    assert checked.exit_code == 2, checked.output
    out = tmp_path / "run-folder"
    ran = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert ran.exit_code == 2, ran.output
    assert ran.stderr == checked.stderr
    assert not out.exists() and backbone_calls == []
    swept = runner.invoke(app, ["sweep", str(path), "--seeds", "1", "--out", str(tmp_path / "sweep")])
    assert swept.exit_code == 2 and not (tmp_path / "sweep").exists() and backbone_calls == []
    lines = checked.stderr.strip().splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines) and "Traceback" not in checked.output
    # The Python API refuses it too, with the same lines.
    with pytest.raises(ConditionError) as info:
        sociallm.load_scenario(path)
    assert [line.split(": ", 1)[1] for line in str(info.value).splitlines()] == [
        line.split(": ", 1)[1] for line in lines
    ]
    return [line.split(": ", 1)[1] for line in lines]


def write(tmp_path: Path, data: dict, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_unknown_environment_kind(tmp_path: Path, backbone_calls: list[str]) -> None:
    lines = refused_alike(write(tmp_path, scenario(environment={"kind": "martian"})), tmp_path, backbone_calls)
    assert lines == ["environment.kind: unknown environment 'martian'; known: auction, bertrand, briefing, commons, "
                     "deception, ipd, overseer, village"]  # fmt: skip


def test_every_bad_environment_parameter_is_listed(tmp_path: Path, backbone_calls: list[str]) -> None:
    params = {"mu": -1, "alpha": "x", "c": [1.0, -2.0], "zzz": 1, "price_min": 5, "price_max": 2}
    lines = refused_alike(
        write(tmp_path, scenario(environment={"kind": "bertrand", "params": params})), tmp_path, backbone_calls
    )
    assert lines == [
        "environment.params.c[1]: must be >= 0 (got -2)",
        "environment.params.mu: must be > 0 (got -1)",
        "environment.params.alpha: must be a finite number (got 'x')",
        "environment.params.price_max: must be > price_min 5 (got 2)",
        "environment.params.zzz: unknown parameter; known: a, a0, alpha, c, menu, mu, price_max, price_min",
    ]


def test_parameters_that_depend_on_the_players(tmp_path: Path, backbone_calls: list[str]) -> None:
    agents = [{"name": n} for n in ("Ann", "Ben", "Cy")]
    params = {"overseer": "Zed", "options": ["A"], "collusion": "yes"}
    data = scenario(
        agents=agents,
        schedule=[{"name": "v", "kind": "act", "action": "vote"}],
        environment={"kind": "overseer", "params": params},
    )
    lines = refused_alike(write(tmp_path, data), tmp_path, backbone_calls)
    assert lines == [
        "environment.params.overseer: unknown agent 'Zed'; known: Ann, Ben, Cy",
        "environment.params.options: must be a list of two or more names (got ['A'])",
        "environment.params.collusion: must be true or false (got 'yes')",
    ]
    # A count the parameters cannot see: the prisoner's dilemma takes two players, found by setting it up.
    data = scenario(
        agents=agents, schedule=[{"name": "m", "kind": "act", "action": "move"}], environment={"kind": "ipd"}
    )
    lines = refused_alike(write(tmp_path, data, "ipd.yaml"), tmp_path, backbone_calls)
    assert lines == ["environment.params.agents: the prisoner's dilemma takes exactly 2 players (got 3)"]


def test_unknown_action_is_refused_before_a_model_starts(tmp_path: Path, backbone_calls: list[str]) -> None:
    data = scenario(schedule=[{"name": "chat", "kind": "talk"}, {"name": "pricing", "kind": "act", "action": "moove"}])
    lines = refused_alike(write(tmp_path, data), tmp_path, backbone_calls)
    assert lines == ["schedule[1].action: unknown action 'moove' for bertrand; known: price"]
    data = scenario(schedule=[{"name": "a", "kind": "act", "action": "bid"}], environment={"kind": "deception"})
    (line,) = refused_alike(write(tmp_path, data, "d.yaml"), tmp_path, backbone_calls)
    assert line.startswith("schedule[0].action: unknown action 'bid' for deception; known: none")


def test_duplicate_names_and_empty_members(tmp_path: Path, backbone_calls: list[str]) -> None:
    data = scenario(
        agents=[{"name": "Alice"}, {"name": "Bob"}, {"name": "alice"}],
        channels=[
            {"name": "public"},
            {"name": "public"},
            {"name": "backroom", "members": []},
            {"name": "pair", "members": ["Bob", "Bob", "Zed"]},
        ],
        schedule=[
            {"name": "chat", "kind": "talk"},
            {"name": "chat", "kind": "talk", "channel": "nowhere"},
            {"name": "pricing", "kind": "act", "action": "price"},
        ],
    )
    lines = refused_alike(write(tmp_path, data), tmp_path, backbone_calls)
    assert lines == [
        "agents[2].name: agent name 'alice' is used twice (also agents[0]) (names differ only in case); "
        "names must be unique",
        "channels[1].name: channel 'public' is used twice (also channels[0]); names must be unique",
        "schedule[1].name: phase 'chat' is used twice (also schedule[0]); names must be unique",
        "channels[2].members: empty; list at least one agent, or write `members: all`",
        "channels[3].members: 'Bob' is listed 2 times",
        "channels[3].members: unknown agent 'Zed'; agents: Alice, Bob, alice",
        "schedule[1].channel: unknown channel 'nowhere'; add it under channels:",
    ]


def test_model_errors_and_environment_errors_come_in_one_pass(tmp_path: Path, backbone_calls: list[str]) -> None:
    data = scenario(rounds=0, environment={"kind": "bertrand", "params": {"mu": 0}})
    data["agents"][1]["personna"] = "typo"
    lines = refused_alike(write(tmp_path, data), tmp_path, backbone_calls)
    assert lines[0] == "rounds: Input should be greater than or equal to 1"
    assert lines[1].startswith("agents[1].personna: unknown field; check the spelling")
    assert lines[2] == "environment.params.mu: must be > 0 (got 0)"


def test_section_options_are_checked_by_the_same_path(tmp_path: Path, backbone_calls: list[str]) -> None:
    data = scenario(sections={"memory": {"top_n": 0}, "telepathy": {}})
    lines = refused_alike(write(tmp_path, data), tmp_path, backbone_calls)
    assert "sections.memory.top_n: Input should be greater than or equal to 1" in lines
    assert any(line.startswith("sections.telepathy: unknown section 'telepathy'") for line in lines)


def test_a_spec_changed_in_python_is_refused_by_run(tmp_path: Path) -> None:
    spec = parse_scenario(scenario())
    bad = spec.model_copy(update={"schedule": [spec.schedule[0].model_copy(update={"kind": "act", "action": "x"})]})
    with pytest.raises(ScenarioError) as info:
        Run(bad, tmp_path / "r", llm=FakeLLM())
    assert info.value.lines == ["schedule[0].action: unknown action 'x' for bertrand; known: price"]
    assert not (tmp_path / "r").exists()
    with pytest.raises(ConditionError, match=r"environment\.params\.mu: must be > 0"):
        sociallm.run(spec, tmp_path / "r2", llm=FakeLLM(), **{"environment.params.mu": -1})


def test_check_with_set_refuses_what_run_with_set_refuses(backbone_calls: list[str]) -> None:
    checked = runner.invoke(app, ["check", "bertrand", "--set", "schedule.1.action=moove"])
    ran = runner.invoke(app, ["run", "bertrand", "--set", "schedule.1.action=moove"])
    assert checked.exit_code == ran.exit_code == 2 and checked.stderr == ran.stderr
    assert "schedule[1].action: unknown action 'moove' for bertrand; known: price" in checked.stderr
    assert backbone_calls == []


def test_every_builtin_scenario_passes_the_same_path() -> None:
    for name in ("bertrand", "auction", "commons", "overseer", "deception", "ipd"):
        spec = load_scenario(name)
        Run(spec, Path("/nonexistent/never-made"), llm=FakeLLM())  # validation only; nothing is written
