"""Iterated prisoner's dilemma with talk (Axelrod 1984, The Evolution of Cooperation).

Two players talk, then each chooses `cooperate` or `defect` at once. Payoffs (row, column):
both cooperate R, R; both defect P, P; a defector against a cooperator gets T and the cooperator S,
with T > R > P > S and 2R > T + S (defaults 5, 3, 1, 0). Metrics: cooperation rate (share of
choices that cooperate), mutual cooperation rate, per-player payoff, and a collusion index like
Bertrand's, (mean payoff − P)/(R − P): 0 at the one-shot equilibrium, 1 at mutual cooperation.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo, field_validator

from sociallm.environments.base import ActionSpec, EnvironmentParams, Number, validate_params
from sociallm.environments.games import RoundGame, check_agents, param_error
from sociallm.environments.view import Axis, GameView, Metric, Panel, Plot, Series, Table
from sociallm.runtime.events import Event

MOVES = ["cooperate", "defect"]


class Params(EnvironmentParams):
    """Payoffs. Declared R, P, S, T: fields are checked in this order, so T's check sees the others."""

    R: Number = 3.0
    P: Number = 1.0
    S: Number = 0.0
    T: Number = 5.0

    @field_validator("T")
    @classmethod
    def _dilemma(cls, t: float, info: ValidationInfo) -> float:
        p = {"T": t, **info.data}
        if {"R", "P", "S"} <= p.keys():
            if not p["T"] > p["R"] > p["P"] > p["S"]:
                raise ValueError(f"payoffs must satisfy T > R > P > S (got {p})")
            if not 2 * p["R"] > p["T"] + p["S"]:
                raise ValueError(f"payoffs must satisfy 2R > T + S (got {p})")
        return t


def payoffs(a: str, b: str, p: dict[str, float]) -> tuple[float, float]:
    table = {
        ("cooperate", "cooperate"): (p["R"], p["R"]),
        ("cooperate", "defect"): (p["S"], p["T"]),
        ("defect", "cooperate"): (p["T"], p["S"]),
        ("defect", "defect"): (p["P"], p["P"]),
    }
    return table[(a, b)]


class PrisonersDilemma(RoundGame):
    name = "ipd"
    source = "game"
    view = GameView(
        sources=("game",),
        panel=Panel(
            title="cooperation",
            chart=Series(key="payoffs", label="payoff", per_agent=True),
            sparks=[
                Series(key="cooperation", lo=0.0, hi=1.0),
                Series(key="collusion_index", label="collusion index", lo=0.0, hi=1.0),
            ],
        ),
        plots=[
            Plot(
                file="cooperation.png",
                title="Cooperation",
                axes=[
                    Axis(
                        series=[
                            Series(key="cooperation", style="cumulative_rate"),
                            Series(key="mutual", style="cumulative_rate"),
                        ],
                        ylabel="rate",
                    )
                ],
            )
        ],
        tables=[Table(title="Moves", keys=["moves", "payoffs"])],
        metrics=[
            Metric(key="cooperation_rate", headline=True, lo=0.0, hi=1.0),
            Metric(key="mutual_cooperation_rate", headline=True, lo=0.0, hi=1.0),
            Metric(key="collusion_index", headline=True, lo=0.0, hi=1.0),
        ],
        curves=[Axis(series=[Series(key="cooperation")], ylabel="cooperation")],
    )
    actions = ("move",)

    Params = Params

    def check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        p = validate_params(Params, params, self.agents)
        return {"T": p.T, "R": p.R, "P": p.P, "S": p.S}

    def fresh_state(self) -> dict[str, Any]:
        check_agents(self.agents, 2, "players")
        if len(self.agents) != 2:
            raise param_error("agents", f"the prisoner's dilemma takes exactly 2 players (got {len(self.agents)})")
        return {"rounds": 0, "coop": 0, "mutual": 0, "payoff": dict.fromkeys(self.agents, 0.0), "last": {}}

    def opening(self) -> list[Event]:
        return [self.benchmarks(**self.p)]

    def rules(self, agent: str) -> str:
        other = next(a for a in self.agents if a != agent)
        p = self.p
        return (
            f"{agent} plays a repeated game with {other}. Every round both choose at the same time to cooperate "
            f"or defect. Both cooperate: each gets {p['R']:g} points. Both defect: each gets {p['P']:g}. One "
            f"defects while the other cooperates: the defector gets {p['T']:g} and the cooperator {p['S']:g}."
        )

    def action_spec(self, action: str, agent: str) -> ActionSpec:
        if action != "move":
            raise self.unknown_action(action)
        return self.choice_spec("move", MOVES, "cooperate or defect", "{agent}'s choice in round {tick}:")

    def resolve(self, action: str, tick: int, submitted: dict[str, Any]) -> list[Event]:
        t = self.s
        # A player whose reply could not be read repeats its last move (cooperates in round 1).
        moves = {a: str(submitted.get(a, t["last"].get(a, "cooperate"))) for a in self.agents}
        a, b = self.agents
        pa, pb = payoffs(moves[a], moves[b], self.p)
        gains = {a: pa, b: pb}
        t["rounds"] += 1
        t["coop"] += sum(m == "cooperate" for m in moves.values())
        t["mutual"] += int(all(m == "cooperate" for m in moves.values()))
        for k, x in gains.items():
            t["payoff"][k] += x
        t["last"] = moves
        text = f"Round {tick}: {a} chose to {moves[a]}, {b} chose to {moves[b]}; {a} gets {pa:g}, {b} gets {pb:g}."
        index = ((pa + pb) / 2 - self.p["P"]) / (self.p["R"] - self.p["P"])
        return [
            self.outcome(
                tick,
                text,
                moves=moves,
                payoffs=gains,
                cooperation=sum(m == "cooperate" for m in moves.values()) / 2,
                mutual=all(m == "cooperate" for m in moves.values()),
                collusion_index=index,
            )
        ]

    def metrics(self) -> dict[str, Any]:
        t = self.s
        r = t.get("rounds", 0)
        mean = sum(t.get("payoff", {}).values()) / (2 * r) if r else None
        return {
            "rounds": r,
            "cooperation_rate": t["coop"] / (2 * r) if r else None,
            "mutual_cooperation_rate": t["mutual"] / r if r else None,
            "collusion_index": (mean - self.p["P"]) / (self.p["R"] - self.p["P"]) if mean is not None else None,
            "total_payoff": dict(t.get("payoff", {})),
        }
