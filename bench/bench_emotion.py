"""What the emotion loop does and costs on the embedded model (Gemma 3 270M, llama.cpp on CPU).

Plays the same Bertrand game three ways on one shared embedded server: without emotion (`bertrand`),
with the closed loop (`bertrand-emotion`), and with the loop off (labels recorded, not fed back).
Prints, per arm: how far valence and arousal travel (min/max/std per agent), how often the model's
self-label agrees with the VADER appraisal of the same text (same valence sign; same circumplex
quadrant), the label distribution, extra model calls per turn, and wall time per turn.

    python bench/bench_emotion.py [--rounds 20] [--seed 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sociallm.orchestration.run import Run, default_backbone
from sociallm.reports.report import affect_series, summarize
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.scenario import load_scenario

ARMS: dict[str, tuple[str, dict[str, Any]]] = {
    "plain": ("bertrand", {}),
    "loop": ("bertrand-emotion", {}),
    "loop-off": ("bertrand-emotion", {"sections.emotion.loop": False}),
}


async def play(arm: str, rounds: int, seed: int, llm: Any, folder: Path) -> dict[str, Any]:
    scenario, overrides = ARMS[arm]
    spec = load_scenario(scenario, {"rounds": rounds, "seed": seed, **overrides})
    run = Run(spec, folder / arm, llm=llm)
    t0 = time.perf_counter()
    await run.execute()
    wall = time.perf_counter() - t0
    events = read_events(folder / arm / "events.jsonl").events
    calls = [e for e in events if e.kind == "llm_call"]
    purposes = Counter(c.payload["purpose"] for c in calls)
    turns = purposes["talk"] + purposes["price"]
    labels = [e for e in events if e.kind == "affect" and e.payload["cause"] == "self_label"]
    signed = [e.payload["details"].get("agrees_sign") for e in labels if "agrees_sign" in e.payload["details"]]
    quads = [q for e in labels if (q := e.payload["details"].get("agrees_quadrant")) is not None]
    talk_tokens = [c.payload["completion_tokens"] for c in calls if c.payload["purpose"] == "talk"]
    return {
        "arm": arm,
        "wall_s": wall,
        "turns": turns,
        "talk_turns": purposes["talk"],
        "extra_calls": purposes["emotion_label"],
        "summary": summarize(affect_series(events)),
        "causes": Counter(e.payload["cause"] for e in events if e.kind == "affect"),
        "labels": Counter(e.payload["details"].get("label") for e in labels),
        "agree_sign": (sum(signed), len(signed)),
        "agree_quadrant": (sum(quads), len(quads)),
        "talk_tokens": statistics.mean(talk_tokens) if talk_tokens else 0.0,
        "label_latency": statistics.mean(
            [c.payload["latency_s"] for c in calls if c.payload["purpose"] == "emotion_label"] or [0.0]
        ),
        "metrics": run.env.metrics(),
    }


def show(r: dict[str, Any], plain_wall_per_turn: float | None) -> None:
    per_turn = r["wall_s"] / r["turns"]
    added = f", +{per_turn - plain_wall_per_turn:.3f} s/turn vs plain" if plain_wall_per_turn is not None else ""
    print(
        f"\n[{r['arm']}] {r['turns']} turns ({r['talk_turns']} talk), wall {r['wall_s']:.1f} s = {per_turn:.3f} s/turn"
        f"{added}; extra calls {r['extra_calls']} = {r['extra_calls'] / r['turns']:.2f}/turn "
        f"({r['extra_calls'] / max(r['talk_turns'], 1):.2f}/talk turn), label latency {r['label_latency']:.3f} s; "
        f"talk tokens {r['talk_tokens']:.1f}; mean price {r['metrics']['mean_price']:.3f}"
    )
    for agent, s in r["summary"].items():
        v, a = s["valence"], s["arousal"]
        print(
            f"  {agent}: {s['changes']} changes; valence min {v['min']:+.3f} max {v['max']:+.3f} sd {v['std']:.3f} "
            f"last {v['last']:+.3f}; arousal min {a['min']:.3f} max {a['max']:.3f} sd {a['std']:.3f} "
            f"last {a['last']:.3f}"
        )
    if r["extra_calls"]:
        (sa, sn), (qa, qn) = r["agree_sign"], r["agree_quadrant"]
        print(
            f"  self-label vs lexicon: same valence class (+, neutral, -) {sa}/{sn} ({100 * sa / max(sn, 1):.0f}%), "
            f"same quadrant {qa}/{qn} ({100 * qa / max(qn, 1):.0f}%, texts the lexicon does not call neutral)"
        )
        print(f"  labels: {dict(r['labels'].most_common())}; affect events by cause: {dict(r['causes'])}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--arms", default="plain,loop,loop-off")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run folders here")
    args = ap.parse_args()
    llm = await default_backbone(load_scenario("bertrand"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.keep or Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            await play("plain", 1, args.seed + 1, llm, folder / "warmup")  # load weights, warm caches
            results = [await play(arm, args.rounds, args.seed, llm, folder) for arm in args.arms.split(",")]
    finally:
        await llm.aclose()
    print(f"bertrand, {args.rounds} rounds, seed {args.seed}, embedded Gemma 3 270M")
    plain = next((r for r in results if r["arm"] == "plain"), None)
    base = plain["wall_s"] / plain["turns"] if plain else None
    for r in results:
        show(r, base if r["arm"] != "plain" else None)


if __name__ == "__main__":
    asyncio.run(main())
