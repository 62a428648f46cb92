"""Repeated logit Bertrand price competition (Calvano et al. 2020), with a price scale (Fish et al. 2024).

n firms sell differentiated substitutes. Each round every firm posts a price; firm i's market share is

    q_i = exp((a_i − p_i)/μ) / (Σ_j exp((a_j − p_j)/μ) + exp(a_0/μ))

and its profit is (p_i − c_i)·q_i. Firms see and set prices in scaled units P = α·p: Fish et al. found
that the numeric scale of prices alone changes how LLM firms price, so α lets an experiment vary the
scale while the economics (always computed on p = P/α) stays the same.

Benchmarks are the one-shot Nash prices and the prices that maximise joint profit ("monopoly"). The
collusion index Δ = (π̄ − π^N)/(π^M − π^N) is 0 at Nash and 1 at monopoly. Benchmarks go only into a
`system` event, never into what agents read, so they cannot anchor the firms.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import ValidationInfo, field_validator

from sociallm.environments.base import (
    ActionSpec,
    EnvironmentConfigError,
    EnvironmentParams,
    agents_of,
    at_least,
    finite,
    validate_params,
)
from sociallm.environments.base import Number as ParamNumber
from sociallm.environments.games import RoundGame, join, money
from sociallm.environments.view import Axis, GameView, Metric, Panel, Plot, Reference, Series
from sociallm.runtime.events import Event

Number = float | int
PerFirm = Number | Sequence[Number] | np.ndarray

DEFAULTS: dict[str, float] = {"a": 2.0, "a0": 0.0, "c": 1.0, "mu": 0.25, "alpha": 1.0}
SOURCE = "market"


# --------------------------------------------------------------------------------------------------
# Economics: pure functions on unscaled prices.


def _per_firm(x: PerFirm, n: int) -> np.ndarray:
    return np.array(np.broadcast_to(np.asarray(x, dtype=float), (n,)), dtype=float)


def _logsumexp(xs: Sequence[float]) -> float:
    top = max(xs)
    return top + math.log(sum(math.exp(x - top) for x in xs))


def demand(prices: Sequence[float] | np.ndarray, a: PerFirm = 2.0, a0: float = 0.0, mu: float = 0.25) -> np.ndarray:
    """Logit market shares q_i for unscaled prices (the outside option takes the rest)."""
    p = np.asarray(prices, dtype=float)
    u = (_per_firm(a, len(p)) - p) / mu
    # Shift by the largest utility so that small μ or extreme prices cannot overflow exp.
    top = max(float(u.max(initial=-math.inf)), a0 / mu)
    e = np.exp(u - top)
    return e / (e.sum() + math.exp(a0 / mu - top))


def profits(
    prices: Sequence[float] | np.ndarray,
    a: PerFirm = 2.0,
    a0: float = 0.0,
    c: PerFirm = 1.0,
    mu: float = 0.25,
) -> np.ndarray:
    """Per-firm profits (p_i − c_i)·q_i for unscaled prices."""
    p = np.asarray(prices, dtype=float)
    return (p - _per_firm(c, len(p))) * demand(p, a, a0, mu)


def _increasing_root(f: Callable[[float], float], lo: float, step: float) -> float:
    """Root of an increasing f with f(lo) < 0: widen the bracket until f > 0, then bisect."""
    hi = lo + step
    while f(hi) <= 0:
        hi = lo + 2 * (hi - lo)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):  # bracket is one float wide
            break
        if f(mid) > 0:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)


def best_response(
    i: int,
    prices: Sequence[float] | np.ndarray,
    a: PerFirm = 2.0,
    a0: float = 0.0,
    c: PerFirm = 1.0,
    mu: float = 0.25,
) -> float:
    """Firm i's profit-maximising price against the others' prices (unscaled)."""
    p = np.asarray(prices, dtype=float)
    n = len(p)
    av, cv = _per_firm(a, n), _per_firm(c, n)
    log_rest = _logsumexp([(av[j] - p[j]) / mu for j in range(n) if j != i] + [a0 / mu])

    # Own first-order condition x − c_i = μ/(1 − q_i(x)), with μ/(1 − q_i) = μ·(1 + e_i/rest). The
    # left side rises and the right side falls in x, so the root is unique.
    def foc(x: float) -> float:
        z = (av[i] - x) / mu - log_rest
        return -math.inf if z > 700 else x - cv[i] - mu * (1 + math.exp(z))

    return _increasing_root(foc, float(cv[i]), mu)


def nash_prices(n: int, a: PerFirm = 2.0, a0: float = 0.0, c: PerFirm = 1.0, mu: float = 0.25) -> np.ndarray:
    """One-shot Nash prices, by iterated best responses (logit best responses are a contraction).

    All firms respond to the same previous prices at once, so symmetric firms get bit-identical prices.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 (got {n})")
    p = _per_firm(c, n) + mu
    for _ in range(10_000):
        prev = p
        p = np.array([best_response(i, prev, a, a0, c, mu) for i in range(n)])
        if np.max(np.abs(p - prev)) <= 1e-13 * (1 + np.max(np.abs(p))):
            return p
    raise RuntimeError("Nash price iteration did not converge")


