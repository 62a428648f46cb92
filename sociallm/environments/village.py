"""A village market: stall keepers talk, gossip in private, and price their goods every round.

Every villager keeps one stall (a good from `goods`, dealt in turn) and sets its price each round
(`price`, between `min_price` and `max_price`). Stock costs `cost` a unit. The villagers of one market
(`market_size` neighbours in scenario order; 0 = one market for the whole village) buy `baskets` units
each a round, spread over the market's stalls with weight (1/price)^`elasticity`: a cheaper stall sells
more, no stall sells everything. Each stall keeper hears only its own result (a private outcome:
sales, profit, the market's average price), so what the others charge is learned from talk and
gossip, which is what the scenario's channels are for.

Everything an agent reads here (its rules, its outcome) has a size independent of the size of the
village: a society of 10,000 runs on the same prompts as one of 8.

Metrics: mean price, mean profit per stall, price spread (max − min of the latest round), and a
collusion index like Bertrand's on the market's own scale: (mean price − competitive price) /
(monopoly price − competitive price), where both reference prices are the symmetric ones of this
demand (see `reference_prices`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sociallm.environments.base import ActionSpec, EnvironmentParams, Number, Whole, validate_params
from sociallm.environments.games import RoundGame, check_agents, money, param_error
from sociallm.runtime.events import Event

GOODS = ["bread", "apples", "cheese", "eggs", "honey", "wool", "fish", "cider"]


class Params(EnvironmentParams):
    goods: list[str] = Field(default_factory=lambda: list(GOODS), min_length=1)
    cost: Number = 2.0
    min_price: Number = 1.0
    max_price: Number = 10.0
    baskets: Number = 2.0
    elasticity: Number = 2.0
    market_size: Whole = 0


def reference_prices(cost: float, elasticity: float, lo: float, hi: float) -> tuple[float, float]:
    """(competitive, monopoly) symmetric prices of this demand. A stall's share with k rivals at price q
    is w(p)/(w(p) + k·w(q)) with w = p^-e; at a symmetric point its own-price elasticity of sales is
    e·(k/(k+1)), large markets → e, so the competitive markup solves (p − c)/p = 1/e: p = c·e/(e − 1)
    (the top of the range when e ≤ 1). A monopolist over all stalls sells a fixed quantity whatever the
    price, so its price is the top of the range."""
    comp = hi if elasticity <= 1 else min(hi, max(lo, cost * elasticity / (elasticity - 1)))
    return comp, hi


class VillageMarket(RoundGame):
    name = "village"
    source = "market"
    actions = ("price",)

    Params = Params

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        p = validate_params(Params, params, self.agents)
        if p.cost < 0:
            raise param_error("cost", f"must be >= 0 (got {p.cost:g})")
        if p.min_price <= 0:
            raise param_error("min_price", f"must be > 0 (got {p.min_price:g})")
        if p.max_price <= p.min_price:
            raise param_error("max_price", f"must be above min_price ({p.min_price:g}); got {p.max_price:g}")
        if p.baskets <= 0:
            raise param_error("baskets", f"must be > 0 (got {p.baskets:g})")
        if p.market_size < 0:
            raise param_error("market_size", f"must be >= 0 (0 = one market for everyone); got {p.market_size}")
        return p.model_dump()

    def fresh_state(self) -> dict[str, Any]:
        check_agents(self.agents, 2, "villagers")
        return {"rounds": 0, "profit": dict.fromkeys(self.agents, 0.0), "last": {}, "mean_price": None, "spread": None}

    # -- who is where ---------------------------------------------------------------------------
    def _position(self, agent: str) -> int:
        pos = getattr(self, "_pos", None)
        if pos is None or len(pos) != len(self.agents):
            pos = self._pos = {a: i for i, a in enumerate(self.agents)}
        return pos[agent]

    def good(self, agent: str) -> str:
        goods = self.p["goods"]
        return goods[self._position(agent) % len(goods)]

    def market(self, agent: str) -> int:
        size = self.p["market_size"]
        return self._position(agent) // size if size else 0

    def market_count(self, agent: str) -> int:
        size = self.p["market_size"]
        n = len(self.agents)
        if not size:
            return n
        start = self.market(agent) * size
        return min(size, n - start)

    def actors(self, action: str) -> frozenset[str]:  # type: ignore[override]
        # A set: every price is checked against it, and a list of 10,000 names made that a scan.
        cached = getattr(self, "_actors", None)
        if cached is None or len(cached) != len(self.agents):
            cached = self._actors = frozenset(self.agents)
        return cached

    # -- protocol -------------------------------------------------------------------------------
    def rules(self, agent: str) -> str:
        p = self.p
        k = self.market_count(agent)
        return (
            f"{agent} keeps the {self.good(agent)} stall in the village market. Every round the villagers talk, "
            f"then every stall keeper sets a price between {money(p['min_price'])} and {money(p['max_price'])} a "
            f"unit. Stock costs {money(p['cost'])} a unit. The {k} villagers of {agent}'s market buy "
            f"{p['baskets']:g} units each a round; cheaper stalls sell more, but no stall sells everything. "
            f"Each keeper hears only its own sales; what others charge is learned by talking."
        )

    def action_spec(self, action: str, agent: str) -> ActionSpec:
        if action != "price":
            raise self.unknown_action(action)
        p = self.p
        good = self.good(agent)
        return ActionSpec(
            name="price",
            kind="number",
            description=f"price of a unit of {good}",
            min=p["min_price"],
            max=p["max_price"],
            decimals=2,
            unit="$",
            cue=f"{{agent}} sets the price of {good} for round {{tick}} at $",
        )

    def resolve(self, action: str, tick: int, submitted: dict[str, Any]) -> list[Event]:
        p, t = self.p, self.s
        lo, hi = p["min_price"], p["max_price"]
        prices: dict[str, float] = {}
        for a in self.agents:
            v = submitted.get(a, t["last"].get(a, (lo + hi) / 2))  # a missing reply keeps the last price
            prices[a] = min(hi, max(lo, float(v)))
        markets: dict[int, list[str]] = {}
        for a in self.agents:
            markets.setdefault(self.market(a), []).append(a)
        events = []
        profits: dict[str, float] = {}
        for members in markets.values():
            weights = {a: prices[a] ** -p["elasticity"] for a in members}
            total = sum(weights.values())
            units = p["baskets"] * len(members)
            avg = sum(prices[a] for a in members) / len(members)
            for a in members:
                sold = units * weights[a] / total
                gain = sold * (prices[a] - p["cost"])
                profits[a] = gain
                t["profit"][a] += gain
                text = (
                    f"Round {tick}: {a} sold {sold:.1f} units of {self.good(a)} at {money(prices[a])} "
                    f"(profit {money(gain)}); the market's average price was {money(avg)}."
                )
                events.append(
                    self.outcome(
                        tick, text, to=[a], price=prices[a], sold=round(sold, 3), profit=round(gain, 4), average=avg
                    )
                )
        t["rounds"] += 1
        t["last"] = prices
        t["mean_price"] = sum(prices.values()) / len(prices)
        t["spread"] = max(prices.values()) - min(prices.values())
        t["last_profit"] = profits
        return events

    def appraise(self, event: Event, agent: str) -> tuple[float, float] | None:
        """A loss feels bad, a good round good; the bigger the swing, the more arousing (pure in the event)."""
        if event.kind != "outcome" or agent not in event.to or "profit" not in event.payload:
            return None
        p = self.p
        comp, _ = reference_prices(p["cost"], p["elasticity"], p["min_price"], p["max_price"])
        fair = p["baskets"] * (comp - p["cost"])  # a stall's profit when everyone charges the competitive price
        x = float(event.payload["profit"]) - fair
        scale = max(1.0, abs(fair))
        dv = max(-1.0, min(1.0, x / scale))
        return 0.5 * dv, 0.3 * abs(dv)

    def metrics(self) -> dict[str, Any]:
        p, t = self.p, self.s
        r = t.get("rounds", 0)
        comp, mono = reference_prices(p["cost"], p["elasticity"], p["min_price"], p["max_price"])
        mean = t.get("mean_price")
        profits = t.get("profit", {})
        return {
            "rounds": r,
            "mean_price": mean,
            "price_spread": t.get("spread"),
            "mean_profit_per_stall": (sum(profits.values()) / len(profits) / r) if r and profits else None,
            "collusion_index": (mean - comp) / (mono - comp) if mean is not None and mono > comp else None,
            "competitive_price": comp,
            "monopoly_price": mono,
        }


TEMPERS = ["warm", "blunt", "shrewd", "shy", "cheerful", "proud", "scheming", "honest"]


def society(
    n: int, *, hamlet: int = 8, rounds: int = 2, sections: bool | list[str] = True, seed: int = 11
) -> dict[str, Any]:
    """A village of `n` stall keepers as a scenario mapping (validate it with `parse_scenario`).

    Villagers live in hamlets of `hamlet` neighbours: each hamlet talks on its own square (a channel of
    its members) and two of them gossip on a private pair channel; everyone prices at once. A hamlet is
    also a market (`market_size`), so what a villager hears, remembers and competes with is its
    neighbourhood, whatever the size of the village. With `sections`, emotion, memory and theory of mind
    are on for everyone (the built-in `village` scenario's settings); a list turns on only those named."""
    if n < 2:
        raise ValueError(f"a village needs at least 2 villagers (got {n})")
    hamlet = max(2, min(hamlet, n))
    width = len(str(n))
    names = [f"V{i:0{width}d}" for i in range(n)]
    agents = [
        {
            "name": name,
            "persona": f"{name} keeps the {GOODS[i % len(GOODS)]} stall. {name} is {TEMPERS[(i // 3) % len(TEMPERS)]}.",
            "goals": ["make a good living"],
        }
        for i, name in enumerate(names)
    ]
    channels: list[dict[str, Any]] = [{"name": "public", "members": "all"}]  # where everyone prices
    schedule: list[dict[str, Any]] = []
    for k, start in enumerate(range(0, n, hamlet)):
        members = names[start : start + hamlet]
        if len(members) < 2:  # a lone last villager joins the hamlet before it
            channels[-2]["members"].append(members[0])
            continue
        square = f"h{k}"  # the same layout at every size: a hamlet is a group channel of its members
        channels.append({"name": square, "members": members})
        channels.append({"name": f"g{k}", "members": members[:2]})
        schedule.append({"name": square, "kind": "talk", "mode": "sequential", "channel": square})
        schedule.append({"name": f"g{k}", "kind": "talk", "mode": "sequential", "channel": f"g{k}"})
    schedule.append({"name": "pricing", "kind": "act", "mode": "simultaneous", "action": "price"})
    spec: dict[str, Any] = {
        "name": f"village-{n}",
        "description": f"A village market of {n} stall keepers in hamlets of {hamlet}.",
        "preamble": "This is the transcript of market days in a village. Every round the stall keepers chat "
        "with their neighbours, some gossip in private, then each sets the price of its goods.",
        "seed": seed,
        "rounds": rounds,
        "agents": agents,
        "channels": channels,
        "schedule": schedule,
        "environment": {"kind": "village", "params": {"market_size": hamlet}},
        "agent": {"history_lines": 24},
    }
    if sections:
        every = {
            "emotion": {},
            "tom": {},
            "memory": {
                "top_n": 4,
                "rate": "messages",
                "reflect_every": 4,
                "share_ratings": True,
                "reflection": "one_call",
            },
        }
        names = list(every) if sections is True else list(sections)
        unknown = [x for x in names if x not in every]
        if unknown:
            raise ValueError(f"sections: unknown {unknown}; known: {', '.join(every)}")
        spec["sections"] = {x: every[x] for x in names}
    return spec
