"""Broker restarts under live runs with two workers, heard by a third-party subscriber (the long form of issue 21).

Each run gets a Mosquitto of its own (persistence on, autosave every second: the shipped example
config), a plain `mosquitto_sub -q 1 -c -i <fixed id>` listening from before the run, and several
outages at random points: graceful stops (SIGTERM) and kill -9, each 1-5 s. After the run, every seq
in its log must have reached the subscriber, the run must have completed, and no turn may have been
a no-show (every outage is shorter than the turn timeout).

    python bench/bench_bus_restarts.py --model fake --runs 12 --outages 3        # in-process run and workers
    python bench/bench_bus_restarts.py --model embedded --runs 3 --outages 3     # `sociallm run --workers 2`

`fake` plays the run in this process with an instant fake model and in-process workers (fast, for
many restarts); `embedded` starts the real CLI with two worker processes on the embedded Gemma model.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.runtime.restarts import Report, plan, play_cli, stressed_run
from tests.runtime.test_mqtt_restarts import play_fake


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("fake", "embedded"), default="fake")
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--outages", type=int, default=3, help="outages per run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--kill-share", type=float, default=0.3, help="share of outages that are kill -9")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--keep", type=Path, help="keep each run's folder, broker log and subscriber output here")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    reports: list[Report] = []
    events_per_round = 16  # bertrand, 2 agents: what a round logs, give or take
    last = max(10, args.rounds * events_per_round - 10)
    with tempfile.TemporaryDirectory(prefix="bench-restarts-") as tmp:
        d = args.keep or tmp
        for i in range(args.runs):
            outages = plan(rng, args.outages, 5, last, kill_share=args.kill_share)
            run_id = f"restarts-{args.model}-{i}"
            if args.model == "fake":
                play = play_fake(run_id, args.rounds)
            else:

                async def play(url: str, run_dir: Path, seed: int = 17 + i) -> str:
                    return await play_cli(url, run_dir, rounds=args.rounds, seed=seed)

            report = await stressed_run(Path(d) / run_id, run_id, outages, play)
            reports.append(report)
            print(report.line(), flush=True)
    happened = [o for r in reports for o in r.outages]
    print()
    graceful, killed = sum(o.mode == "term" for o in happened), sum(o.mode == "kill" for o in happened)
    print(f"model {args.model}: {len(reports)} runs, {len(happened)} outages ({graceful} graceful, {killed} kill -9)")
    print("| runs completed | events logged | events missing at the third party | no-shows | repeats heard |")
    print("| -- | -- | -- | -- | -- |")
    done = sum(r.status == "completed" for r in reports)
    missing = sum(len(r.missing) for r in reports)
    print(
        f"| {done}/{len(reports)} | {sum(r.events for r in reports)} | {missing} | "
        f"{sum(r.no_shows for r in reports)} | {sum(r.heard_twice for r in reports)} |"
    )
    ok = done == len(reports) and missing == 0 and not sum(r.no_shows for r in reports)
    print("zero loss, no no-shows" if ok else "LOSS OR NO-SHOWS: see the lines above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
