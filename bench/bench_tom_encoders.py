"""Theory of mind on two encoders: MiniLM sentence vectors vs the backbone's own embeddings.

For each encoder, the same ToM model is trained on N scripted deception runs told with procedural
stories and evaluated on M held-out runs told with the scenario's village stories (as the shipped
default is, at a smaller scale: the embedded Gemma embeds ~2–5 texts/s on 2 CPU cores).

    python bench/bench_tom_encoders.py [--train 40] [--eval 30] [--url URL]   # --url: any /v1/embeddings server

Vectors are kept in .cache/tom-encoder-vectors/ so a second run only trains and evaluates.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from sociallm.agents.tom_bank import ToMModel
from sociallm.agents.tom_data import Embedder, synthetic_runs
from sociallm.agents.tom_eval import evaluate
from sociallm.agents.tom_train import DEFAULT_CONFIG, DEFAULT_SEED, train
from sociallm.backbone.encoders import make_encoder
from sociallm.backbone.ssm import SSMConfig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=40)
    ap.add_argument("--eval", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=90, help="40 runs need ~90 epochs (as many steps as 120 runs × 30)")
    ap.add_argument("--cache", type=Path, default=Path(".cache/tom-encoder-vectors"), help="vectors kept between runs")
    ap.add_argument("--url", default=None, help="/v1/embeddings server for 'backbone' (default: embedded Gemma)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    train_runs = synthetic_runs(range(1000, 1000 + args.train), procedural=True)
    eval_runs = synthetic_runs(range(args.eval))
    texts = sorted({m.text for r in train_runs + eval_runs for m in r.messages})
    print(f"{args.train} training runs (procedural stories), {args.eval} held-out runs (village stories)")
    print(f"{len(texts)} distinct texts to embed per encoder")
    rows = []
    for name in ("minilm", "backbone"):
        encoder = make_encoder(name, **({"url": args.url} if name == "backbone" and args.url else {}))
        embed = Embedder(encoder)
        kept = args.cache / f"{name}.npz"
        if kept.exists():  # texts embedded by an earlier run of this bench (the embedded Gemma is slow)
            with np.load(kept) as z:
                embed.cache.update(zip(z["texts"].tolist(), z["vecs"], strict=True))
        todo = [t for t in texts if t not in embed.cache]
        t = time.perf_counter()
        for i in range(0, len(todo), 100):
            embed(todo[i : i + 100])
            print(f"  {name}: {min(i + 100, len(todo))}/{len(todo)} new texts", end="\r", flush=True)
        seconds = time.perf_counter() - t
        rate = len(todo) / seconds if todo else float("nan")
        args.cache.mkdir(parents=True, exist_ok=True)
        known = list(embed.cache)
        np.savez(kept, texts=np.array(known), vecs=np.stack([embed.cache[k] for k in known]))
        dim = int(embed(texts[:1]).shape[1])
        torch.manual_seed(DEFAULT_SEED)
        model = ToMModel(SSMConfig(**{**asdict(DEFAULT_CONFIG), "d_model": dim}))
        train(model, train_runs, embed, epochs=args.epochs, seed=DEFAULT_SEED)
        result = evaluate(model, eval_runs, embed)
        close = getattr(encoder, "close", None)
        if close:
            close()
        around = result["around_change"]["surprise"]
        peak = around.get(0, float("nan")) - max(around.get(-1, 0.0), around.get(1, 0.0))
        rows.append((name, dim, rate, result, peak))
    print()
    print(
        f"{'encoder':<9} {'dim':>4} {'texts/s':>8} {'AUC SSM':>8} {'raw':>6} {'last':>6} {'pooled':>7} "
        f"{'intent':>7} {'surprise peak':>14}"
    )
    for name, dim, rate, r, peak in rows:
        print(
            f"{name:<9} {dim:>4} {rate:>8.1f} {r['auc_ssm']:>8.3f} {r['auc_raw_state']:>6.3f} "
            f"{r['auc_last_message']:>6.3f} {r['auc_mean_pooled']:>7.3f} {r['probe_intent'][1]:>7.3f} {peak:>+14.3f}"
        )
    print("(AUC: deceptive vs control speakers by duplicity; last/pooled: the embedding baselines on that encoder;")
    print(" intent: hidden-intent probe AUC; surprise peak: surprise at the change round minus the larger neighbour)")


if __name__ == "__main__":
    main()
