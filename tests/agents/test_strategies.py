"""Algorithmic agent kinds: validated with the scenario, acting through the same events, checkpointed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sociallm.environments.bertrand import best_response, equilibrium_prices
from sociallm.orchestration.replay import normalised_log
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import EVENTS_FILE, read_events
from sociallm.runtime.scenario import ScenarioError, parse_scenario
from tests.fakes import FakeLLM

NASH, MONOPOLY = equilibrium_prices(2)
FAST_Q = {"beta": 5e-4, "pretrain": True, "pretrain_converge": 5000}  # converges in ~30k periods


def scenario(alice: dict[str, Any], rounds: int = 4, talk: bool = False, **params: Any) -> Any:
    schedule = [{"name": "pricing", "kind": "act", "mode": "simultaneous", "action": "price"}]
    if talk:
        schedule.insert(0, {"name": "chat", "kind": "talk"})
    data = {
        "name": "mixed",
        "rounds": rounds,
        "seed": 5,
        "agents": [{"name": "Alice", **alice}, {"name": "Bob"}],
        "schedule": schedule,
        "environment": {"kind": "bertrand", "params": params},
    }
    return parse_scenario(data, "test")


def priced(llm_price: str = "1.50"):
    return FakeLLM(lambda req: llm_price if req.constraint is not None else " Hello.")


async def play(tmp_path: Path, spec: Any, llm: Any = None, name: str = "run") -> list[Any]:
    result = await Run(spec, tmp_path / name, llm=llm or priced()).execute()
    assert result.status == "completed", result.error
    return read_events(tmp_path / name / EVENTS_FILE).events


def prices(events: list[Any], who: str) -> list[float]:
    return [e.payload["prices"][who] for e in events if e.kind == "outcome"]


def test_kind_and_options_are_checked_where_they_stand() -> None:
    with pytest.raises(
        ScenarioError, match=r"agents\[0\]: kind: unknown agent kind 'qlearner'; known: llm, q_learning"
    ):
        scenario({"kind": "qlearner"})
    with pytest.raises(ScenarioError, match=r"agents\[0\]: options\.alpha: Input should be less than or equal to 1"):
        scenario({"kind": "q_learning", "options": {"alpha": 2}})
    with pytest.raises(ScenarioError, match=r"agents\[0\]: options\.speed: unknown field.*allowed: price"):
        scenario({"kind": "fixed", "options": {"speed": 1}})
    with pytest.raises(ScenarioError, match=r"agents\[0\]: options: a language-model agent takes no options"):
        scenario({"options": {"price": 1}})
    assert scenario({"kind": "tit_for_tat"}).agents[0].kind == "tit_for_tat"


async def test_scripted_strategies_play_through_the_market(tmp_path: Path) -> None:
    fixed = await play(tmp_path, scenario({"kind": "fixed", "options": {"price": "monopoly"}}), name="fixed")
    assert prices(fixed, "Alice") == pytest.approx([MONOPOLY] * 4)
    tft = await play(tmp_path, scenario({"kind": "tit_for_tat"}), name="tft")
    assert prices(tft, "Alice") == pytest.approx([MONOPOLY, 1.5, 1.5, 1.5])  # opens high, then copies Bob
    grim = await play(tmp_path, scenario({"kind": "grim_trigger"}), name="grim")
    assert prices(grim, "Alice") == pytest.approx([MONOPOLY, NASH, NASH, NASH])
    br = await play(tmp_path, scenario({"kind": "best_response"}), name="br")
    expect = best_response(0, [0.0, 1.5])  # the exact best response to Bob's $1.50
    assert prices(br, "Alice")[1:] == pytest.approx([expect] * 3, abs=0.006)  # on a 1-cent search grid
    # A price menu: every strategy picks one of the menu's prices.
    menu = await play(tmp_path, scenario({"kind": "fixed", "options": {"price": 1.9}}, menu=[1.5, 1.7, 1.95]), name="m")
    assert prices(menu, "Alice") == [1.95] * 4


async def test_algorithmic_actions_are_ordinary_action_events_and_make_no_model_calls(tmp_path: Path) -> None:
    llm = priced()
    events = await play(tmp_path, scenario({"kind": "q_learning"}, talk=True), llm=llm)
    actions = {e.source: e.payload for e in events if e.kind == "action"}
    assert set(actions["Bob"]) <= set(actions["Alice"])  # the language model's keys, plus the strategy's
    assert actions["Alice"]["strategy"] == "q_learning" and isinstance(actions["Alice"]["value"], float)
    assert all(r.agent == "Bob" for r in llm.requests)
    assert not [e for e in events if e.kind == "llm_call" and e.source == "Alice"]
    silent = [e for e in events if e.kind == "message" and e.source == "Alice"]
    assert len(silent) == 4 and all(e.payload["silent"] for e in silent)


async def test_q_learner_updates_as_calvano_and_explores_less_over_time(tmp_path: Path) -> None:
    spec = scenario({"kind": "q_learning", "options": {"beta": 0.2, "alpha": 0.5}}, rounds=12)
    run = Run(spec, tmp_path / "q", llm=priced())
    await run.execute()
    alice = run.agents["Alice"]
    acts = [e.payload for e in read_events(tmp_path / "q" / EVENTS_FILE).events if e.kind == "action"]
    eps = [a["epsilon"] for a in acts if a.get("strategy")]
    assert eps == sorted(eps, reverse=True) and eps[0] == 1.0 and eps[-1] < 0.2
    assert alice.t == 12 and alice.q.shape == (15 * 15, 15)
    # Grid: 15 prices over [p^N − 0.1(p^M − p^N), p^M + 0.1(p^M − p^N)].
    span = MONOPOLY - NASH
    np.testing.assert_allclose(alice.grid, np.linspace(NASH - 0.1 * span, MONOPOLY + 0.1 * span, 15))


async def test_q_learner_state_resumes_exactly_after_a_failure(tmp_path: Path) -> None:
    spec = scenario({"kind": "q_learning", "options": {"beta": 0.05}}, rounds=8)
    await play(tmp_path, spec, name="straight")
    failing = Run(spec, tmp_path / "broken", llm=FakeLLM(lambda r: "1.50", fail_at=6))
    with pytest.raises(Exception, match="fake server went away"):
        await failing.execute()
    resumed = await Run.resume(tmp_path / "broken", llm=priced()).execute()
    assert resumed.status == "completed"
    assert normalised_log(tmp_path / "straight") == normalised_log(tmp_path / "broken")


async def test_pretraining_is_calvano_self_play_cached_and_replayable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOCIALLM_CACHE_DIR", str(tmp_path / "cache"))
    spec = scenario({"kind": "q_learning", "options": FAST_Q}, rounds=3)
    first = await play(tmp_path, spec, name="a")
    (pre,) = [e.payload for e in first if e.payload.get("event") == "q_pretrained"]
    assert pre["converged"] and pre["periods"] > 5000 and pre["limit_prices"]
    assert len(list((tmp_path / "cache" / "qtables").glob("*.npz"))) == 1
    await play(tmp_path, spec, name="b")  # from the cache
    assert normalised_log(tmp_path / "a") == normalised_log(tmp_path / "b")
    acts = [e.payload for e in first if e.kind == "action" and e.source == "Alice"]
    assert all(a["epsilon"] < 0.01 for a in acts)  # exploration decayed during pretraining


async def test_a_mixed_run_replays_identically(tmp_path: Path, monkeypatch) -> None:
    from sociallm.orchestration.replay import compare_logs, replay_run

    monkeypatch.setenv("SOCIALLM_CACHE_DIR", str(tmp_path / "cache"))
    spec = scenario({"kind": "q_learning", "options": FAST_Q}, rounds=3, talk=True)
    await play(tmp_path, spec, name="orig")
    await replay_run(tmp_path / "orig", tmp_path / "again")
    assert compare_logs(tmp_path / "orig", tmp_path / "again") is None
