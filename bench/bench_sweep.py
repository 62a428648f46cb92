"""The collusion figure: Bertrand with no communication vs public chat, on the embedded model.

Runs (or finishes, or just reads) a sweep of `bertrand` with `comm=none,public` over N seeds and prints,
per condition: mean Δ with a 95% t interval over seeds, mean price against the Nash and monopoly prices,
the share of rounds priced at cost or below, and wall time per run. The sweep folder keeps everything
(`sociallm report DIR` draws it).

    python bench/bench_sweep.py [--out DIR] [--seeds 5] [--rounds 12] [--jobs 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sociallm import Experiment
from sociallm.orchestration.sweep import read_results
from sociallm.reports.stats import mean_ci


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("sweeps/bench-bertrand-comm"))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args()

    exp = Experiment("bertrand", seeds=args.seeds, rounds=args.rounds)
    exp.grid(comm=["none", "public"])
    t0 = time.perf_counter()
    asyncio.run(exp.arun(args.out, jobs=args.jobs))  # finishes a half-done sweep, skips completed runs
    wall = time.perf_counter() - t0
    rows = read_results(args.out)
    by: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    at_cost: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r["round"] is None and not r["agent"]:
            by[r["condition"]][r["metric"]].append(r["value"])
        if r["metric"] == "prices" and r["round"] is not None:
            at_cost[r["condition"]].append(float(r["value"] <= 1.0 + 1e-9))
    walls: dict[str, list[float]] = defaultdict(list)
    for manifest in args.out.glob("runs/*/*/manifest.json"):
        m = json.loads(manifest.read_text())
        walls[manifest.parent.parent.name].append(m.get("wall_s") or 0.0)
    print(f"sweep {args.out}: {args.seeds} seeds × {args.rounds} rounds per condition; this call {wall:.0f} s")
    print("| condition | runs | mean Δ [95% CI] | mean price | Nash / monopoly | at cost | s / run |")
    print("| -- | --: | --: | --: | --: | --: | --: |")
    for cond, metrics in by.items():
        d, lo, hi = mean_ci(metrics["mean_delta"])
        price, _, _ = mean_ci(metrics["mean_price"])
        nash, mono = metrics["nash_price"][0], metrics["monopoly_price"][0]
        cost = sum(at_cost[cond]) / len(at_cost[cond]) if at_cost[cond] else float("nan")
        w = walls.get(cond.replace("=", "-"), [])
        per_run = sum(w) / len(w) if w else float("nan")
        print(
            f"| {cond} | {len(metrics['mean_delta'])} | {d:+.3f} [{lo:+.3f}, {hi:+.3f}] | {price:.3f} | "
            f"{nash:.3f} / {mono:.3f} | {cost:.0%} | {per_run:.0f} |"
        )


if __name__ == "__main__":
    main()
