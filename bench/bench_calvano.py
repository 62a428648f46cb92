"""Full-size reproduction of Calvano et al. (2020): the baseline over 1,000 sessions as in the paper, and
two robustness variations (three firms; β at the top of their grid). Prints our figures next to the
paper's, as `sociallm reproduce calvano` does, and the wall time of each (2 shared cores here).

    python bench/bench_calvano.py [--variants baseline,n3,fast] [--sessions N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sociallm.agents.strategies.calvano import VARIANTS, reproduce, table_lines, within_paper


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="baseline,n3,fast")
    ap.add_argument("--sessions", type=int, default=None, help="override every variant's number of sessions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results = []
    for name in args.variants.split(","):
        v = VARIANTS[name]
        started = time.perf_counter()
        res = reproduce(v, sessions=args.sessions, seed=args.seed)
        res["wall_s"] = time.perf_counter() - started
        results.append(res)
        print(f"## {name}: {v.note} ({res['sessions']} sessions, {res['wall_s']:.0f} s wall)\n")
        print("\n".join(table_lines(res, v)))
        verdict = "within" if within_paper(res, v) else "OUTSIDE"
        print(f"\nΔ {res['delta_mean']:.3f}: {verdict} the paper's figure (±0.05 or its range)\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
