"""A Q-learning firm and a language-model firm in one run: the sweep, the report and the TUI work unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq

from sociallm import Experiment
from sociallm.cli.tui import watch_app
from sociallm.reports.markdown import run_report, sweep_report
from sociallm.tui.widgets import AgentsTable, MetricsPanel
from tests.fakes import FakeLLM
from tests.tui.test_tui_app import SIZE, settle, text_of

FAST = {"agents.0.options": {"beta": 5e-4, "pretrain": True, "pretrain_converge": 5000}}


def bob(req) -> str:  # the language-model firm: one of the menu's prices, by seed
    if req.constraint is not None:
        return req.constraint.options[req.seed % len(req.constraint.options)]
    return "Hello."


async def test_mixed_society_sweep_report_and_tui(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOCIALLM_CACHE_DIR", str(tmp_path / "cache"))
    exp = Experiment("bertrand-qlearner", seeds=2, rounds=4)
    exp.condition("qlearner", **FAST)
    exp.condition("monopolist", **{"agents.0.kind": "fixed", "agents.0.options": {"price": "monopoly"}})
    result = await exp.arun(tmp_path / "s", llm=FakeLLM(bob), jobs=2)
    assert [e.status for e in result.runs] == ["started"] * 4 and all(e.error is None for e in result.runs)
    rows = pq.read_table(tmp_path / "s" / "results.parquet").to_pylist()
    assert {r["agent"] for r in rows if r["metric"] == "prices"} == {"Alice", "Bob"}
    assert len([r for r in rows if r["metric"] == "delta" and r["agent"] == ""]) == 2 * 2 * 4

    path, plots = sweep_report(tmp_path / "s")
    md = path.read_text()
    assert "qlearner" in md and "monopolist" in md and "| mean_delta |" in md and plots

    run_dir = result.runs[0].run_dir
    path, made = run_report(run_dir)
    assert "prices.png" in made and "Alice" in path.read_text()

    app = watch_app(run_dir, speed=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app, lambda: app.state.round == 4 and not app.feed.pending)
        table = app.query_one(AgentsTable)
        assert table.names == ["Alice", "Bob"]
        alice = str(table.get_row("Alice"))
        assert re.search(r"price \$?\d\.\d\d", alice)  # the Q-learner's last price (a menu item), like any firm's
        assert "N Nash 1.473" in text_of(app.query_one(MetricsPanel))
        await pilot.press("q")


async def test_mixed_society_runs_live_in_the_tui(tmp_path: Path, monkeypatch) -> None:
    from sociallm.orchestration.api import load_scenario
    from sociallm.orchestration.run import Run
    from tests.tui.test_tui_live import live_app, until

    monkeypatch.setenv("SOCIALLM_CACHE_DIR", str(tmp_path / "cache"))
    run = Run(load_scenario("bertrand-qlearner", rounds=3, **FAST), tmp_path / "live", llm=FakeLLM(bob))
    app = live_app(run)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: run.rounds_completed == 3 and app.state.round == 3, limit_s=60)
        await pilot.pause(0.2)
        assert app.query_one(AgentsTable).names == ["Alice", "Bob"]
        assert re.search(r"price \$?\d\.\d\d", str(app.query_one(AgentsTable).get_row("Alice")))
        await pilot.press("q")
