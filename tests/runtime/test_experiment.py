"""Conditions, shortcuts, interventions and their one-line errors (fake model: logic only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sociallm import Experiment, load_scenario, run
from sociallm.orchestration.experiment import ConditionError, Intervention, grid, parse_interventions
from sociallm.runtime.eventlog import read_events
from tests.fakes import FakeLLM


def test_comm_shortcut_builds_the_three_bertrand_conditions() -> None:
    none = load_scenario("bertrand", comm="none")
    assert [p.kind for p in none.schedule] == ["act"] and "cannot talk" in none.preamble
    public = load_scenario("bertrand", comm="public")
    assert public.schedule[0].channel == "public" and "public chat" in public.preamble
    private = load_scenario("bertrand", comm="private")
    assert private.schedule[0].channel == "backroom" and private.channel("backroom").private
    assert private.channel("backroom").members == ["Alice", "Bob"]
    silent_made_chatty = load_scenario("bertrand-silent", comm="public")
    assert silent_made_chatty.schedule[0].kind == "talk"


def test_n_shortcut_and_a_game_parameter_by_path() -> None:
    spec = load_scenario("bertrand", n=4, comm="private", **{"environment.params.alpha": 3.2})
    assert spec.agent_names == ["Alice", "Bob", "Carol", "Dave"]
    assert "four firms, Alice, Bob, Carol and Dave," in spec.preamble
    assert spec.environment.params["alpha"] == 3.2
    assert spec.channel("backroom").members == spec.agent_names  # n applies before comm
    assert load_scenario("bertrand", n=2).agent_names == ["Alice", "Bob"]


def test_any_field_by_dotted_path() -> None:
    spec = load_scenario("bertrand", **{"environment.params.mu": 0.5, "agents.1.persona": "Bob is calm.", "rounds": 2})
    assert spec.environment.params["mu"] == 0.5 and spec.agents[1].persona == "Bob is calm." and spec.rounds == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"comm": "smoke"}, "comm: must be one of none, public, private (got 'smoke')"),
        ({"colour": "red"}, "colour: unknown condition key; use a dotted scenario path"),
        ({"rounds": "many"}, "rounds: Input should be a valid integer"),
        ({"environment.params.mu": "high"}, "environment.params.mu: must be a finite number (got 'high')"),
        ({"environment.params.nu": 1}, "environment.params.nu: unknown parameter"),
        ({"environment.kind": "casino"}, "environment.kind: unknown environment 'casino'"),
        ({"agents.0.personna": "x"}, "agents[0].personna: unknown field; check the spelling"),
        ({"n": 0}, "n: must be a whole number from 1 to 8 (got 0)"),
        # No game's parameter is a shortcut: the message shows the path to use.
        ({"alpha": 3.2}, "alpha: unknown condition key; use a dotted scenario path (e.g. environment.params.mu"),
    ],
)
def test_bad_conditions_are_one_line_errors(overrides: dict, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        load_scenario("bertrand", **overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_grid_is_the_cartesian_product() -> None:
    conds = grid({"comm": ["none", "public"], "alpha": [1, 3.2]})
    assert [c.name for c in conds] == ["comm=none,alpha=1", "comm=none,alpha=3.2", "comm=public,alpha=1",
                                       "comm=public,alpha=3.2"]  # fmt: skip


def test_bad_interventions_are_one_line_errors() -> None:
    with pytest.raises(ConditionError, match=r"interventions\[0\]: a warning needs text"):
        parse_interventions([{"kind": "warn", "at": 2}])
    with pytest.raises(ConditionError, match=r"interventions\[0\].at: Input should be greater than or equal to 1"):
        parse_interventions([{"kind": "mute", "at": 0}])
    with pytest.raises(ConditionError, match="`when` triggers apply to warnings only"):
        parse_interventions([{"kind": "mute", "when": {"metric": "last_delta", "value": 0.5}}])
    exp = Experiment("bertrand", seeds=1, rounds=1).condition("a", comm="none")
    exp.intervene(at=1, mute="backroom")
    from sociallm.orchestration.sweep import validate_plan

    with pytest.raises(ConditionError, match=r"interventions\[0\].channel: unknown channel 'backroom'"):
        validate_plan(exp.plan("/tmp/unused"))


def test_interventions_warn_mute_and_swap_persona(tmp_path: Path) -> None:
    llm = FakeLLM()
    ivs = [
        Intervention(kind="warn", at=2, text="Regulator: price fixing is illegal."),
        Intervention(kind="mute", at=3, channel="public"),
        Intervention(kind="persona", at=2, agent="Bob", text="Bob is now a ruthless price cutter."),
        Intervention(
            kind="warn", text="Prices look collusive.", when={"metric": "last_delta", "op": ">", "value": 0.5}
        ),
    ]
    result = run("bertrand", tmp_path / "r", llm=llm, interventions=ivs, rounds=3)
    assert result.status == "completed"
    events = read_events(tmp_path / "r" / "events.jsonl").events
    warnings = [(e.tick, e.text) for e in events if e.source == "regulator"]
    # The fake prices at 1.85 (Δ ≈ 0.97), so the triggered warning fires from round 2 on, after a round's outcome.
    assert warnings == [(2, "Regulator: price fixing is illegal."), (2, "Prices look collusive."),
                        (3, "Prices look collusive.")]  # fmt: skip
    talk = [e for e in events if e.kind == "message" and e.source in ("Alice", "Bob")]
    assert sorted({e.tick for e in talk}) == [1, 2]  # public muted from round 3
    assert any(e.payload.get("event") == "phase_skipped" and e.tick == 3 for e in events)
    bob_prompts = [r.prompt for r in llm.requests if r.agent == "Bob"]
    assert "ruthless price cutter" not in bob_prompts[0] and "ruthless price cutter" in bob_prompts[-1]
    # The warning reaches the agents' transcripts.
    assert any("Regulator: price fixing is illegal." in (r.prompt or "") for r in llm.requests if r.agent == "Alice")
