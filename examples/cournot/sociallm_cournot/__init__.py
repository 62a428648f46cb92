"""A Cournot quantity game: n firms each choose how much to produce; the market price clears the total.

Inverse demand P = max(0, a − b·Q) with Q the total quantity; firm i earns (P − c)·q_i. The one-shot
Cournot-Nash quantity is q^N = (a − c)/(b(n + 1)) per firm; firms that collude produce the monopoly total
(a − c)/(2b), split evenly: q^M = (a − c)/(2bn). The collusion index (π̄ − π^N)/(π^M − π^N) is 0 at the
Cournot-Nash outcome and 1 at the collusive one. Benchmarks go only into a system event, never to agents.
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from sociallm.environments.base import ActionSpec, EnvironmentParams, Number, at_least, validate_params
from sociallm.environments.games import RoundGame, check_agents, join, money, param_error
from sociallm.environments.view import Axis, GameView, Metric, Panel, Plot, Reference, Series
from sociallm.runtime.events import Event

SOURCE = "cournot_market"


class Params(EnvironmentParams):
    a: Number = 10.0  # demand intercept
    b: Number = 1.0  # demand slope
    c: Number = 1.0  # marginal cost
    q_max: Number | None = None  # default: the quantity that drives the price to zero alone

    @field_validator("b")
    @classmethod
    def _slope(cls, v: float) -> float:
        return at_least(v, 0.0, strict=True)

    @field_validator("c")
    @classmethod
    def _cost(cls, v: float) -> float:
        return at_least(v, 0.0)


def benchmarks(n: int, a: float, b: float, c: float) -> dict[str, float]:
    qn, qm = (a - c) / (b * (n + 1)), (a - c) / (2 * b * n)
    pn, pm = a - b * n * qn, a - b * n * qm
    return {
        "cournot_quantity": qn,
        "monopoly_quantity": qm,
        "cournot_price": pn,
        "monopoly_price": pm,
        "cournot_profit": (pn - c) * qn,
        "monopoly_profit": (pm - c) * qm,
    }


class CournotMarket(RoundGame):
    name = "cournot"
    source = SOURCE
    actions = ("quantity",)
    Params = Params
    view = GameView(
        sources=(SOURCE,),
        panel=Panel(
            title="quantities",
            chart=Series(key="quantities", label="quantity", per_agent=True),
            lines=[
                Reference(key="cournot_quantity", label="Cournot", mark="C"),
                Reference(key="monopoly_quantity", label="collusive", mark="M"),
            ],
            sparks=[
                Series(key="price", label="market price"),
                Series(key="index", label="collusion index", lo=0.0, hi=1.0, note="0 Cournot, 1 collusive"),
            ],
            last=[Series(key="profits", label="profit", per_agent=True)],
        ),
        plots=[
            Plot(
                file="cournot.png",
                title="Cournot quantities",
                axes=[
                    Axis(
                        series=[Series(key="quantities", label="quantity", per_agent=True)],
                        lines=[
                            Reference(key="cournot_quantity", label="Cournot-Nash"),
                            Reference(key="monopoly_quantity", label="collusive"),
                        ],
                        ylabel="quantity",
                    ),
                    Axis(
                        series=[Series(key="price", label="market price")],
                        lines=[
                            Reference(key="cournot_price", label="Cournot-Nash price"),
                            Reference(key="monopoly_price", label="collusive price"),
                        ],
                        ylabel="price",
                    ),
                ],
            )
        ],
        metrics=[
            Metric(key="mean_index", label="collusion index", headline=True, lo=0.0, hi=1.0),
            Metric(
                key="mean_quantity",
                headline=True,
                comparable=False,
                normalise=("cournot_quantity", "monopoly_quantity"),
            ),
        ],
        curves=[
            Axis(series=[Series(key="index", label="collusion index")], ylabel="index"),
            Axis(
                series=[Series(key="quantities", label="quantity", per_agent=True)],
                lines=[
                    Reference(key="cournot_quantity", label="Cournot"),
                    Reference(key="monopoly_quantity", label="collusive"),
                ],
                ylabel="quantity",
            ),
        ],
    )

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        check_agents(self.agents, 1, "firms")
        p = validate_params(Params, params, self.agents).model_dump()
        if p["a"] <= p["c"]:
            raise param_error("a", f"must exceed the cost c = {p['c']:g} (got {p['a']:g})")
        p["q_max"] = p["q_max"] if p["q_max"] is not None else round(p["a"] / p["b"], 2)
        p["bench"] = benchmarks(len(self.agents), p["a"], p["b"], p["c"])
        return p

    def fresh_state(self) -> dict[str, Any]:
        return {"rounds": 0, "index_sum": 0.0, "quantity_sum": 0.0, "profit": dict.fromkeys(self.agents, 0.0)}

    def opening(self) -> list[Event]:
        return [self.benchmarks(**self.p["bench"], q_max=self.p["q_max"])]

    def rules(self, agent: str) -> str:
        p = self.p
        rivals = [f for f in self.agents if f != agent]
        return (
            f"{agent} competes with {join(rivals) or 'nobody'} in a market for one product. Every round each "
            f"firm decides how many units to produce. The more all firms produce together, the lower the price: "
            f"price = {p['a']:g} − {p['b']:g} × total units (never below 0). Each unit costs {money(p['c'])}, "
            f"so a firm earns (price − cost) × its units."
        )

    def action_spec(self, action: str, agent: str) -> ActionSpec:
        if action != "quantity":
            raise self.unknown_action(action)
        return ActionSpec(
            name="quantity",
            min=0.0,
            max=self.p["q_max"],
            decimals=2,
            description="how many units to produce this round",
            cue="{agent} produces this many units in round {tick}:",
        )

    def resolve(self, action: str, tick: int, submitted: dict[str, Any]) -> list[Event]:
        p, t = self.p, self.s
        bench = p["bench"]
        q = {}
        for f in self.agents:
            try:
                q[f] = min(max(float(submitted[f]), 0.0), p["q_max"])
            except (KeyError, TypeError, ValueError):
                q[f] = bench["cournot_quantity"]  # a silent firm produces the neutral Cournot quantity
        price = max(0.0, p["a"] - p["b"] * sum(q.values()))
        profits = {f: (price - p["c"]) * x for f, x in q.items()}
        mean = sum(profits.values()) / len(profits)
        gap = bench["monopoly_profit"] - bench["cournot_profit"]
        index = (mean - bench["cournot_profit"]) / gap if gap > 1e-12 else 0.0
        t["rounds"] += 1
        t["index_sum"] += index
        t["quantity_sum"] += sum(q.values()) / len(q)
        for f, x in profits.items():
            t["profit"][f] += x
        text = f"Round {tick}: price {money(price)}; " + "; ".join(
            f"{f} made {q[f]:.2f} units, profit {money(profits[f])}" for f in self.agents
        )
        return [self.outcome(tick, text, quantities=q, price=price, profits=profits, index=index)]

    def metrics(self) -> dict[str, Any]:
        t, bench = self.s, self.p.get("bench", {})
        r = t.get("rounds", 0)
        return {
            "rounds": r,
            "mean_index": t["index_sum"] / r if r else None,
            "mean_quantity": t["quantity_sum"] / r if r else None,
            "cournot_quantity": bench.get("cournot_quantity"),
            "monopoly_quantity": bench.get("monopoly_quantity"),
            "total_profit": dict(t.get("profit", {})),
        }
