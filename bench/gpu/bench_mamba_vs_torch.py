"""mamba-ssm's CUDA kernels against our pure-torch S6 (backbone/ssm.py), on one GPU, same parameters.

Checks first, then times:
- scan: `SelectiveSSM.scan` with the fused `selective_scan_fn` vs the torch associative scan: outputs
  and last states agree;
- step: one message into many (observer, target) states, mamba's `selective_state_update` vs our
  `SelectiveSSM.update` + read-out: new states and outputs agree;
- speed of both at 10k and 1M pairs (step), and 10k / 1M sequences (scan, short sequences).

    python bench/gpu/bench_mamba_vs_torch.py [--pairs 10000 1000000] [--length 16] [--reps 20]

Needs CUDA and `pip install mamba-ssm` (a source build against the machine's CUDA toolkit); without a
GPU it prints why and exits 0; without mamba-ssm it times the torch path alone. About 1-3 minutes on
one recent GPU (budget: under 8).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

from sociallm.agents.tom_train import DEFAULT_CONFIG
from sociallm.backbone.ssm import SelectiveSSM, SSMConfig


def kernels():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
        from mamba_ssm.ops.triton.selective_state_update import selective_state_update
    except Exception as exc:  # ImportError, or the CUDA extension failing to load
        print(f"mamba-ssm not usable here ({exc.__class__.__name__}: {exc}); timing the torch path alone")
        return None, None
    return selective_scan_fn, selective_state_update


def timed(fn, reps: int) -> float:
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def close(a: torch.Tensor, b: torch.Tensor) -> str:
    err = float((a - b).abs().max())
    scale = float(b.abs().max()) or 1.0
    return f"max |diff| {err:.2e} (rel {err / scale:.1e}) {'OK' if err / scale < 1e-3 else 'MISMATCH'}"


@torch.no_grad()
def check_and_time_step(ssm: SelectiveSSM, pairs: int, reps: int, update_kernel) -> None:
    c = ssm.config
    dev = "cuda"
    x = torch.randn(pairs, c.d_model, device=dev)
    h = torch.randn(pairs, c.d_inner, c.d_state, device=dev) * 0.1
    p = ssm.project(x)

    def ours():
        h2 = ssm.update(h, p)
        return h2, (h2 * p.C.unsqueeze(-2)).sum(-1) + ssm.D * p.x

    ms_torch = timed(ours, reps)
    line = f"step  {pairs:>9,} pairs: torch {ms_torch:8.2f} ms"
    if update_kernel is not None:
        state = h.clone()

        def theirs():
            s = h.clone()
            # delta is already softplus'd by `project`: pass it as dt without dt_bias or softplus.
            y = update_kernel(s, p.x, p.delta, ssm.A, p.B, p.C, D=ssm.D, z=None, dt_softplus=False)
            return s, y

        state, y = theirs()
        h2, y2 = ours()
        ms_kernel = timed(theirs, reps)
        line += f" | mamba selective_state_update {ms_kernel:8.2f} ms (incl. a state copy) | state {close(state, h2)}"
        line += f" | out {close(y, y2)}"
    print(line, flush=True)


@torch.no_grad()
def check_and_time_scan(ssm: SelectiveSSM, seqs: int, length: int, reps: int, have_kernel: bool) -> None:
    c = ssm.config
    x = torch.randn(seqs, length, c.d_model, device="cuda")
    ms_torch = timed(lambda: ssm.scan(x, use_kernel=False), reps)
    line = f"scan  {seqs:>9,} seqs × {length}: torch {ms_torch:8.2f} ms"
    if have_kernel:
        y_k, h_k = ssm.scan(x, use_kernel=True)
        y_t, h_t = ssm.scan(x, use_kernel=False)
        ms_kernel = timed(lambda: ssm.scan(x, use_kernel=True), reps)
        line += f" | mamba selective_scan_fn {ms_kernel:8.2f} ms | out {close(y_k, y_t)} | last state {close(h_k, h_t)}"
    print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--length", type=int, default=16, help="Messages per sequence in the scan comparison.")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to compare (this script is for a GPU machine)")
        return
    print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}")
    scan_kernel, update_kernel = kernels()
    torch.manual_seed(0)
    for config in (DEFAULT_CONFIG, SSMConfig(d_model=384, d_inner=64, d_state=16)):
        ssm = SelectiveSSM(config).cuda().eval()
        print(f"-- d_inner {config.d_inner}, d_state {config.d_state} ({config.d_inner * config.d_state * 4} B/pair)")
        for n in args.pairs:
            check_and_time_step(ssm, n, args.reps, update_kernel)
        for n in args.pairs:
            # a 1M-sequence torch scan keeps every h_t: cap the length so it fits in memory
            length = args.length if n <= 100_000 else 2
            check_and_time_scan(ssm, n, length, max(3, args.reps // 4), scan_kernel is not None)
        del ssm
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
