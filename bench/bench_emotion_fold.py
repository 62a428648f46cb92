"""The folded self-label against the separate call, paired on the same prompts (embedded Gemma 3 270M).

Plays a scenario with `self_label: separate` and, for every talk call, sends a shadow of it with the
folded suffix grammar (same prompt, seed and temperature; its reply is only recorded, the run goes on
with the plain one). Each talk turn then has both labels for the same moment: the separate call's (a
few-shot prompt at temperature 0, after the message) and the folded one (chosen by the talk call's
grammar at the talk temperature). Prints, over the pairs: the share of folded replies with a valid
label, whether the message itself changed (the grammar forbids newlines and a quote inside a token),
message lengths and empty replies, agreement of each label with the VADER sign of its own text,
agreement between the two labels, the noise floor of message changes (the plain call sent again),
and the latency of talk + label call against the folded talk call
(the plain resend and the folded twin are sent back to back after the run's call, so both see the
same load and the same prefix cache). Calls per action come from `bench_emotion.py`'s arms.

    python bench/bench_emotion_fold.py [--scenario bertrand-emotion] [--rounds 10] [--seed 7] \
        [--set backbone.deterministic=true]   # prefix cache off: the same request gives the same text
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sociallm.agents.affect import VOCABULARY, appraise_text
from sociallm.agents.emotion import FEELING, LABEL_NEUTRAL, VADER_NEUTRAL, valence_class
from sociallm.agents.prompts import clean_reply
from sociallm.agents.talk_suffix import split_suffix
from sociallm.backbone.base import GenerationRequest, GenerationResult
from sociallm.orchestration.run import Run, default_backbone
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.scenario import load_scenario


class Shadow:
    """Passes every call through; after each plain talk call, sends its folded twin and keeps both."""

    def __init__(self, inner: Any, max_chars: int) -> None:
        self.inner = inner
        self.max_chars = max_chars
        self.pairs: list[dict[str, Any]] = []

    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        results = await self.inner.generate(requests)
        for req, res in zip(requests, results, strict=True):
            if req.purpose == "talk" and req.constraint is None:
                twin = req.model_copy(
                    update={
                        "constraint": FEELING.constraint(),
                        "stop": req.stop[2:],  # as the agent sends it: no quote or newline stop
                        "max_tokens": req.max_tokens + FEELING.tokens,
                        "purpose": "talk_folded_shadow",
                    }
                )
                (folded,) = await self.inner.generate([twin])
                # The noise floor: the same plain request again (a prefix-cache hit changes llama.cpp's
                # logits slightly, so even an identical request may sample another reply).
                (again,) = await self.inner.generate([req.model_copy(update={"purpose": "talk_shadow"})])
                others = [s[:-1] for s in req.stop[2:]]
                message, tail, label, why = split_suffix(folded.text, FEELING, folded.finish_reason)
                self.pairs.append(
                    {
                        "agent": req.agent,
                        "plain_raw": res.text,
                        "plain": clean_reply(
                            res.text, req.agent, others, self.max_chars, res.finish_reason == "length"
                        )[0],
                        "plain_s": res.latency_s,
                        "again_s": again.latency_s,
                        "again": clean_reply(
                            again.text, req.agent, others, self.max_chars, again.finish_reason == "length"
                        )[0],
                        "folded": clean_reply(
                            message, req.agent, others, self.max_chars, folded.finish_reason == "length"
                        )[0],
                        "folded_s": folded.latency_s,
                        "label": label,
                        "why": why,
                        "tail": tail,
                    }
                )
        return results

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    async def aclose(self) -> None:
        return None


def sign_agrees(label: str, text: str) -> bool:
    return valence_class(VOCABULARY[label][0], LABEL_NEUTRAL) == valence_class(
        appraise_text(text).compound, VADER_NEUTRAL
    )


def pct(a: int, n: int) -> str:
    return f"{a}/{n} ({100 * a / max(n, 1):.0f}%)"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="bertrand-emotion")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--set", nargs="*", default=[], help="more overrides, key=value (YAML values)")
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    extra = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    spec = load_scenario(args.scenario, {"rounds": args.rounds, "seed": args.seed, **extra})
    llm = await default_backbone(spec)
    shadow = Shadow(llm, spec.agent.max_reply_chars)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.keep or Path(tmp)
            await Run(spec, folder / "paired", llm=shadow).execute()
            events = read_events(folder / "paired" / "events.jsonl").events
    finally:
        await llm.aclose()
    by_id = {e.id: e for e in events}
    separate: dict[tuple[str, str], tuple[str | None, float]] = {}
    label_calls = iter(c for c in events if c.kind == "llm_call" and c.payload["purpose"] == "emotion_label")
    for e in events:
        if e.kind == "affect" and e.payload["cause"] == "self_label":
            msg = by_id[e.payload["event"]]
            separate[(e.source, msg.payload["raw"])] = (
                e.payload["details"]["label"],
                next(label_calls).payload["latency_s"],
            )
    pairs = [p | {"separate": separate.get((p["agent"], p["plain_raw"]))} for p in shadow.pairs]
    report(f"{args.scenario}, {args.rounds} rounds, seed {args.seed}", pairs)
    if args.keep:
        (args.keep / "pairs.json").write_text(json.dumps(pairs, indent=1))


def sign_class(label: str) -> str:
    return valence_class(VOCABULARY[label][0], LABEL_NEUTRAL)


def report(title: str, pairs: list[dict[str, Any]]) -> None:
    n = len(pairs)
    valid = [p for p in pairs if p["label"] is not None]
    spoken = [p for p in pairs if p["plain"] and p["separate"] is not None]
    missing = dict(Counter(p["why"] for p in pairs if p["why"]))
    print(f"{title}: {n} talk calls paired with their folded twin")
    print(f"  folded label valid: {pct(len(valid), n)}; missing because: {missing}")
    unchanged = sum(p["plain"] == p["folded"] for p in pairs)
    floor = sum(p["plain"] == p["again"] for p in pairs)
    print(f"  message unchanged by the grammar: {pct(unchanged, n)}; by resending it plain: {pct(floor, n)}")
    for side in ("plain", "folded"):
        texts = [p[side] for p in pairs]
        mean = statistics.mean(len(t) for t in texts) if texts else 0.0
        print(f"  {side} messages: mean {mean:.1f} chars, empty {sum(not t for t in texts)}")
    both = [p for p in spoken if p["label"] is not None and p["folded"] and p["separate"][0] is not None]
    sep = [p for p in spoken if p["separate"][0] is not None]
    agree_sep = sum(sign_agrees(p["separate"][0], p["plain"]) for p in sep)
    agree_fold = sum(sign_agrees(p["label"], p["folded"]) for p in both)
    print(f"  sign agrees with VADER: separate {pct(agree_sep, len(sep))}, folded {pct(agree_fold, len(both))}")
    same_word = sum(p["label"] == p["separate"][0] for p in both)
    same_class = sum(sign_class(p["label"]) == sign_class(p["separate"][0]) for p in both)
    print(f"  folded vs separate label: same word {pct(same_word, len(both))}, same class {pct(same_class, len(both))}")
    print(f"  labels: separate {dict(Counter(p['separate'][0] for p in sep).most_common())}")
    print(f"          folded   {dict(Counter(p['label'] for p in valid).most_common())}")
    if spoken:
        # The folded twin and the plain resend both find their whole prompt in the prefix cache (sent
        # right after the run's own call), so their latencies compare like with like.
        talk = statistics.median(p["again_s"] for p in spoken)
        label = statistics.median(p["separate"][1] for p in spoken)
        two = statistics.median(p["again_s"] + p["separate"][1] for p in spoken)
        one = statistics.median(p["folded_s"] for p in spoken)
        print(
            f"  latency per talk turn (median): talk + label call {two:.3f} s (talk {talk:.3f}, label {label:.3f}); "
            f"folded talk call {one:.3f} s"
        )


if __name__ == "__main__":
    asyncio.run(main())