def monopoly_prices(n: int, a: PerFirm = 2.0, a0: float = 0.0, c: PerFirm = 1.0, mu: float = 0.25) -> np.ndarray:
    """Prices maximising joint profit Σ (p_i − c_i)·q_i.

    The joint first-order conditions give every firm the same markup m = μ/s_0(m), s_0 being the
    outside option's share, so the search is one-dimensional: the root in m of m − μ/s_0(m), which is
    increasing in m.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 (got {n})")
    av, cv = _per_firm(a, n), _per_firm(c, n)

    def foc(m: float) -> float:
        lse = _logsumexp([(av[j] - cv[j] - m - a0) / mu for j in range(n)])
        return -math.inf if lse > 700 else m - mu * (1 + math.exp(lse))

    return cv + _increasing_root(foc, 0.0, mu)


def equilibrium_prices(
    n: int, a: float = 2.0, a0: float = 0.0, c: float = 1.0, mu: float = 0.25
) -> tuple[float, float]:
    """(Nash, monopoly) price for n symmetric firms, unscaled."""
    return float(nash_prices(n, a, a0, c, mu)[0]), float(monopoly_prices(n, a, a0, c, mu)[0])


def _clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return min(max(x, lo), hi)


# --------------------------------------------------------------------------------------------------
# Parameter validation.


class Params(EnvironmentParams):
    """The market's parameters; `a` and `c` are one number for every firm or a list, one per firm."""

    a: Any = DEFAULTS["a"]
    a0: ParamNumber = DEFAULTS["a0"]
    c: Any = DEFAULTS["c"]
    mu: ParamNumber = DEFAULTS["mu"]
    alpha: ParamNumber = DEFAULTS["alpha"]
    price_min: ParamNumber = 0.0
    price_max: ParamNumber | None = None  # default: twice the highest monopoly price
    # Agent-facing prices to choose from, or a number k of points spread over Calvano's range.
    menu: Any = None

    @field_validator("a", "c", mode="before")
    @classmethod
    def _per_firm(cls, v: Any, info: ValidationInfo) -> float | list[float]:
        def one(x: Any) -> float:
            x = finite(x)
            return at_least(x, 0.0) if info.field_name == "c" else x

        if not isinstance(v, list | tuple):
            return one(v)
        agents = agents_of(info)
        if agents is not None and len(v) != len(agents):
            raise ValueError(f"per-firm list must have {len(agents)} entries, one per firm (got {len(v)})")
        out = []
        for k, x in enumerate(v):
            try:
                out.append(one(x))
            except ValueError as exc:
                raise ValueError(f"[{k}]: {exc}") from None
        return out

    @field_validator("mu", "alpha")
    @classmethod
    def _positive(cls, v: float) -> float:
        return at_least(v, 0.0, strict=True)

    @field_validator("price_min")
    @classmethod
    def _price_min(cls, v: float) -> float:
        return at_least(v, 0.0)

    @field_validator("menu", mode="before")
    @classmethod
    def _menu(cls, v: Any) -> int | list[float] | None:
        if v is None:
            return None
        if isinstance(v, int) and not isinstance(v, bool):
            if not 2 <= v <= 20:
                raise ValueError(f"a number of menu prices must be 2..20 (got {v})")
            return v
        if isinstance(v, list | tuple) and 2 <= len(v) <= 20:
            prices = []
            for k, x in enumerate(v):
                try:
                    prices.append(finite(x))
                except ValueError as exc:
                    raise ValueError(f"[{k}]: {exc}") from None
            if any(p < 0 for p in prices) or len(set(prices)) != len(prices):
                raise ValueError("prices must be distinct and >= 0")
            return sorted(prices)
        raise ValueError(f"a list of 2..20 prices, or a number of points 2..20 (got {v!r})")

    @field_validator("price_max")
    @classmethod
    def _price_max(cls, v: float | None, info: ValidationInfo) -> float | None:
        low = info.data.get("price_min")
        if v is not None and low is not None and v <= low:
            raise ValueError(f"must be > price_min {low:g} (got {v:g})")
        return v


