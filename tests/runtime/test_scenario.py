from pathlib import Path

import pytest

from sociallm.environments import get_environment
from sociallm.runtime.scenario import ScenarioError, builtin_scenarios, load_scenario, parse_scenario


def test_every_builtin_scenario_loads_and_its_environment_accepts_it() -> None:
    names = builtin_scenarios()
    assert "bertrand" in names
    for name in names:
        spec = load_scenario(name)
        env = get_environment(spec.environment.kind)
        import random

        env.reset(spec.agent_names, spec.environment.params, random.Random(spec.seed))
        for phase in spec.schedule:
            if phase.kind == "act":
                env.action_spec(phase.action, spec.agent_names[0])


def minimal(**extra):
    data = {
        "name": "t",
        "agents": [{"name": "A"}, {"name": "B"}],
        "schedule": [{"name": "chat", "kind": "talk"}],
        "environment": {"kind": "bertrand"},
    }
    data.update(extra)
    return data


def problems(data) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, "s.yaml")
    return info.value.lines


def test_minimal_defaults() -> None:
    spec = parse_scenario(minimal())
    assert spec.channels[0].name == "public" and spec.members("public") == ["A", "B"]
    assert spec.backbone.kind == "embedded"


def test_errors_name_the_path_in_the_file() -> None:
    data = minimal(agents=[{"name": "A"}, {"persona": "no name"}, {"name": "C", "personna": "typo"}])
    lines = problems(data)
    assert "agents[1].name: Field required" in lines
    assert any(line.startswith("agents[2].personna: unknown field") and "persona" in line for line in lines)


def test_reference_errors() -> None:
    lines = problems(minimal(schedule=[{"name": "chat", "kind": "talk", "channel": "back_room"}]))
    assert any("schedule[0].channel: unknown channel 'back_room'" in line for line in lines)
    lines = problems(minimal(channels=[{"name": "public"}, {"name": "dm", "members": ["A", "Zed"]}]))
    assert any("channels[1].members: unknown agent 'Zed'" in line for line in lines)
    lines = problems(minimal(agents=[{"name": "A"}, {"name": "a"}]))
    assert any("used twice" in line for line in lines)


def test_act_phase_needs_action_and_openai_needs_url() -> None:
    assert any("needs `action:`" in line for line in problems(minimal(schedule=[{"name": "p", "kind": "act"}])))
    assert any("needs `url:`" in line for line in problems(minimal(backbone={"kind": "openai"})))


def test_not_a_mapping() -> None:
    assert "YAML mapping" in problems(["a", "b"])[0]


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: t\nagents: [\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(f))
    assert "YAML syntax error" in info.value.lines[0] and "line" in info.value.lines[0]


def test_unknown_builtin_lists_known() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("no-such-game")
    assert "bertrand" in info.value.lines[0]


def test_overrides() -> None:
    spec = load_scenario("bertrand", {"rounds": 2, "environment.params.mu": 0.5, "agents.1.persona": "p"})
    assert spec.rounds == 2 and spec.environment.params["mu"] == 0.5 and spec.agents[1].persona == "p"
    with pytest.raises(ScenarioError):
        load_scenario("bertrand", {"agents.9.persona": "x"})
