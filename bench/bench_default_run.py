"""Does the embedded 270M model's pricing move with the condition? (README: "What the small model can show")

A language-model firm (Bob, Gemma 3 270M on the embedded llama.cpp server) prices against an
algorithmic rival (Alice) for R rounds, no talk. Conditions: Alice's kind (fixed at the monopoly
price, fixed at the Nash price, a Q-learner pretrained by self-play as in Calvano et al.) × Bob's
action (free price, or a 5-price menu over Calvano's range). Figures per condition, over seeds:
Bob's mean price [95% CI over seeds], his share of prices at cost, the market's Δ, and how often
Bob's price is Alice's previous one (within 3 cents) or his own previous one.

    python bench/bench_default_run.py [--seeds 4] [--rounds 16] [--jobs 3] [--out /tmp/bench-default]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import time
from pathlib import Path

from sociallm import Experiment
from sociallm.runtime.eventlog import read_events

RIVALS = {
    "monopoly": {"agents.0.kind": "fixed", "agents.0.options": {"price": "monopoly"}},
    "nash": {"agents.0.kind": "fixed", "agents.0.options": {"price": "nash"}},
    "qlearner": {},  # the scenario's own Alice: q_learning, pretrained
}
# The scenario's market has a 5-price menu; "free" replaces its parameters with the plain market.
ACTIONS = {"free": {"environment.params": {"a": 2.0, "a0": 0.0, "c": 1.0, "mu": 0.25}}, "menu": {}}


def ci(xs: list[float]) -> str:
    if len(xs) < 2:
        return f"{xs[0]:.3f}" if xs else "n/a"
    m, sd = statistics.mean(xs), statistics.stdev(xs)
    h = 1.96 * sd / math.sqrt(len(xs))
    return f"{m:.3f} [{m - h:.3f}, {m + h:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-default"))
    ap.add_argument(
        "--conditions",
        default="monopoly-free,nash-free,qlearner-free,monopoly-menu,nash-menu,qlearner-menu",
        help="RIVAL-ACTION pairs; rivals: monopoly, nash, qlearner; actions: free, menu",
    )
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    exp = Experiment("bertrand-qlearner", seeds=args.seeds, rounds=args.rounds)
    for name in args.conditions.split(","):
        rival, action = name.split("-")
        exp.condition(name, **RIVALS[rival], **ACTIONS[action])
    started = time.perf_counter()
    result = exp.run(args.out, jobs=args.jobs)
    wall = time.perf_counter() - started
    by: dict[str, list] = {}
    for entry in result.runs:
        events = read_events(entry.run_dir / "events.jsonl").events
        outs = [e.payload["prices"] for e in events if e.kind == "outcome"]
        deltas = [e.payload["delta"] for e in events if e.kind == "outcome"]
        by.setdefault(entry.condition.name, []).append((outs, deltas))
    print(f"{args.seeds} seeds × {args.rounds} rounds per condition; wall {wall:.0f} s for {len(result.runs)} runs\n")
    print(
        "| condition (Alice, Bob's action) | Bob's mean price [95% CI] | Bob at cost | mean Δ [95% CI] "
        "| Bob = Alice's last | Bob = his own last |"
    )
    print("| -- | --: | --: | --: | --: | --: |")
    for name, runs in by.items():
        bob = [[o["Bob"] for o in outs] for outs, _ in runs]
        means = [statistics.mean(b) for b in bob]
        at_cost = sum(p <= 1.01 for b in bob for p in b) / sum(len(b) for b in bob)
        deltas = [statistics.mean(d) for _, d in runs]
        steps = [(outs[k - 1], outs[k]) for outs, _ in runs for k in range(1, len(outs))]
        copies = sum(abs(now["Bob"] - before["Alice"]) < 0.03 for before, now in steps) / len(steps)
        repeats = sum(abs(now["Bob"] - before["Bob"]) < 0.005 for before, now in steps) / len(steps)
        print(f"| {name} | {ci(means)} | {at_cost:.0%} | {ci(deltas)} | {copies:.0%} | {repeats:.0%} |")


if __name__ == "__main__":
    main()
