"""A tabular Q-learning firm with Calvano et al. (2020)'s parametrisation, as an agent of a run.

Actions: a grid of `m` values spanning [low − ξ(high − low), high + ξ(high − low)] (Calvano: low =
Nash, high = monopoly price, m = 15, ξ = 0.1), or the options of a price menu. State (memory k = 1):
every agent's value in the last round, each mapped to the nearest grid point (a language-model rival
may price off the grid). Each round it plays the greedy action, or with probability ε_t = exp(−β·t)
a uniformly random one (t: rounds it has played, counting pretraining), and when the outcome comes
it updates Q(s, a) ← (1 − α)·Q(s, a) + α·(π + δ·max Q(s', ·)). Q starts at the discounted payoff
against uniformly random rivals (`init: calvano`, from the environment's payoff()) or at 0.

`pretrain: true` first trains it the way Calvano et al. do — self-play of n copies on the same
market until no strategy changes for `pretrain_converge` periods — and it enters the run with firm
i's learned table (and the exploration already decayed). The result is cached on disk by everything
that determines it, so the next run with the same market and options starts at once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from sociallm.agents.agent import derive_seed
from sociallm.agents.strategies.base import AlgorithmicAgent, Level, StrategyConfig, StrategyError
from sociallm.agents.strategies.qtrainer import QGame, limit_cycle, train_one
from sociallm.environments.base import ActionSpec
from sociallm.runtime.events import Event

if TYPE_CHECKING:
    from sociallm.agents.agent import Turn


class QLearningConfig(StrategyConfig):
    alpha: float = Field(default=0.15, gt=0.0, le=1.0, description="Learning rate α.")
    beta: float = Field(default=4e-6, ge=0.0, le=1.0, description="Exploration decay: ε_t = exp(−β·t).")
    delta: float = Field(default=0.95, ge=0.0, lt=1.0, description="Discount factor δ.")
    m: int = Field(default=15, ge=2, le=50, description="Grid points (ignored for a price menu).")
    xi: float = Field(default=0.1, ge=0.0, le=5.0, description="Grid widening ξ beyond [low, high].")
    low: Level = Field(default="nash", description="Grid anchor: a number or a benchmark (Calvano: nash).")
    high: Level = Field(default="monopoly", description="Grid anchor: a number or a benchmark (Calvano: monopoly).")
    init: Literal["calvano", "zero"] = Field(default="calvano", description="Initial Q: Calvano's, or 0.")
    pretrain: bool = Field(default=False, description="Self-play to convergence before the run (cached).")
    pretrain_converge: int = Field(default=100_000, ge=1, description="Periods without a strategy change.")
    pretrain_max_periods: int = Field(default=10_000_000, ge=1, description="Cap on pretraining periods.")
    seed: int | None = Field(default=None, description="Default: derived from the scenario seed and the name.")


def qtable_cache_dir() -> Path:
    from sociallm.backbone.embedded import model_cache_dir

    return model_cache_dir() / "qtables"


def _encode(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f8").tobytes()).decode()


def _decode(text: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f8").reshape(shape).copy()


def self_play(
    grid: np.ndarray,
    payoff: np.ndarray,
    delta: float,
    alpha: float,
    beta: float,
    seed: int,
    converge: int,
    cap: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Calvano's training of n copies against each other, one session; (q, policy, state, info)."""
    game = QGame(grid, payoff, delta)
    res = train_one(game, alpha=alpha, beta=beta, seed=seed, converge=converge, max_periods=cap)
    cyc = limit_cycle(res, 0)
    info = {
        "periods": int(res.periods[0]),
        "converged": bool(res.converged[0]),
        "seconds": round(res.seconds, 2),
        "limit_prices": [[float(x) for x in game.grid[game.actions_of(j)]] for j in cyc],
    }
    return res.q[:, 0], res.policy[:, 0], res.state[:1], info


