"""Q-learning of repeated pricing games, many sessions at once (Calvano et al. 2020, Section II).

Every firm is a tabular Q-learner. Its action is a point of a price grid of `m` points; with memory
k = 1 the state is last period's joint action (m^n states). Each period every firm plays its greedy
action, or with probability ε_t = exp(−β·t) a uniformly random one, and updates

    Q(s, a) ← (1 − α)·Q(s, a) + α·(π + δ·max_a' Q(s', a'))

Q starts at the discounted payoff against rivals who randomise uniformly:
Q_0(s, a_i) = Σ_{a_−i} π_i(a_i, a_−i) / ((1 − δ)·m^{n−1}), the same in every state.

A session has converged when no firm's greedy strategy (argmax of Q in every state) changed for
`converge` consecutive periods (the paper: 100,000); a session is stopped there and its Q frozen, or
at `max_periods` (the paper: 10^9) unconverged.

The sessions are vectorised with numpy: each period is ~20 array operations over the sessions still
learning. The greedy strategies are kept in an array and updated from the one Q cell that changed (a
row is rescanned only when its leading value fell), so no period scans a whole table. Chunks of
periods are drawn at once, and a chunk never crosses the first period at which a session could
converge, so the stopping rule is exact.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class QGame:
    """A symmetric-or-not n-firm game on one action grid: `payoff[j, i]` is firm i's reward at joint action j.

    Joint actions (and states, memory 1) are indexed row-major: j = a_0·m^{n−1} + … + a_{n−1}.
    """

    grid: np.ndarray  # (m,) action values (agent-facing prices)
    payoff: np.ndarray  # (m**n, n)
    delta: float = 0.95

    @property
    def m(self) -> int:
        return len(self.grid)

    @property
    def n(self) -> int:
        return int(self.payoff.shape[1])

    @property
    def states(self) -> int:
        return self.m**self.n

    def actions_of(self, joint: np.ndarray | int) -> np.ndarray:
        """Per-firm action indices of joint index(es): shape (..., n)."""
        j = np.asarray(joint)
        out = []
        for i in range(self.n):
            out.append((j // self.m ** (self.n - 1 - i)) % self.m)
        return np.stack(out, axis=-1)

    def joint_of(self, actions: np.ndarray) -> np.ndarray:
        """Joint index of per-firm action indices (..., n)."""
        a = np.asarray(actions)
        j = np.zeros(a.shape[:-1], dtype=np.int64)
        for i in range(self.n):
            j = j * self.m + a[..., i]
        return j

    def initial_q(self, firm: int) -> np.ndarray:
        """Calvano's initialisation for one firm: (m,) values, the same in every state."""
        by_own = self.payoff[:, firm].reshape((self.m,) * self.n)
        others = tuple(ax for ax in range(self.n) if ax != firm)
        mean = by_own.mean(axis=others) if others else by_own
        return mean / (1.0 - self.delta)

    def best_response(self, firm: int, joint: int) -> int:
        """The grid action maximising firm's one-period payoff against the others' actions in `joint`."""
        acts = self.actions_of(joint).copy()
        best, best_val = 0, -math.inf
        for a in range(self.m):
            acts[firm] = a
            v = float(self.payoff[int(self.joint_of(acts)), firm])
            if v > best_val:
                best, best_val = a, v
        return best


@dataclass
class Sessions:
    """Outcome of training: frozen Q tables and per-session bookkeeping."""

    game: QGame
    q: np.ndarray  # (n, S, states, m)
    policy: np.ndarray  # (n, S, states) greedy action indices
    state: np.ndarray  # (S,) joint action of the last period played
    periods: np.ndarray  # (S,) periods played
    converged: np.ndarray  # (S,) bool
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return int(self.state.shape[0])


