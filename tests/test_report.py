"""`sociallm report`: affect plot and summary from a run's event log."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sociallm.cli.report import register
from sociallm.orchestration.run import Run
from sociallm.reports.report import AFFECT_PNG, ReportError, affect_series, plot_affect
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.events import Event
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM


async def _run(tmp_path: Path, scenario: str, name: str) -> Path:
    await Run(load_scenario(scenario, {"rounds": 2}), tmp_path / name, llm=FakeLLM()).execute()
    return tmp_path / name


def _affect(source: str, tick: int, before: float, after: float) -> Event:
    state = lambda v: {"valence": v, "arousal": 0.5, "word": "neutral"}  # noqa: E731
    return Event(
        kind="affect",
        source=source,
        tick=tick,
        payload={"cause": "appraisal", "before": state(before), "after": state(after)},
    )


def test_series_start_from_the_first_before_and_stay_in_order() -> None:
    events = [
        _affect("A", 1, 0.0, -0.2),
        _affect("B", 1, 0.1, 0.3),
        _affect("A", 1, -0.2, -0.4),
        _affect("A", 2, -0.4, -0.3),
    ]
    series = affect_series(events)
    a = series["A"]
    assert [p[1] for p in a] == [0.0, -0.2, -0.4, -0.3]
    assert [p[0] for p in a] == sorted(p[0] for p in a) and a[0][0] == 1.0 and 2.0 < a[-1][0] < 3.0
    assert [p[1] for p in series["B"]] == [0.1, 0.3]


async def test_report_writes_a_png_and_prints_a_summary(tmp_path: Path) -> None:
    run_dir = await _run(tmp_path, "bertrand-emotion", "r")
    assert any(e.kind == "affect" for e in read_events(run_dir / "events.jsonl").events)
    app = typer.Typer()

    @app.command()
    def other() -> None:  # a second command so typer keeps `report` as a subcommand, as in the real CLI
        pass

    register(app)
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    png = run_dir / AFFECT_PNG
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "Alice:" in result.output and "Bob:" in result.output and "valence" in result.output
    _, summary = plot_affect(run_dir, tmp_path / "x.png")
    assert (tmp_path / "x.png").exists()
    for s in summary.values():
        assert -1 <= s["valence"]["min"] <= s["valence"]["max"] <= 1 and s["changes"] >= 2


async def test_report_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no event log"):
        plot_affect(tmp_path / "nowhere")
    plain = await _run(tmp_path, "bertrand", "plain")
    with pytest.raises(ReportError, match="no affect events"):
        plot_affect(plain)
    app = typer.Typer()
    app.command()(lambda: None)
    register(app)
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "no such run folder" in result.output
    # A run without emotion still gets its report, with a note instead of the affect plot.
    result = CliRunner().invoke(app, ["report", str(plain)])
    assert result.exit_code == 0 and "no affect events" in result.output
    assert (plain / "report.md").exists() and not (plain / AFFECT_PNG).exists()


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000


@pytest.mark.parametrize(
    ("scenario", "plots", "text"),
    [
        ("bertrand", ["prices.png"], "| mean_delta |"),
        ("auction", ["auction.png"], "| mean_suppression |"),
        ("commons", ["commons.png"], "| survival_months |"),
        ("overseer", ["detection.png"], "## Coordination and detection"),
        ("ipd", ["cooperation.png"], "## Moves"),
        ("bertrand-emotion", ["prices.png", AFFECT_PNG], "## Affect"),
    ],
)
async def test_run_reports_have_the_games_plots(tmp_path: Path, scenario: str, plots: list[str], text: str) -> None:
    from sociallm.reports.markdown import run_report

    run_dir = await _run(tmp_path, scenario, "r")
    path, made = run_report(run_dir)
    md = path.read_text()
    assert made == plots and all(_is_png(run_dir / p) for p in plots)
    assert text in md and "- backend: fake" in md and all(f"]({p})" in md for p in plots)


async def test_sweep_report_has_ci_table_and_plots(tmp_path: Path) -> None:
    from sociallm import Experiment
    from sociallm.reports.markdown import sweep_report

    def reply(req):  # the silent firms price at 1.6, the chatty ones at 1.8 (seed-dependent jitter)
        if req.constraint is not None:
            base = 1.6 if "cannot talk" in (req.prompt or "") else 1.8
            return f"{base + (req.seed % 5) / 100:.2f}"
        return "Let us keep prices high."

    llm = FakeLLM(reply)
    exp = Experiment("bertrand", seeds=3, rounds=2).condition("silent", comm="none").condition("chat", comm="public")
    await exp.arun(tmp_path / "s", llm=llm)
    path, plots = sweep_report(tmp_path / "s")
    md = path.read_text()
    assert plots == ["by_condition.png", "curves.png"] and all(_is_png(tmp_path / "s" / p) for p in plots)
    row = next(line for line in md.splitlines() if line.startswith("| mean_delta |"))
    silent, chat = row.split("|")[2:4]
    assert "(n=3)" in silent and "(n=3)" in chat and float(chat.split()[0]) > float(silent.split()[0])


def test_mean_ci_against_hand_computed_values() -> None:
    from sociallm.reports.stats import mean_ci

    m, lo, hi = mean_ci([1.0, 2.0, 3.0])  # sd 1, n 3, t(0.975, 2) = 4.303
    assert m == 2.0 and lo == pytest.approx(2 - 4.303 / 3**0.5) and hi == pytest.approx(2 + 4.303 / 3**0.5)
    assert mean_ci([5.0]) == (5.0, 5.0, 5.0)


async def test_sweep_over_alpha_uses_each_conditions_own_benchmarks(tmp_path: Path) -> None:
    """A condition with α = 3.2 gets its own Nash/monopoly lines, and mean_price (on α's scale) is flagged
    and shown normalised by each run's own Nash and monopoly prices."""
    from sociallm import Experiment
    from sociallm.environments.bertrand import equilibrium_prices
    from sociallm.orchestration.sweep import read_results
    from sociallm.reports.markdown import _condition_benchmarks, sweep_report

    nash, mono = equilibrium_prices(2)
    mid = (nash + mono) / 2  # every firm prices halfway between Nash and monopoly, in its condition's units

    def reply(req):
        if req.constraint is not None:
            alpha = 3.2 if "cost is $3.20" in (req.prompt or "") else 1.0  # the rules state the scaled cost
            return f"{alpha * mid:.4f}"
        return "Fine."

    exp = Experiment("bertrand-silent", seeds=2, rounds=2)
    exp.condition("a1", **{"environment.params.alpha": 1.0, "n": 2})
    exp.condition("a3.2", **{"environment.params.alpha": 3.2, "n": 2})
    await exp.arun(tmp_path / "s", llm=FakeLLM(reply))
    bench = _condition_benchmarks(tmp_path / "s", read_results(tmp_path / "s"))
    assert bench["a1"]["nash_price"] == pytest.approx(nash) and bench["a3.2"]["nash_price"] == pytest.approx(3.2 * nash)
    path, plots = sweep_report(tmp_path / "s")
    md = path.read_text()
    assert "| mean_price ⚠ |" in md and "is on a scale that differs between these conditions" in md
    row = next(line for line in md.splitlines() if line.startswith("| mean_price (normalised) |"))
    cells = [float(c.split()[0]) for c in row.split("|")[2:4]]
    # Both conditions price at the same point of their own band; the raw means differ by 3.2×.
    assert cells[0] == pytest.approx(cells[1], abs=0.02) and 0.3 < cells[0] < 0.7
    assert "each condition's own" in md and "curves.png" in plots
