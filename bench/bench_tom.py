"""Theory-of-mind figures: one batched step over many (observer, target) pairs, training throughput,
and on CUDA the mamba-ssm kernel against the pure-torch scan.

A society of N agents where everyone hears everyone: one round in which every agent speaks once
steps N×N pairs (each observer's state of each speaker, and each speaker's self state). Goal: one
step over 10,000 pairs in < 10 ms on CPU.

    python bench/bench_tom.py [--agents 100] [--threads 2] [--train-runs 40]
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
from sociallm.backbone.ssm import SelectiveSSM, SSMConfig


def bench_step(config: SSMConfig, agents: int, reps: int, rotate: bool = False) -> None:
    torch.manual_seed(0)
    bank = StateBank(ToMModel(config), capacity=agents**2)
    names = [f"a{i}" for i in range(agents)]
    messages = [(n, names) for n in names]  # everyone speaks once, everyone hears it
    emb = torch.nn.functional.normalize(torch.randn(len(names), config.d_model), dim=-1)
    bank.step(messages, emb)  # creates the pairs
    times = []
    for rep in range(reps):
        if rotate:  # a new speaking order each round: rows are gathered and scattered, not sliced
            k = (rep + 1) % agents
            messages, emb = messages[k:] + messages[:k], torch.cat([emb[k:], emb[:k]])
        t = time.perf_counter()
        bank.step(messages, emb)
        times.append(time.perf_counter() - t)
    per_pair = config.d_inner * config.d_state * 4
    order = "speaking order rotating" if rotate else "same speaking order"
    print(f"{bank.pairs} pairs ({agents} agents, d_inner {config.d_inner}, d_state {config.d_state}, {order})")
    print(
        f"  one batched step incl. surprise: median {1000 * statistics.median(times):.1f} ms, "
        f"best {1000 * min(times):.1f} ms (goal < 10 ms)"
    )
    print(f"  state: {per_pair} bytes per pair, {bank.pairs * per_pair / 2**20:.1f} MiB in all")


def bench_training(runs: int) -> None:
    from sociallm.agents.tom_data import Embedder, synthetic_runs
    from sociallm.agents.tom_train import train

    data = synthetic_runs(range(1000, 1000 + runs), procedural=True)
    embed = Embedder()
    embed([m.text for r in data for m in r.messages])  # encoder time is not training time
    torch.manual_seed(0)
    stats = train(ToMModel(DEFAULT_CONFIG), data, embed, epochs=2)
    print(f"training: {stats.throughput:,.0f} messages/s ({stats.messages} messages, {stats.seconds:.1f} s)")


def bench_cuda_scan() -> None:
    from sociallm.backbone.ssm import _mamba_kernel

    if not torch.cuda.is_available():
        print("mamba-ssm kernel vs torch scan: skipped (no CUDA device)")
        return
    if _mamba_kernel() is None:
        print("mamba-ssm kernel vs torch scan: skipped (mamba-ssm not installed: pip install 'sociallm[gpu]')")
        return
    torch.manual_seed(0)
    ssm = SelectiveSSM(SSMConfig()).cuda()
    x = torch.randn(256, 64, 384, device="cuda")
    for use_kernel in (False, True):
        with torch.no_grad():
            ssm.scan(x, use_kernel=use_kernel)
            torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(20):
                ssm.scan(x, use_kernel=use_kernel)
            torch.cuda.synchronize()
        name = "mamba-ssm kernel" if use_kernel else "torch scan"
        print(f"{name}: {1000 * (time.perf_counter() - t) / 20:.2f} ms per 256×64 batch")
    with torch.no_grad():
        diff = (ssm.scan(x, use_kernel=True)[0] - ssm.scan(x, use_kernel=False)[0]).abs().max()
    print(f"  largest difference between the two: {float(diff):.2e}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--train-runs", type=int, default=40, help="procedural runs for the throughput figure (0: skip)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads")
    bench_step(DEFAULT_CONFIG, args.agents, args.reps)  # the shipped default model's size
    bench_step(DEFAULT_CONFIG, args.agents, args.reps, rotate=True)
    bench_step(SSMConfig(), args.agents, max(3, args.reps // 4))  # 4 KiB per pair, for comparison
    if args.train_runs:
        bench_training(args.train_runs)
    bench_cuda_scan()


if __name__ == "__main__":
    main()