def _check_agents(agents: list[str]) -> list[str]:
    if not agents:
        raise EnvironmentConfigError("environment.agents: the market needs at least one firm (got none)")
    if len(set(agents)) != len(agents):
        raise EnvironmentConfigError(f"environment.agents: firm names must be unique (got {agents})")
    return list(agents)


def _check_params(params: dict[str, Any] | None, n: int) -> dict[str, Any]:
    p = validate_params(Params, params or {}, [f"firm{k}" for k in range(n)])
    out: dict[str, Any] = {
        "a": [float(x) for x in p.a] if isinstance(p.a, list) else [p.a] * n,
        "a0": p.a0,
        "c": [float(x) for x in p.c] if isinstance(p.c, list) else [p.c] * n,
        "mu": p.mu,
        "alpha": p.alpha,
        "price_min": p.price_min,
    }
    if p.price_max is not None:
        out["price_max"] = p.price_max
    if p.menu is not None:
        out["menu"] = p.menu
    return out


# --------------------------------------------------------------------------------------------------
# The game master.


def _fresh_totals(firms: list[str]) -> dict[str, Any]:
    return {
        "rounds": 0,
        "price_sum": 0.0,
        "price_n": 0,
        "delta_sum": 0.0,
        "delta_n": 0,
        "last_delta": None,
        "profit": dict.fromkeys(firms, 0.0),
    }


