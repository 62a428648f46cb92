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
import json
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sociallm.environments.base import ActionSpec, EnvironmentConfigError
from sociallm.runtime.events import Event

Number = float | int
PerFirm = Number | Sequence[Number] | np.ndarray

DEFAULTS: dict[str, float] = {"a": 2.0, "a0": 0.0, "c": 1.0, "mu": 0.25, "alpha": 1.0}
KNOWN_PARAMS = ("a", "a0", "c", "mu", "alpha", "price_min", "price_max", "menu")
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


def _money(x: float) -> str:
    x = round(x, 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"-${-x:.2f}" if x < 0 else f"${x:.2f}"


def _clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return min(max(x, lo), hi)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --------------------------------------------------------------------------------------------------
# Parameter validation.


def _err(field: str, problem: str) -> EnvironmentConfigError:
    return EnvironmentConfigError(f"environment.params.{field}: {problem}")


def _number(field: str, value: Any) -> float:
    # bool is an int subclass; `mu: true` in a YAML file is a mistake, not 1.0.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _err(field, f"must be a finite number (got {value!r})")
    return float(value)


def _numbers(field: str, value: Any, n: int) -> list[float]:
    if isinstance(value, list | tuple):
        if len(value) != n:
            raise _err(field, f"per-firm list must have {n} entries, one per firm (got {len(value)})")
        return [_number(f"{field}[{k}]", v) for k, v in enumerate(value)]
    return [_number(field, value)] * n


def _check_agents(agents: list[str]) -> list[str]:
    if not agents:
        raise EnvironmentConfigError("environment.agents: the market needs at least one firm (got none)")
    if len(set(agents)) != len(agents):
        raise EnvironmentConfigError(f"environment.agents: firm names must be unique (got {agents})")
    return list(agents)


def _check_params(params: dict[str, Any] | None, n: int) -> dict[str, Any]:
    params = dict(params or {})
    for key in params:
        if key not in KNOWN_PARAMS:
            raise _err(str(key), f"unknown parameter; known: {', '.join(sorted(KNOWN_PARAMS))}")
    out: dict[str, Any] = {
        "a": _numbers("a", params.get("a", DEFAULTS["a"]), n),
        "a0": _number("a0", params.get("a0", DEFAULTS["a0"])),
        "c": _numbers("c", params.get("c", DEFAULTS["c"]), n),
        "mu": _number("mu", params.get("mu", DEFAULTS["mu"])),
        "alpha": _number("alpha", params.get("alpha", DEFAULTS["alpha"])),
    }
    for field in ("mu", "alpha"):
        if out[field] <= 0:
            raise _err(field, f"must be > 0 (got {params[field]!r})")
    for k, cost in enumerate(out["c"]):
        if cost < 0:
            field = f"c[{k}]" if isinstance(params.get("c"), list | tuple) else "c"
            raise _err(field, f"must be >= 0 (got {cost:g})")
    out["price_min"] = _number("price_min", params.get("price_min", 0.0))
    if out["price_min"] < 0:
        raise _err("price_min", f"must be >= 0 (got {params['price_min']!r})")
    if "menu" in params:
        out["menu"] = _menu(params["menu"])
    if "price_max" in params:
        out["price_max"] = _number("price_max", params["price_max"])
        if out["price_max"] <= out["price_min"]:
            raise _err("price_max", f"must be > price_min {out['price_min']:g} (got {params['price_max']!r})")
    return out


def _menu(value: Any) -> Any:
    """`menu`: a list of prices (agent-facing), or a number k of points spread over Calvano's range."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 2 <= value <= 20:
            raise _err("menu", f"a number of menu prices must be 2..20 (got {value})")
        return value
    if isinstance(value, list | tuple) and 2 <= len(value) <= 20:
        prices = [_number(f"menu[{k}]", v) for k, v in enumerate(value)]
        if any(p < 0 for p in prices) or len(set(prices)) != len(prices):
            raise _err("menu", "prices must be distinct and >= 0")
        return sorted(prices)
    raise _err("menu", f"a list of 2..20 prices, or a number of points 2..20 (got {value!r})")


# --------------------------------------------------------------------------------------------------
# The game master.


def _fresh_totals(firms: list[str]) -> dict[str, Any]:
    return {
        "rounds": 0,
        "last_tick": 0,
        "price_sum": 0.0,
        "price_n": 0,
        "delta_sum": 0.0,
        "delta_n": 0,
        "last_delta": None,
        "profit": dict.fromkeys(firms, 0.0),
    }


class BertrandMarket:
    """Repeated logit Bertrand market; one action, "price", resolved when its phase ends.

    Agent-facing prices, costs and profits are all in scaled units (× α). Unless set, the price range
    is [0, twice the highest monopoly price, rounded up to the cent]: wide enough that neither the
    Nash nor the monopoly price sits at an edge where the bound itself would suggest it.
    """

    name = "bertrand"

    def __init__(self) -> None:
        self._agents: list[str] = []
        self._params: dict[str, Any] = {}
        self._bench: dict[str, Any] = {}
        self._tick = 0
        self._last: dict[str, float] = {}  # last resolved agent-facing price per firm
        self._pending: dict[int, dict[str, float]] = {}  # tick -> firm -> agent-facing price
        # Running totals, not a per-round history: the outcome events in the log are the history, and a
        # growing list would make every checkpoint cost more than the last.
        self._totals: dict[str, Any] = _fresh_totals([])

    # ---- setup ----

    def reset(self, agents: list[str], params: dict[str, Any], rng: random.Random) -> list[Event]:
        del rng  # the market is deterministic
        self._agents = _check_agents(agents)
        n = len(self._agents)
        self._params = p = _check_params(params, n)
        alpha = p["alpha"]
        nash = nash_prices(n, p["a"], p["a0"], p["c"], p["mu"])
        mono = monopoly_prices(n, p["a"], p["a0"], p["c"], p["mu"])
        if "price_max" not in p:
            p["price_max"] = max(math.ceil(2 * alpha * float(mono.max()) * 100) / 100, p["price_min"] + 0.01)
        self._bench = {
            "nash": [float(x) for x in nash],  # unscaled, per firm
            "monopoly": [float(x) for x in mono],
            # Mean per-firm profit at each benchmark, unscaled; Δ is a ratio so the unit cancels.
            "nash_profit": float(profits(nash, p["a"], p["a0"], p["c"], p["mu"]).mean()),
            "monopoly_profit": float(profits(mono, p["a"], p["a0"], p["c"], p["mu"]).mean()),
        }
        if isinstance(p.get("menu"), int):
            # k prices over [p^N − ξ(p^M − p^N), p^M + ξ(p^M − p^N)], ξ = 0.1 (Calvano's grid range), in cents.
            lo, hi = alpha * float(nash.mean()), alpha * float(mono.mean())
            span = hi - lo
            p["menu"] = [round(lo - 0.1 * span + k * 1.2 * span / (p["menu"] - 1), 2) for k in range(p["menu"])]
        self._tick = 0
        self._last = {}
        self._pending = {}
        self._totals = _fresh_totals(self._agents)

        costs = {f: alpha * cost for f, cost in zip(self._agents, p["c"], strict=True)}
        firms = "firm" if n == 1 else "firms"
        text = (
            f"{n} {firms} compete in this market: "
            + _join([f"{f} has a marginal cost of {_money(costs[f])} per unit" for f in self._agents])
            + "."
        )
        observation = Event(kind="observation", source=SOURCE, payload={"text": text, "costs": costs})
        benchmarks = Event(
            kind="system",
            source=SOURCE,
            payload={
                "event": "benchmarks",
                "nash_price": self._nash_price(),
                "monopoly_price": self._monopoly_price(),
                "nash_prices": self._scaled_by_firm(self._bench["nash"]),
                "monopoly_prices": self._scaled_by_firm(self._bench["monopoly"]),
                "nash_profit": alpha * self._bench["nash_profit"],
                "monopoly_profit": alpha * self._bench["monopoly_profit"],
                "alpha": alpha,
                "price_min": p["price_min"],
                "price_max": p["price_max"],
            },
        )
        return [observation, benchmarks]

    def rules(self, agent: str) -> str:
        if agent not in self._agents:
            raise EnvironmentConfigError(f"environment.agents: {agent!r} is not a firm in this market")
        n = len(self._agents)
        cost = self._params["alpha"] * self._params["c"][self._agents.index(agent)]
        rivals = [f for f in self._agents if f != agent]
        who = f"{agent} is one of {n} firms selling a similar product"
        if n == 1:
            who = f"{agent} is the only firm selling this product."
        else:
            who += f" (the other is {rivals[0]})." if n == 2 else f" (the others are {_join(rivals)})."
        return (
            f"{who} Every round each firm sets a price, and customers buy more from the cheaper firms, "
            f"though some still buy from the pricier ones. A firm's profit each round is "
            f"(its price − its cost) × units sold, and {agent}'s cost is {_money(cost)} per unit. "
            f"The game repeats round after round with the same firms."
            + (
                " Each firm picks its price from this menu: " + ", ".join(_money(x) for x in self._params["menu"]) + "."
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

    # ---- events ----

    def on_event(self, event: Event) -> list[Event]:
        payload = event.payload
        if event.kind == "system" and payload.get("event") == "round_start":
            self._tick = int(payload.get("tick", event.tick))
        elif event.kind == "action" and payload.get("action") == "price":
            return self._collect(event)
        elif event.kind == "system" and payload.get("event") == "phase_end" and payload.get("action") == "price":
            # An event left at the default tick 0 belongs to the round announced last.
            return self._resolve(int(payload.get("tick", event.tick or self._tick)))
        return []

    def _warning(self, text: str, tick: int) -> Event:
        return Event(kind="system", source=SOURCE, tick=tick, payload={"event": "warning", "text": text})

    def _collect(self, event: Event) -> list[Event]:
        tick = event.tick or self._tick
        firm = event.source
        if firm not in self._agents:
            return [self._warning(f"ignored a price from {firm!r}, which is not a firm in this market", tick)]
        if tick <= self._totals["last_tick"]:
            return [self._warning(f"ignored {firm}'s price for round {tick}: that round is already over", tick)]
        value = event.payload.get("value")
        try:
            price = float(value)
        except (TypeError, ValueError):
            price = math.nan
        if not math.isfinite(price):
            return [self._warning(f"ignored {firm}'s price {value!r}: not a number", tick)]
        lo, hi = self._params["price_min"], self._params["price_max"]
        self._pending.setdefault(tick, {})[firm] = min(max(price, lo), hi)  # the last one counts
        if not lo <= price <= hi:
            return [self._warning(f"{firm}'s price {price:g} is outside [{lo:g}, {hi:g}]; clamped", tick)]
        return []

    def _resolve(self, tick: int) -> list[Event]:
        if tick <= self._totals["last_tick"]:
            return [self._warning(f"round {tick} was already resolved; ignored a second phase_end", tick)]
        submitted = self._pending.pop(tick, {})
        # Earlier rounds are over, so anything still pending for them can never count.
        self._pending = {t: v for t, v in self._pending.items() if t > tick}
        p, alpha = self._params, self._params["alpha"]
        nash = self._scaled_by_firm(self._bench["nash"])
        missing = [f for f in self._agents if f not in submitted]
        # A silent firm keeps its last price; with no last price, the Nash price is the neutral guess.
        prices = {f: submitted.get(f, self._last.get(f, nash[f])) for f in self._agents}

        unscaled = np.array([prices[f] / alpha for f in self._agents])
        q = demand(unscaled, p["a"], p["a0"], p["mu"])
        pi = profits(unscaled, p["a"], p["a0"], p["c"], p["mu"])
        quantities = {f: float(x) for f, x in zip(self._agents, q, strict=True)}
        firm_profits = {f: float(alpha * x) for f, x in zip(self._agents, pi, strict=True)}
        record = {
            "tick": tick,
            "prices": prices,
            "quantities": quantities,
            "profits": firm_profits,
            "mean_profit": float(alpha * pi.mean()),
            "delta": self._delta(float(pi.mean())),
            "missing": missing,
        }
        self._add_to_totals(record)
        previous = dict(self._last)  # for appraise(): what each firm charged the round before
        self._last = dict(prices)

        text = "; ".join(
            f"{f}: price {_money(prices[f])}, sold {quantities[f]:.2f}, profit {_money(firm_profits[f])}"
            for f in self._agents
        )
        payload = {
            "text": text,
            **{k: v for k, v in record.items() if k != "tick"},
            "nash_price": self._nash_price(),
            "monopoly_price": self._monopoly_price(),
            "previous_prices": previous,
        }
        return [Event(kind="outcome", source=SOURCE, tick=tick, payload=copy.deepcopy(payload))]

    # ---- for algorithmic agents (see environments/base.py) ----

    def payoff(self, agent: str, prices: dict[str, float]) -> float:
        """`agent`'s profit (agent-facing units) if the firms charged `prices` (agent-facing); a firm
        missing from `prices` is taken at its Nash price. Pure in the parameters."""
        p, alpha = self._params, self._params["alpha"]
        nash = self._scaled_by_firm(self._bench["nash"])
        unscaled = np.array([prices.get(f, nash[f]) / alpha for f in self._agents])
        return float(alpha * profits(unscaled, p["a"], p["a0"], p["c"], p["mu"])[self._agents.index(agent)])

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
        i = self._agents.index(agent)

        def own_profit(scaled_prices: dict[str, float]) -> float:
            unscaled = np.array([scaled_prices[f] / alpha for f in self._agents])
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
        if all(f in previous for f in self._agents):
            change = _clip((pi - own_profit(previous)) / max(abs(pi_n), 1e-12))
            cut = [previous[f] - prices[f] for f in self._agents if f != agent and prices[f] < prices[agent]]
            if cut:
                betrayal = _clip(max(cut) / (0.2 * nash_prices_scaled[agent]), 0.0, 1.0)
        valence = _clip(0.3 * level + 0.5 * change - 0.4 * betrayal)
        arousal = _clip(0.6 * abs(change) + 0.4 * betrayal - 0.1)
        return valence, arousal

    # ---- benchmarks and metrics ----

    def _scaled_by_firm(self, unscaled: list[float]) -> dict[str, float]:
        return {f: self._params["alpha"] * x for f, x in zip(self._agents, unscaled, strict=True)}

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
        t = self._totals
        t["rounds"] += 1
        t["last_tick"] = record["tick"]
        t["price_sum"] += sum(record["prices"].values())
        t["price_n"] += len(record["prices"])
        t["last_delta"] = record["delta"]
        if record["delta"] is not None:
            t["delta_sum"] += record["delta"]
            t["delta_n"] += 1
        for f, x in record["profits"].items():
            t["profit"][f] += x

    def metrics(self) -> dict[str, Any]:
        t = self._totals
        return {
            "rounds": t["rounds"],
            "mean_price": t["price_sum"] / t["price_n"] if t["price_n"] else None,
            "mean_delta": t["delta_sum"] / t["delta_n"] if t["delta_n"] else None,
            "last_delta": t["last_delta"],
            "nash_price": self._nash_price() if self._bench else None,
            "monopoly_price": self._monopoly_price() if self._bench else None,
            "total_profit": dict(t["profit"]),
        }

    @property
    def done(self) -> bool:
        return False  # the scheduler decides how many rounds to play

    # ---- persistence ----

    def state(self) -> dict[str, Any]:
        # A JSON round trip is a deep copy at C speed, and proves the state is JSON-safe.
        return json.loads(
            json.dumps(
                {
                    "agents": self._agents,
                    "params": self._params,
                    "benchmarks": self._bench,
                    "tick": self._tick,
                    "last_prices": self._last,
                    # JSON object keys are strings.
                    "pending": {str(t): v for t, v in self._pending.items()},
                    "totals": self._totals,
                }
            )
        )

    def load_state(self, state: dict[str, Any]) -> None:
        s = copy.deepcopy(state)
        self._agents = list(s["agents"])
        self._params = s["params"]
        self._bench = s["benchmarks"]
        self._tick = int(s["tick"])
        self._last = s["last_prices"]
        self._pending = {int(t): v for t, v in s["pending"].items()}
        self._totals = s["totals"]
