"""Theory-of-mind state bank: one batched step over many (observer, target) pairs on CPU.

A society of N agents where everyone hears everyone: one round in which every agent speaks once
steps N×N pairs (each observer's state of each speaker, and each speaker's self state). Goal: one
step over 10,000 pairs in < 10 ms.

    python bench/bench_tom.py [--agents 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from sociallm.agents.tom_bank import StateBank, ToMModel
from sociallm.agents.tom_train import DEFAULT_CONFIG
from sociallm.backbone.ssm import SSMConfig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--wide", action="store_true", help="d_inner 64, d_state 16 instead of the default model's size")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # The shipped default model's size (sociallm/agents/tom_default.pt), unless --wide asks for the old one.
    config = SSMConfig() if args.wide else DEFAULT_CONFIG
    bank = StateBank(ToMModel(config), capacity=args.agents**2)
    names = [f"a{i}" for i in range(args.agents)]
    messages = [(n, names) for n in names]  # everyone speaks once, everyone hears it
    emb = torch.nn.functional.normalize(torch.randn(len(names), config.d_model), dim=-1)
    bank.step(messages, emb)  # creates the pairs
    times = []
    for _ in range(args.reps):
        t = time.perf_counter()
        bank.step(messages, emb)
        times.append(time.perf_counter() - t)
    pairs = bank.pairs
    per_pair = config.d_inner * config.d_state * 4
    print(
        f"{pairs} pairs ({args.agents} agents, d_model {config.d_model}, d_inner {config.d_inner}, "
        f"d_state {config.d_state}), {args.threads} threads"
    )
    print(
        f"one batched step incl. surprise: median {1000 * statistics.median(times):.1f} ms, "
        f"best {1000 * min(times):.1f} ms (goal < 10 ms)"
    )
    print(f"state: {per_pair} bytes per pair, {pairs * per_pair / 2**20:.1f} MiB in all")


if __name__ == "__main__":
    main()