def train(
    game: QGame,
    *,
    alpha: float,
    beta: float,
    sessions: int,
    seed: int = 0,
    converge: int = 100_000,
    max_periods: int = 10**9,
    chunk: int = 2048,
    progress: Any = None,
) -> Sessions:
    """Train `sessions` independent sessions of n Q-learners on `game` until each converges (or the cap).

    `progress(periods_done, active_sessions)` is called about once per chunk.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1] (got {alpha})")
    if beta < 0:
        raise ValueError(f"beta must be >= 0 (got {beta})")
    n, m, ns, S = game.n, game.m, game.states, sessions
    rng = np.random.default_rng(seed)
    q = np.empty((n, S, ns, m))
    policy = np.empty((n, S, ns), dtype=np.int64)
    for i in range(n):
        q0 = game.initial_q(i)
        q[i] = q0[None, None, :]
        policy[i] = int(np.argmax(q0))
    # Flat views of all firms at once (writes go through to q / policy): firm i's row of state s in
    # session x starts at ((i·S + x)·states + s)·m, so one gather serves every firm.
    qf = q.reshape(-1)
    pf = policy.reshape(-1)
    pay = np.ascontiguousarray(game.payoff.T)  # (n, states)
    firm_rows = np.arange(n)[:, None] * S
    state = rng.integers(0, ns, size=S)
    stable = np.zeros(S, dtype=np.int64)  # periods since any firm's strategy last changed
    periods = np.zeros(S, dtype=np.int64)
    converged = np.zeros(S, dtype=bool)
    active = np.arange(S)
    cols = np.arange(m)
    powers = np.array([m ** (n - 1 - i) for i in range(n)])[:, None]
    keep, learn = 1.0 - alpha, alpha
    t = 0
    started = time.perf_counter()
    while active.size and t < max_periods:
        # No session can converge before `converge - max(stable)` more periods: the chunk ends there at most.
        room = int(converge - stable[active].max())
        span = max(1, min(chunk, room, max_periods - t))
        eps = np.exp(-beta * (t + np.arange(span)))
        explore = rng.random((span, n, active.size)) < eps[:, None, None]
        random_a = rng.integers(0, m, size=(span, n, active.size))
        pb = (firm_rows + active[None, :]) * ns  # (n, A) policy row of each firm's session
        qb = pb * m
        s = state[active]
        stab = stable[active]
        for k in range(span):
            where = pb + s
            greedy = pf[where]
            acts = np.where(explore[k], random_a[k], greedy)
            joint = (acts * powers).sum(axis=0)
            now = qb + s * m
            best_next = qf[qb + joint * m + pf[pb + joint]]
            cell = now + acts
            leader = qf[now + greedy]  # the greedy action's value before this update
            value = keep * qf[cell] + learn * (pay[:, joint] + game.delta * best_next)
            qf[cell] = value
            # Only row `s` changed, in one cell, so its argmax moves only if another action overtook the
            # leader (np.argmax takes the first of equals), or the leader itself fell: then rescan the row.
            played = acts == greedy
            overtaken = ~played & ((value > leader) | ((value == leader) & (acts < greedy)))
            fell = played & (value < leader)
            moved = overtaken
            if overtaken.any():
                pf[where[overtaken]] = acts[overtaken]
            if fell.any():
                rows = now[fell]
                top = np.argmax(qf[rows[:, None] + cols], axis=1)
                pf[where[fell]] = top
                moved = moved.copy()
                moved[fell] = top != greedy[fell]
            if moved.any():
                stab = np.where(moved.any(axis=0), 0, stab + 1)
            else:
                stab += 1
            s = joint
        t += span
        state[active] = s
        stable[active] = stab
        periods[active] = t
        done = stab >= converge
        if done.any():
            converged[active[done]] = True
            active = active[~done]
        if progress is not None:
            progress(t, int(active.size))
    return Sessions(game, q, policy, state, periods, converged, seconds=time.perf_counter() - started)


# --------------------------------------------------------------------------------------------------
# What the converged strategies do.


def limit_cycle(sessions: Sessions, index: int, max_len: int = 10_000) -> list[int]:
    """Joint actions of the cycle the greedy strategies reach from the session's last state."""
    game, pol = sessions.game, sessions.policy
    seen: dict[int, int] = {}
    path: list[int] = []
    s = int(sessions.state[index])
    while s not in seen and len(path) < max_len:
        seen[s] = len(path)
        path.append(s)
        acts = [int(pol[i, index, s]) for i in range(game.n)]
        s = int(game.joint_of(np.array(acts)))
    return path[seen.get(s, 0) :]