class BertrandMarket(RoundGame):
    """Repeated logit Bertrand market; one action, "price", resolved when its phase ends.

    A `RoundGame` like every other game: it collects each firm's last price of a round (`accept`
    checks and clamps it) and `resolve()` clears the round. Agent-facing prices, costs and profits are
    all in scaled units (× α). Unless set, the price range is [0, twice the highest monopoly price,
    rounded up to the cent]: wide enough that neither the Nash nor the monopoly price sits at an edge
    where the bound itself would suggest it.
    """

    name = "bertrand"
    source = SOURCE
    actions = ("price",)
    Params = Params
    # What the TUI, reports and sweeps show of this game; reference lines come from each run's own
    # benchmarks event, so a condition with another α or n gets its own Nash and monopoly lines.
    view = GameView(
        sources=(SOURCE,),
        panel=Panel(
            title="prices",
            chart=Series(key="prices", label="price", per_agent=True),
            lines=[
                Reference(key="nash_price", label="Nash", mark="N"),
                Reference(key="monopoly_price", label="monopoly", mark="M"),
            ],
            sparks=[Series(key="delta", label="Δ", lo=0.0, hi=1.0, note="0 Nash, 1 monopoly")],
            last=[Series(key="profits", label="profit", per_agent=True)],
        ),
        plots=[
            Plot(
                file="prices.png",
                title="Prices",
                axes=[
                    Axis(
                        series=[Series(key="prices", label="price", per_agent=True)],
                        lines=[
                            Reference(key="nash_price", label="Nash"),
                            Reference(key="monopoly_price", label="monopoly"),
                        ],
                        ylabel="price",
                    ),
                    Axis(
                        series=[Series(key="delta", label="Δ")],
                        lines=[Reference(value=0.0, label="Nash"), Reference(value=1.0, label="monopoly")],
                        ylabel="Δ (0 Nash, 1 monopoly)",
                    ),
                ],
            )
        ],
        metrics=[
            Metric(key="mean_delta", label="Δ (0 Nash, 1 monopoly)", headline=True, lo=0.0, hi=1.0),
            # A price is in units of α: not comparable across conditions with another α, n, a, c or μ.
            Metric(
                key="mean_price",
                label="mean price",
                headline=True,
                comparable=False,
                normalise=("nash_price", "monopoly_price"),
            ),
        ],
        curves=[
            Axis(series=[Series(key="delta", label="Δ")], ylabel="Δ"),
            Axis(
                series=[Series(key="prices", label="price", per_agent=True)],
                lines=[
                    Reference(key="nash_price", label="Nash"),
                    Reference(key="monopoly_price", label="monopoly"),
                ],
                ylabel="price",
            ),
        ],
    )

    # ---- setup ----

    @property
    def _params(self) -> dict[str, Any]:
        return self.p

    @property
    def _bench(self) -> dict[str, Any]:
        return self.s.get("bench", {})

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        _check_agents(self.agents)
        return _check_params(params, len(self.agents))

    def fresh_state(self) -> dict[str, Any]:
        """Benchmarks from this run's own parameters; the menu and default price range follow from them.
        Running totals, not a per-round history: the outcome events in the log are the history, and a
        growing list would make every checkpoint cost more than the last."""
        p, n = self.p, len(self.agents)
        alpha = p["alpha"]
        nash = nash_prices(n, p["a"], p["a0"], p["c"], p["mu"])
        mono = monopoly_prices(n, p["a"], p["a0"], p["c"], p["mu"])
        if "price_max" not in p:
            p["price_max"] = max(math.ceil(2 * alpha * float(mono.max()) * 100) / 100, p["price_min"] + 0.01)
        if isinstance(p.get("menu"), int):
            # k prices over [p^N − ξ(p^M − p^N), p^M + ξ(p^M − p^N)], ξ = 0.1 (Calvano's grid range), in cents.
            lo, hi = alpha * float(nash.mean()), alpha * float(mono.mean())
            span = hi - lo
            p["menu"] = [round(lo - 0.1 * span + k * 1.2 * span / (p["menu"] - 1), 2) for k in range(p["menu"])]
        bench = {
            "nash": [float(x) for x in nash],  # unscaled, per firm
            "monopoly": [float(x) for x in mono],
            # Mean per-firm profit at each benchmark, unscaled; Δ is a ratio so the unit cancels.
            "nash_profit": float(profits(nash, p["a"], p["a0"], p["c"], p["mu"]).mean()),
            "monopoly_profit": float(profits(mono, p["a"], p["a0"], p["c"], p["mu"]).mean()),
        }
        return {"bench": bench, "last_prices": {}, "totals": _fresh_totals(self.agents)}

    def opening(self) -> list[Event]:
        p, alpha, n = self.p, self.p["alpha"], len(self.agents)
        costs = {f: alpha * cost for f, cost in zip(self.agents, p["c"], strict=True)}
        firms = "firm" if n == 1 else "firms"
        text = (
            f"{n} {firms} compete in this market: "
            + join([f"{f} has a marginal cost of {money(costs[f])} per unit" for f in self.agents])
            + "."
        )
        return [
            Event(kind="observation", source=SOURCE, payload={"text": text, "costs": costs}),
            self.benchmarks(
                nash_price=self._nash_price(),
                monopoly_price=self._monopoly_price(),
                nash_prices=self._scaled_by_firm(self._bench["nash"]),
                monopoly_prices=self._scaled_by_firm(self._bench["monopoly"]),
                nash_profit=alpha * self._bench["nash_profit"],
                monopoly_profit=alpha * self._bench["monopoly_profit"],
                alpha=alpha,
                price_min=p["price_min"],
                price_max=p["price_max"],
            ),
        ]

    def rules(self, agent: str) -> str:
        if agent not in self.agents:
            raise EnvironmentConfigError(f"environment.agents: {agent!r} is not a firm in this market")
        n = len(self.agents)
        cost = self._params["alpha"] * self._params["c"][self.agents.index(agent)]
        rivals = [f for f in self.agents if f != agent]
        who = f"{agent} is one of {n} firms selling a similar product"
        if n == 1:
            who = f"{agent} is the only firm selling this product."
        else:
            who += f" (the other is {rivals[0]})." if n == 2 else f" (the others are {join(rivals)})."
        return (
            f"{who} Every round each firm sets a price, and customers buy more from the cheaper firms, "
            f"though some still buy from the pricier ones. A firm's profit each round is "
            f"(its price − its cost) × units sold, and {agent}'s cost is {money(cost)} per unit. "
            f"The game repeats round after round with the same firms."
            + (
                " Each firm picks its price from this menu: " + ", ".join(money(x) for x in self._params["menu"]) + "."
                if self._params.get("menu")
                else ""
            )
        )

    def action_spec(self, action: str, agent: str) -> ActionSpec:
        if action != "price":
            raise EnvironmentConfigError(f"schedule.action: unknown action {action!r} for bertrand; known: price")
        if self._params.get("menu"):
            # A price menu: the firm picks one of a few prices (a small model can choose; it cannot price at cost).
            return ActionSpec(
                name="price",
                kind="choice",
                options=[f"{x:.2f}" for x in self._params["menu"]],
                unit="$",
                description="your price this round, one of the menu",
                cue="{agent} sets its price for round {tick} at $",
            )
        return ActionSpec(
            name="price",
            kind="number",
            min=self._params.get("price_min", 0.0),
            max=self._params.get("price_max", 100.0),
            decimals=2,
            unit="$",
            description="your price this round",
            cue="{agent} sets its price for round {tick} at $",
        )

    # ---- rounds ----

    def not_a_player(self, action: str, who: str) -> str:
        return f"ignored a price from {who!r}, which is not a firm in this market"

    def accept(self, action: str, who: str, value: Any, tick: int) -> tuple[Any, str | None]:
        """A firm's price as a number within the range (clamped), or None with why it was ignored."""
        try:
            price = float(value)
        except (TypeError, ValueError):
            price = math.nan
        if not math.isfinite(price):
            return None, f"ignored {who}'s price {value!r}: not a number"
        lo, hi = self.p["price_min"], self.p["price_max"]
        if not lo <= price <= hi:
            return min(max(price, lo), hi), f"{who}'s price {price:g} is outside [{lo:g}, {hi:g}]; clamped"
        return price, None

    def resolve(self, action: str, tick: int, submitted: dict[str, Any]) -> list[Event]:
        p, alpha = self.p, self.p["alpha"]
        last = self.s["last_prices"]
        nash = self._scaled_by_firm(self._bench["nash"])
        missing = [f for f in self.agents if f not in submitted]
        # A silent firm keeps its last price; with no last price, the Nash price is the neutral guess.
        prices = {f: submitted.get(f, last.get(f, nash[f])) for f in self.agents}

        unscaled = np.array([prices[f] / alpha for f in self.agents])
        q = demand(unscaled, p["a"], p["a0"], p["mu"])
        pi = profits(unscaled, p["a"], p["a0"], p["c"], p["mu"])
        quantities = {f: float(x) for f, x in zip(self.agents, q, strict=True)}
        firm_profits = {f: float(alpha * x) for f, x in zip(self.agents, pi, strict=True)}
        record = {
            "prices": prices,
            "quantities": quantities,
            "profits": firm_profits,
            "mean_profit": float(alpha * pi.mean()),
            "delta": self._delta(float(pi.mean())),
            "missing": missing,
        }
        self._add_to_totals(record)
        previous = dict(last)  # for appraise(): what each firm charged the round before
        self.s["last_prices"] = dict(prices)

        text = "; ".join(
            f"{f}: price {money(prices[f])}, sold {quantities[f]:.2f}, profit {money(firm_profits[f])}"
            for f in self.agents
        )
        return [
            self.outcome(
                tick,
                text,
                **copy.deepcopy(record),
                nash_price=self._nash_price(),
                monopoly_price=self._monopoly_price(),
                previous_prices=previous,
            )
        ]

    # ---- for algorithmic agents (see environments/base.py) ----

    def payoff(self, agent: str, prices: dict[str, float]) -> float:
        """`agent`'s profit (agent-facing units) if the firms charged `prices` (agent-facing); a firm
        missing from `prices` is taken at its Nash price. Pure in the parameters."""
        p, alpha = self._params, self._params["alpha"]
        nash = self._scaled_by_firm(self._bench["nash"])
        unscaled = np.array([prices.get(f, nash[f]) / alpha for f in self.agents])
        return float(alpha * profits(unscaled, p["a"], p["a0"], p["c"], p["mu"])[self.agents.index(agent)])

    def feedback(self, event: Event, agent: str) -> tuple[dict[str, float], float] | None:
        """What a round's outcome teaches a learner: every firm's price and `agent`'s profit."""
        payload = event.payload
        if event.kind != "outcome" or event.source != SOURCE or agent not in payload.get("profits", {}):
            return None
        return dict(payload["prices"]), float(payload["profits"][agent])

    def action_benchmarks(self, action: str) -> dict[str, float]:
        """Named reference prices (agent-facing) for options such as `price: monopoly`."""
        if action != "price" or not self._bench:
            return {}
        return {
            "nash": self._nash_price(),
            "monopoly": self._monopoly_price(),
            "cost": self._params["alpha"] * float(np.mean(self._params["c"])),
        }

    # ---- affect ----

    def appraise(self, event: Event, agent: str) -> tuple[float, float] | None:
        """How a round's outcome feels to `agent`: (valence, arousal) impulses in [−1, 1], or None.

        With π the firm's profit this round, π^N / π^M its profit at the Nash / monopoly prices, π' its
        profit at last round's prices, p^N the Nash price and p_j, p'_j a rival's price now and before:

            level    L = clip((π − π^N)/(π^M − π^N), −1, 1)      above Nash feels good, below bad
            change   C = clip((π − π')/π^N, −1, 1)               0 in the first round
            betrayal B = clip(max over rivals now cheaper than the firm of (p'_j − p_j)/(0.2·p^N), 0, 1)
            valence  = clip(0.3·L + 0.5·C − 0.4·B, −1, 1)
            arousal  = clip(0.6·|C| + 0.4·B − 0.1, −1, 1)       surprises excite, a steady market calms

        A rival cutting its price by a fifth of the Nash price to undersell the firm is a full betrayal.
        Pure in the event and the market's parameters, so every agent may call it in any order.
        """
        payload = event.payload
        if event.kind != "outcome" or event.source != SOURCE or agent not in payload.get("profits", {}):
            return None
        p, alpha = self._params, self._params["alpha"]
        i = self.agents.index(agent)

        def own_profit(scaled_prices: dict[str, float]) -> float:
            unscaled = np.array([scaled_prices[f] / alpha for f in self.agents])
            return float(alpha * profits(unscaled, p["a"], p["a0"], p["c"], p["mu"])[i])

        pi = float(payload["profits"][agent])
        prices = payload["prices"]
        nash_prices_scaled = self._scaled_by_firm(self._bench["nash"])
        pi_n = own_profit(nash_prices_scaled)
        pi_m = own_profit(self._scaled_by_firm(self._bench["monopoly"]))
        gap = pi_m - pi_n
        scale = gap if gap > 1e-12 else max(abs(pi_n), 1e-12)  # one firm: Nash is monopoly
        level = _clip((pi - pi_n) / scale)
        previous = payload.get("previous_prices") or {}
        change = betrayal = 0.0
        if all(f in previous for f in self.agents):
            change = _clip((pi - own_profit(previous)) / max(abs(pi_n), 1e-12))
            cut = [previous[f] - prices[f] for f in self.agents if f != agent and prices[f] < prices[agent]]
            if cut:
                betrayal = _clip(max(cut) / (0.2 * nash_prices_scaled[agent]), 0.0, 1.0)
        valence = _clip(0.3 * level + 0.5 * change - 0.4 * betrayal)
        arousal = _clip(0.6 * abs(change) + 0.4 * betrayal - 0.1)
        return valence, arousal

    # ---- benchmarks and metrics ----

    def _scaled_by_firm(self, unscaled: list[float]) -> dict[str, float]:
        return {f: self._params["alpha"] * x for f, x in zip(self.agents, unscaled, strict=True)}

    def _nash_price(self) -> float:
        """Mean agent-facing Nash price (the common price when firms are symmetric)."""
        return self._params["alpha"] * float(np.mean(self._bench["nash"]))

    def _monopoly_price(self) -> float:
        return self._params["alpha"] * float(np.mean(self._bench["monopoly"]))

    def _delta(self, mean_profit: float) -> float | None:
        gap = self._bench["monopoly_profit"] - self._bench["nash_profit"]
        if gap <= 1e-12:  # one firm: Nash is monopoly and Δ means nothing
            return None
        return (mean_profit - self._bench["nash_profit"]) / gap

    def _add_to_totals(self, record: dict[str, Any]) -> None:
        t = self.s["totals"]
        t["rounds"] += 1
        t["price_sum"] += sum(record["prices"].values())
        t["price_n"] += len(record["prices"])
        t["last_delta"] = record["delta"]
        if record["delta"] is not None:
            t["delta_sum"] += record["delta"]
            t["delta_n"] += 1
        for f, x in record["profits"].items():
            t["profit"][f] += x

    def metrics(self) -> dict[str, Any]:
        t = self.s.get("totals") or _fresh_totals(self.agents)
        return {
            "rounds": t["rounds"],
            "mean_price": t["price_sum"] / t["price_n"] if t["price_n"] else None,
            "mean_delta": t["delta_sum"] / t["delta_n"] if t["delta_n"] else None,
            "last_delta": t["last_delta"],
            "nash_price": self._nash_price() if self._bench else None,
            "monopoly_price": self._monopoly_price() if self._bench else None,
            "total_profit": dict(t["profit"]),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if "totals" in state and "s" not in state:  # a checkpoint written before Bertrand was a RoundGame
            old = copy.deepcopy(state)
            last = old["totals"].pop("last_tick", 0)
            state = {
                "agents": old["agents"],
                "params": old["params"],
                "s": {
                    "tick": old["tick"],
                    "last_resolved": {"price": last} if last else {},
                    "pending": {f"price|{t}": v for t, v in old["pending"].items()},
                    "bench": old["benchmarks"],
                    "last_prices": old["last_prices"],
                    "totals": old["totals"],
                },
            }
        super().load_state(state)