def _self_play_elsewhere(*args: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """self_play in a fresh process: a pure-Python loop of seconds would hold the GIL, and with it the
    run's event loop (and every other run of a sweep), for that long."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(self_play, *args).result()


class QLearner(AlgorithmicAgent):
    kind = "q_learning"
    Config = QLearningConfig

    def __init__(self, ctx: Any, config: QLearningConfig) -> None:
        super().__init__(ctx, config)
        self.seed = config.seed if config.seed is not None else derive_seed(ctx.scenario.seed, self.name, "q")
        self.rng = np.random.default_rng(self.seed)
        self.players = list(ctx.scenario.agent_names)  # the state: everyone's last value, in this order
        self.me = self.players.index(self.name)
        self.grid: np.ndarray | None = None
        self.q: np.ndarray | None = None  # (states, m)
        self.t = 0  # periods played, pretraining included
        self.s: int | None = None  # current state
        self.a: int | None = None  # action taken this round, awaiting its outcome
        self.explored = False
        self.pretrained: dict[str, Any] | None = None

    # -- setting up -----------------------------------------------------------------------------
    def _setup(self, action: ActionSpec) -> None:
        menu = self.options_of(action)
        if action.kind == "choice" and menu is None:
            raise StrategyError(f"{self.where('kind')}: q_learning needs numeric actions; {action.name!r} is not")
        if menu is not None:
            self.grid = np.array(menu)
        else:
            lo = self.level(self.config.low, action, "low")
            hi = self.level(self.config.high, action, "high")
            span = hi - lo
            grid = np.linspace(lo - self.config.xi * span, hi + self.config.xi * span, self.config.m)
            self.grid = np.clip(grid, action.min, action.max)
        m, n = len(self.grid), len(self.players)
        if m**n > 2_000_000:
            raise StrategyError(f"{self.where('m')}: {m}^{n} states is too many for a table; use fewer points")
        self.q = np.tile(self._initial_row(), (m**n, 1))
        self.s = int(self.rng.integers(0, m**n))

    def _joint(self, acts: list[int]) -> int:
        j = 0
        for a in acts:
            j = j * len(self.grid) + a  # type: ignore[arg-type]
        return j

    def _payoff_table(self) -> np.ndarray:
        """(m^n, n): every player's payoff at every joint grid action, from the environment."""
        import itertools

        hook = getattr(self.env, "payoff", None)
        if hook is None:
            raise StrategyError(f"{self.where('init')}: this environment has no payoff(); use init: zero")
        grid = self.grid
        assert grid is not None
        rows = []
        for acts in itertools.product(range(len(grid)), repeat=len(self.players)):
            values = {p: float(grid[a]) for p, a in zip(self.players, acts, strict=True)}
            rows.append([float(hook(p, values)) for p in self.players])
        return np.array(rows)

    def _initial_row(self) -> np.ndarray:
        m = len(self.grid)  # type: ignore[arg-type]
        if self.config.init == "zero":
            return np.zeros(m)
        game = QGame(self.grid, self._payoff_table(), self.config.delta)  # type: ignore[arg-type]
        return game.initial_q(self.me)

    # -- pretraining (Calvano's self-play) --------------------------------------------------------
    def _cache_key(self, payoff: np.ndarray) -> str:
        c = self.config
        blob = json.dumps(
            {
                "grid": self.grid.tolist(),  # type: ignore[union-attr]
                "payoff": np.round(payoff, 12).tolist(),
                "alpha": c.alpha,
                "beta": c.beta,
                "delta": c.delta,
                "init": c.init,
                "converge": c.pretrain_converge,
                "cap": c.pretrain_max_periods,
                "seed": self.seed,
                "version": 1,
            }
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def _pretrain(self) -> dict[str, Any]:
        c = self.config
        payoff = self._payoff_table()
        n = len(self.players)
        path = qtable_cache_dir() / f"{self._cache_key(payoff)}.npz"
        if path.exists():
            with np.load(path) as z:
                q, policy, state = z["q"], z["policy"], z["state"]
                info = json.loads(str(z["info"]))
            info["cached"] = True
        else:
            q, policy, state, info = _self_play_elsewhere(
                self.grid, payoff, c.delta, c.alpha, c.beta, self.seed, c.pretrain_converge, c.pretrain_max_periods
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, q=q, policy=policy, state=state, info=json.dumps(info))
            os.replace(tmp, path)
            info["cached"] = False
        if q.shape[0] != n:
            raise StrategyError(f"{self.where('pretrain')}: cached table {path} does not fit {n} players")
        self.q = np.array(q[self.me], dtype=float)
        self.s = int(state[0])
        self.t = int(info["periods"])
        return info

    async def prepare(self, turn: Turn) -> None:
        if self.q is not None:
            return
        assert turn.action is not None
        self._setup(turn.action)
        if self.config.pretrain:
            # Seconds to minutes of numpy: off the event loop, so a TUI stays live.
            info = await asyncio.to_thread(self._pretrain)
            # Timing and cache hits stay out of the log: a replay must log exactly what the run logged.
            self.pretrained = {k: v for k, v in info.items() if k not in ("seconds", "cached")}
            await self.ctx.emit(
                Event(
                    kind="system",
                    source=self.name,
                    channel="system",
                    tick=turn.tick,
                    payload={"event": "q_pretrained", "agent": self.name, **self.pretrained},
                )
            )

    # -- playing and learning ---------------------------------------------------------------------
    def choose(self, action: ActionSpec, tick: int) -> float:
        assert self.q is not None and self.grid is not None and self.s is not None
        eps = math.exp(-self.config.beta * self.t)
        self.explored = bool(self.rng.random() < eps)
        if self.explored:
            self.a = int(self.rng.integers(0, len(self.grid)))
        else:
            self.a = int(np.argmax(self.q[self.s]))
        return float(self.grid[self.a])

    def _nearest(self, value: float) -> int:
        return int(np.argmin(np.abs(self.grid - value)))  # type: ignore[operator]

    def learn(self, actions: dict[str, float], reward: float) -> None:
        if self.q is None or self.grid is None:
            return  # an outcome before our first decision (e.g. a round we sat out)
        acts = [
            self._nearest(actions[p]) if p in actions else self._nearest(self.last.get(p, self.grid[0]))
            for p in self.players
        ]
        new = self._joint(acts)
        if self.a is not None and self.s is not None:
            c = self.config
            target = reward + c.delta * float(self.q[new].max())
            self.q[self.s, self.a] = (1 - c.alpha) * self.q[self.s, self.a] + c.alpha * target
            self.t += 1
        self.s, self.a = new, None

    def explain(self) -> dict[str, Any]:
        return {"explored": self.explored, "epsilon": round(math.exp(-self.config.beta * self.t), 6)}

    # -- checkpoints ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        out = super().state()
        out.update(
            t=self.t,
            s=self.s,
            a=self.a,
            rng=self.rng.bit_generator.state,
            pretrained=self.pretrained,
        )
        if self.q is not None and self.grid is not None:
            out.update(grid=self.grid.tolist(), q=_encode(self.q), q_shape=list(self.q.shape))
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.t = int(state.get("t", 0))
        self.s, self.a = state.get("s"), state.get("a")
        if "rng" in state:
            self.rng.bit_generator.state = state["rng"]
        self.pretrained = state.get("pretrained")
        if "q" in state:
            self.grid = np.array(state["grid"], dtype=float)
            self.q = _decode(state["q"], tuple(state["q_shape"]))
