"""Calvano et al. (2020) reproduced at test size: Q-learning firms converge to supra-competitive prices and
punish a deviation. The full-size reproduction is bench/bench_calvano.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sociallm.agents.strategies.calvano import PAPER, VARIANTS, calvano_game, within_paper
from sociallm.cli.reproduce import register
from sociallm.environments.bertrand import equilibrium_prices


def test_game_is_calvanos_grid_and_payoffs() -> None:
    game, bench = calvano_game()
    pn, pm = equilibrium_prices(2)
    assert bench["nash_price"] == pytest.approx(1.4729, abs=1e-4)
    assert bench["monopoly_price"] == pytest.approx(1.9250, abs=1e-4)
    assert game.m == 15 and game.states == 225 and game.delta == 0.95
    assert game.grid[0] == pytest.approx(pn - 0.1 * (pm - pn)) and game.grid[-1] == pytest.approx(pm + 0.1 * (pm - pn))
    # Payoffs are symmetric: firm 0 at (a, b) earns what firm 1 earns at (b, a).
    p = game.payoff.reshape(15, 15, 2)
    np.testing.assert_allclose(p[:, :, 0], p[:, :, 1].T)


def test_test_sized_reproduction_lands_in_the_papers_spread(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.command()
    def other() -> None:  # a second command keeps `reproduce` a group, as in the real CLI
        pass

    register(app)
    out = tmp_path / "calvano.json"
    result = CliRunner().invoke(app, ["reproduce", "calvano", "--variant", "test", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "| average profit gain Δ |" in result.output and "within the paper's figure" in result.output
    (res,) = json.loads(out.read_text())
    assert res["sessions"] == VARIANTS["test"].sessions and res["converged_share"] == 1.0
    lo, hi = PAPER["grid"]["delta"]
    assert within_paper(res, VARIANTS["test"]) and lo <= res["delta_mean"] <= hi
    assert res["nash_price"] < res["mean_price"] < res["monopoly_price"]  # supra-competitive, below monopoly
    ir, calm = np.array(res["impulse"]), np.array(res["impulse_without_deviation"])
    assert ir[1, 0] < calm[1, 0]  # the deviation: a price cut in period 1
    assert ir[2, 1] < calm[2, 1]  # the rival punishes in period 2
    assert res["punished_share"] >= 0.5