def impulse_response(
    sessions: Sessions, index: int, deviator: int = 0, horizon: int = 15
) -> tuple[np.ndarray, np.ndarray]:
    """Prices (horizon + 1, n) after a one-period deviation from the limit cycle's first state, and the
    same periods without the deviation (the counterfactual; it differs from row 0 only on a cycle).

    Row 0 is the pre-shock period (the cycle's state). In period 1 `deviator` plays its one-shot best
    response (on the grid) to what the others play that period; from period 2 on, all follow their
    greedy strategies.
    """
    game, pol = sessions.game, sessions.policy
    start = limit_cycle(sessions, index)[0]
    paths = []
    for deviate in (True, False):
        s = start
        rows = [game.grid[game.actions_of(s)]]
        for tau in range(1, horizon + 1):
            acts = np.array([int(pol[i, index, s]) for i in range(game.n)])
            if deviate and tau == 1:
                acts[deviator] = game.best_response(deviator, int(game.joint_of(acts)))
            s = int(game.joint_of(acts))
            rows.append(game.grid[acts])
        paths.append(np.array(rows))
    return paths[0], paths[1]


def train_one(
    game: QGame,
    *,
    alpha: float,
    beta: float,
    seed: int = 0,
    converge: int = 100_000,
    max_periods: int = 10**9,
    chunk: int = 2048,
) -> Sessions:
    """One session, the same draws and result as `train(..., sessions=1)`, ~4× faster.

    numpy's per-call overhead dominates with one session, so this loop runs on Python floats, keeps
    each row's maximum and argmax, and rescans a row only when its best value went down.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1] (got {alpha})")
    n, m, ns = game.n, game.m, game.states
    rng = np.random.default_rng(seed)
    first = [game.initial_q(i) for i in range(n)]
    q = [[list(map(float, first[i])) for _ in range(ns)] for i in range(n)]
    pol = [[int(np.argmax(first[i]))] * ns for i in range(n)]
    best = [[float(first[i].max())] * ns for i in range(n)]
    pay = game.payoff.tolist()
    powers = [m ** (n - 1 - i) for i in range(n)]
    keep, delta = 1.0 - alpha, game.delta
    s = int(rng.integers(0, ns, size=1)[0])
    stable = t = 0
    started = time.perf_counter()
    while stable < converge and t < max_periods:
        span = max(1, min(chunk, converge - stable, max_periods - t))
        eps = np.exp(-beta * (t + np.arange(span)))
        explore = (rng.random((span, n, 1)) < eps[:, None, None])[:, :, 0].tolist()
        random_a = rng.integers(0, m, size=(span, n, 1))[:, :, 0].tolist()
        for k in range(span):
            ex, ra = explore[k], random_a[k]
            acts = [ra[i] if ex[i] else pol[i][s] for i in range(n)]
            j = sum(a * p for a, p in zip(acts, powers, strict=True))
            reward = pay[j]
            changed = False
            for i in range(n):
                a, row, b = acts[i], q[i][s], best[i]
                v = keep * row[a] + alpha * (reward[i] + delta * b[j])
                row[a] = v
                p = pol[i][s]
                if a == p:
                    if v < b[s]:  # the best went down: another action may lead now
                        top = max(row)
                        b[s] = top
                        k2 = row.index(top)
                        if k2 != p:
                            pol[i][s] = k2
                            changed = True
                    else:
                        b[s] = v
                elif v > b[s] or (v == b[s] and a < p):  # argmax takes the first of equals
                    pol[i][s], b[s] = a, v
                    changed = True
            stable = 0 if changed else stable + 1
            s = j
            t += 1
            if stable >= converge:
                break
    q_arr = np.array(q)[:, None]
    return Sessions(
        game,
        q_arr,
        np.array(pol)[:, None],
        np.array([s]),
        np.array([t]),
        np.array([stable >= converge]),
        seconds=time.perf_counter() - started,
    )
