import json
from pathlib import Path

import pytest

from sociallm.orchestration.run import Run
from sociallm.runtime import registry
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.scenario import ScenarioError, load_scenario, section_module
from tests.fakes import FakeLLM


@pytest.fixture(autouse=True)
def probe_registered(monkeypatch):
    monkeypatch.setitem(registry.BUILTIN[registry.SECTIONS], "probe", "tests.agents.probe_section")


async def test_sections_plug_into_prompt_events_and_checkpoints(tmp_path: Path) -> None:
    spec = load_scenario(
        "bertrand", {"rounds": 2, "sections": {"probe": {"note": "mood"}}, "agents.1.sections": {"probe": {"level": 5}}}
    )
    llm = FakeLLM()
    run = Run(spec, tmp_path / "r", llm=llm)
    await run.execute()
    alice, bob = (run.agents[n].sections[0] for n in ("Alice", "Bob"))
    assert alice.config.note == "mood" and alice.config.level == 1
    assert bob.config.note == "mood" and bob.config.level == 5  # agent override merged over the scenario's
    prompt = next(r.prompt for r in llm.requests if r.agent == "Alice")
    assert prompt.index("Private notes") < prompt.index("[mood level 1]") < prompt.index("--- Round 1 ---")
    assert alice.prepared == 4 and alice.after == ["message", "action", "message", "action"]
    calls_seen = {source for kind, source in alice.seen if kind == "llm_call"}
    assert calls_seen == {"Alice"}  # another agent's prompt would leak its private notes
    events = read_events(tmp_path / "r" / "events.jsonl").events
    affects = [e for e in events if e.kind == "affect"]
    assert len(affects) == 8 and {e.source for e in affects} == {"Alice", "Bob"}
    checkpoint = json.loads((tmp_path / "r" / "checkpoint.json").read_text())
    assert checkpoint["agents"]["Alice"]["sections"]["probe"] == {"prepared": 4}


def test_bad_section_options_are_reported_at_their_place() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("bertrand", {"sections": {"probe": {"level": "high"}}})
    assert any(line.startswith("sections.probe.level:") for line in info.value.lines)
    with pytest.raises(ScenarioError) as info:
        load_scenario("bertrand", {"agents.0.sections": {"probe": {"nope": 1}}})
    assert any(line.startswith("agents[0].sections.probe.nope: unknown field") for line in info.value.lines)
    with pytest.raises(ScenarioError) as info:
        load_scenario("bertrand", {"sections": {"telepathy": {}}})
    assert "sections.telepathy: unknown section 'telepathy'" in info.value.lines[0]


def test_every_registered_section_module_exists_and_has_config_and_build() -> None:
    for name in registry.names(registry.SECTIONS):
        module = section_module(name)  # an entry naming a missing module would crash a run here
        assert hasattr(module, "Config") and callable(module.build)


def _resources(spec, environment):
    from sociallm.runtime.resources import RunResources

    async def emit(ev):
        return ev

    return RunResources(spec, FakeLLM(), emit, lambda: 0, Path("."), environment)


def test_a_section_missing_what_it_needs_is_refused_in_one_line() -> None:
    """Emotion needs the run's environment: sections built without it (as workers once did) are refused."""
    from sociallm.agents.sections import SectionError, build_sections, section_context

    spec = load_scenario("bertrand-emotion")
    with pytest.raises(SectionError) as info:
        build_sections(section_context(_resources(spec, None), spec.agents[0]))
    msg = str(info.value)
    assert msg.startswith("agents.Alice.sections.emotion: needs the run's environment") and "\n" not in msg


def test_optional_needs_are_used_only_when_provided() -> None:
    from sociallm.agents.emotion import APPRAISE, TRUST
    from sociallm.agents.sections import build_sections, section_context
    from sociallm.orchestration.resources import fresh_environment

    spec = load_scenario("bertrand-emotion")
    ctx = section_context(_resources(spec, fresh_environment(spec)), spec.agents[0])
    build_sections(ctx)
    assert ctx.uses(APPRAISE) is ctx.environment  # Bertrand appraises outcomes
    assert ctx.uses(TRUST) is None  # no tom section in this scenario: trust is simply not used

    class NoAppraisal:
        def rules(self, agent: str) -> str:
            return ""

    ctx = section_context(_resources(spec, NoAppraisal()), spec.agents[0])
    build_sections(ctx)  # required need met (an environment), optional one absent: fine
    assert ctx.uses(APPRAISE) is None
