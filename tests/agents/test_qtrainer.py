"""The vectorised Q-learning trainer against a plain one-session-at-a-time loop, on the same random draws."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sociallm.agents.strategies.qtrainer import QGame, impulse_response, limit_cycle, train


def small_game(m: int = 4, n: int = 2) -> QGame:
    grid = np.linspace(1.0, 2.0, m)
    payoff = []
    for acts in itertools.product(range(m), repeat=n):
        p = grid[list(acts)]
        share = np.exp(-4 * p) / np.exp(-4 * p).sum()
        payoff.append((p - 0.8) * share)
    return QGame(grid, np.array(payoff), delta=0.9)


def reference(game: QGame, alpha: float, beta: float, sessions: int, periods: int, seed: int) -> np.ndarray:
    """The textbook update, one session and one firm at a time, consuming the draws in train()'s order."""
    n, m, ns = game.n, game.m, game.states
    rng = np.random.default_rng(seed)
    state = rng.integers(0, ns, size=sessions)
    explore = rng.random((periods, n, sessions)) < np.exp(-beta * np.arange(periods))[:, None, None]
    random_a = rng.integers(0, m, size=(periods, n, sessions))
    q = np.empty((n, sessions, ns, m))
    for i in range(n):
        q[i] = game.initial_q(i)
    for x in range(sessions):
        s = int(state[x])
        for t in range(periods):
            acts = [int(random_a[t, i, x]) if explore[t, i, x] else int(np.argmax(q[i, x, s])) for i in range(n)]
            j = int(game.joint_of(np.array(acts)))
            for i in range(n):
                target = game.payoff[j, i] + game.delta * q[i, x, j].max()
                q[i, x, s, acts[i]] = (1 - alpha) * q[i, x, s, acts[i]] + alpha * target
            s = j
    return q


@pytest.mark.parametrize("n", [2, 3])
def test_vectorised_sessions_match_the_plain_loop(n: int) -> None:
    game = small_game(m=3 if n == 3 else 4, n=n)
    periods = 400
    res = train(game, alpha=0.3, beta=0.01, sessions=5, seed=3, converge=10**6, max_periods=periods, chunk=periods)
    assert (res.periods == periods).all() and not res.converged.any()
    np.testing.assert_allclose(res.q, reference(game, 0.3, 0.01, 5, periods, seed=3), rtol=0, atol=1e-12)
    # The kept greedy strategies are the argmax of the tables.
    np.testing.assert_array_equal(res.policy, np.argmax(res.q, axis=3))


def test_initial_q_is_the_discounted_payoff_against_uniform_rivals() -> None:
    game = small_game()
    by_own = game.payoff[:, 0].reshape(game.m, game.m)
    np.testing.assert_allclose(game.initial_q(0), by_own.mean(axis=1) / (1 - game.delta))
    np.testing.assert_allclose(game.initial_q(1), _firm1(game) / (1 - game.delta))


def _firm1(game: QGame) -> np.ndarray:
    return game.payoff[:, 1].reshape(game.m, game.m).mean(axis=0)


def test_sessions_stop_exactly_when_strategies_have_been_stable_long_enough() -> None:
    game = small_game()
    res = train(game, alpha=0.2, beta=0.002, sessions=6, seed=1, converge=500, max_periods=100_000, chunk=64)
    assert res.converged.all() and (res.periods >= 500).all()
    np.testing.assert_array_equal(res.policy, np.argmax(res.q, axis=3))
    # A session that stopped early is frozen while the others learn on: its periods differ from theirs.
    assert len(set(res.periods.tolist())) > 1
    for x in range(res.count):
        cyc = limit_cycle(res, x)
        assert 1 <= len(cyc) <= game.states
        shocked, calm = impulse_response(res, x, horizon=5)
        assert shocked.shape == calm.shape == (6, 2)
        np.testing.assert_array_equal(shocked[0], calm[0])


@pytest.mark.parametrize("n", [2, 3])
def test_the_one_session_loop_gives_the_vectorised_result(n: int) -> None:
    from sociallm.agents.strategies.qtrainer import train_one

    game = small_game(m=3 if n == 3 else 4, n=n)
    kw = {"alpha": 0.2, "beta": 0.002, "seed": 4, "converge": 400, "max_periods": 50_000, "chunk": 97}
    a, b = train(game, sessions=1, **kw), train_one(game, **kw)
    assert a.periods[0] == b.periods[0] and a.converged[0] == b.converged[0] and a.state[0] == b.state[0]
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.policy, b.policy)
