"""Published LLM conditions: Fish et al. (2024) prompt prefixes on Bertrand, GovSim's metrics on commons."""

from __future__ import annotations

from pathlib import Path

import pytest

from sociallm import Experiment
from sociallm.environments.commons import Commons
from sociallm.environments.published import FISH_PREFIXES, fish_conditions, fish_summary, govsim_summary
from tests.environments.gm import play, round_start
from tests.fakes import FakeLLM


async def test_fish_prefixes_reach_the_prompts_and_the_summary_splits_them(tmp_path: Path) -> None:
    def reply(req) -> str:  # a stand-in model that prices lower when told to be aggressive
        return "1.60" if "pricing lower than your competitor" in (req.prompt or "") else "1.85"

    llm = FakeLLM(reply)
    exp = Experiment("bertrand-fish", seeds=2, rounds=4)
    for name, overrides in fish_conditions().items():
        exp.condition(name, **overrides)
    result = await exp.arun(tmp_path / "s", llm=llm, jobs=2)
    for name in ("P1", "P2"):  # each prefix in every prompt of its runs (2 seeds × 2 firms × 4 rounds)
        assert sum(FISH_PREFIXES[name] in (r.prompt or "") for r in llm.requests) == 2 * 2 * 4
    lines = fish_summary(result.runs)
    p1 = next(line for line in lines if line.startswith("| P1 |"))
    p2 = next(line for line in lines if line.startswith("| P2 |"))
    assert p1.split("|")[2].strip().startswith("1.850") and p2.split("|")[2].strip().startswith("1.600")
    assert "monopoly" in p1 and "above the Nash level" in p2  # the paper's figures beside ours


def test_govsim_metrics_follow_the_papers_definitions() -> None:
    env = Commons()
    env.reset(["A", "B", "C", "D", "E"], {}, __import__("random").Random(0))
    for month in range(1, 13):
        env.on_event(round_start(month))
        play(env, month, "catch", {"A": 20, "B": 10, "C": 10, "D": 5, "E": 5})  # 50 a month: sustainable
    m = env.metrics()
    assert m["survival_time"] == 12 and m["survived"] and m["efficiency_govsim"] == pytest.approx(1.0)
    assert m["over_usage"] == pytest.approx(1 / 5)  # A takes 20 > (100 // 2) // 5 = 10 every month
    assert m["equality"] == pytest.approx(1 - m["gini"])
    env.reset(["A", "B"], {}, __import__("random").Random(0))
    env.on_event(round_start(1))
    play(env, 1, "catch", {"A": 60, "B": 38})  # 2 tonnes left: collapse in month 1
    m = env.metrics()
    assert m["survival_time"] == 0 and not m["survived"]
    assert m["efficiency_govsim"] == pytest.approx(1 - (600 - 98) / 600)


async def test_govsim_summary_over_runs(tmp_path: Path) -> None:
    llm = FakeLLM(lambda req: "10" if req.constraint is not None else "Let us fish ten tonnes each.")
    result = await Experiment("commons", seeds=2, rounds=12).arun(tmp_path / "g", llm=llm, jobs=2)
    text = "\n".join(govsim_summary(result.runs))
    assert "| survival rate | 100% of 2 runs |" in text and "below 54%" in text
    assert "| over-usage | 0.000" in text
