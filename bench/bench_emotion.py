"""What the emotion loop does and costs on the embedded model (Gemma 3 270M, llama.cpp on CPU).

Plays the same Bertrand game three ways on one shared embedded server: without emotion (`bertrand`),
with the closed loop (`bertrand-emotion`), and with the loop off (labels recorded, not fed back).
Prints, per arm: how far valence and arousal travel (min/max/std per agent), how often the model's
self-label agrees with the VADER appraisal of the same text (same valence sign; same circumplex
quadrant), the label distribution, extra model calls per turn, and wall time per turn.

With `--arms loop,folded` it compares the two self-label modes: the separate constrained call after each
message against the label folded into the talk call as a grammar-constrained suffix (calls per action,
share of talk turns whose folded label was valid, sign agreement with the lexicon per mode, message
length and silent replies, talk-call latency, wall time).

    python bench/bench_emotion.py [--rounds 20] [--seed 7] [--arms plain,loop,loop-off,folded] [--keep DIR]
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

FOLDED = {"sections.emotion.self_label": "folded"}
ARMS: dict[str, tuple[str, dict[str, Any]]] = {
    "plain": ("bertrand", {}),
    "loop": ("bertrand-emotion", {}),
    "loop-off": ("bertrand-emotion", {"sections.emotion.loop": False}),
    # The self-label as a grammar-constrained suffix of the talk call instead of a second call.
    "folded": ("bertrand-emotion", FOLDED),
    # The society scenario (emotion, memory and theory of mind on), both label modes.
    "village": ("village", {}),
    "village-folded": ("village", FOLDED),
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
    said = [e for e in events if e.kind == "message" and "phase" in e.payload]
    actions = len(said) + sum(1 for e in events if e.kind == "action")
    modes = Counter(e.payload["details"].get("mode", "separate") for e in labels)
    agree_by_mode: dict[str, list[bool]] = {}
    for e in labels:
        if "agrees_sign" in e.payload["details"]:
            agree_by_mode.setdefault(e.payload["details"].get("mode", "separate"), []).append(
                e.payload["details"]["agrees_sign"]
            )
    # A label that only repeats the state word the prompt showed ("Alice feels calm") reads nothing.
    echoes = Counter(
        e.payload["details"].get("mode", "separate")
        for e in labels
        if e.payload["details"].get("label") == e.payload["before"]["word"]
    )
    spoken = [e.payload["text"] for e in said if not e.payload.get("silent")]
    return {
        "arm": arm,
        "wall_s": wall,
        "turns": turns,
        "actions": actions,
        "calls": len(calls),
        "modes": modes,
        "echoes": echoes,
        "agree_by_mode": {m: (sum(v), len(v)) for m, v in agree_by_mode.items()},
        "message_chars": statistics.mean(len(t) for t in spoken) if spoken else 0.0,
        "silent": sum(1 for e in said if e.payload.get("silent")),
        "messages": len(said),
        "talk_latency": statistics.mean(
            [c.payload["latency_s"] for c in calls if c.payload["purpose"] == "talk"] or [0.0]
        ),
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
        f"talk tokens {r['talk_tokens']:.1f}; mean price {r['metrics'].get('mean_price', float('nan')):.3f}"
    )
    for agent, s in r["summary"].items():
        v, a = s["valence"], s["arousal"]
        print(
            f"  {agent}: {s['changes']} changes; valence min {v['min']:+.3f} max {v['max']:+.3f} sd {v['std']:.3f} "
            f"last {v['last']:+.3f}; arousal min {a['min']:.3f} max {a['max']:.3f} sd {a['std']:.3f} "
            f"last {a['last']:.3f}"
        )
    print(
        f"  {r['calls']} model calls over {r['actions']} actions = "
        f"{r['calls'] / max(r['actions'], 1):.2f} calls/action; "
        f"talk call latency {r['talk_latency']:.3f} s; messages {r['messages']}, silent {r['silent']}, "
        f"mean length {r['message_chars']:.1f} chars"
    )
    if r["modes"]:
        labelled = sum(r["modes"].values())
        by_mode = ", ".join(
            f"{m} {n} ({100 * n / labelled:.0f}%; sign agrees {a}/{k}; repeats the shown state {r['echoes'][m]})"
            for m, n in r["modes"].most_common()
            for a, k in [r["agree_by_mode"].get(m, (0, 0))]
        )
        print(f"  self-labels by mode: {by_mode}")
    if r["modes"]:
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
    scenarios = ", ".join(dict.fromkeys(ARMS[a][0] for a in args.arms.split(",")))
    print(f"{scenarios}, {args.rounds} rounds, seed {args.seed}, embedded Gemma 3 270M")
    plain = next((r for r in results if r["arm"] == "plain"), None)
    base = plain["wall_s"] / plain["turns"] if plain else None
    for r in results:
        show(r, base if r["arm"] != "plain" else None)


if __name__ == "__main__":
    asyncio.run(main())
