"""mamba-ssm's CUDA kernels against our pure-torch S6 (backbone/ssm.py), on one GPU, same parameters.

Checks first, then times:
- scan: `SelectiveSSM.scan` with the fused `selective_scan_fn` vs the torch associative scan: outputs
  and last states agree;
- step: one message into many (observer, target) states, mamba's `selective_state_update` vs our
  `SelectiveSSM.update` + read-out: new states and outputs agree;
- speed of both at 10k and 1M pairs (step), and 10k / 1M sequences (scan, short sequences).

    python bench/gpu/bench_mamba_vs_torch.py [--pairs 10000 1000000] [--length 16] [--reps 20]

Needs CUDA and mamba-ssm: `pip install mamba-ssm` (a long source build), or on a short lease
bench/gpu/device_check.sh, which builds the one scan variant used here (build_scan_kernel.py) and
puts it and the mamba-ssm sources on PYTHONPATH. Without a GPU it prints why and exits 0; without
mamba-ssm it times the torch path alone. The first configuration is the shipped theory-of-mind
checkpoint's SSM with its trained weights; the second a wider one with random weights. Imports only
torch (and mamba-ssm), so it runs on a bare GPU image without the project's dependencies. About 1-3
minutes on one recent GPU (budget: under 8).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / "sociallm" / "agents" / "tom_default.pt"
GRID_Y = 65_535


def _load_ssm_module():
    # By file: importing it as sociallm.backbone.ssm runs the backbone package's __init__, which needs
    # pydantic and the model clients; ssm.py itself needs torch alone.
    spec = importlib.util.spec_from_file_location("sociallm_ssm", ROOT / "sociallm" / "backbone" / "ssm.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ssm_module = _load_ssm_module()
SelectiveSSM, SSMConfig = ssm_module.SelectiveSSM, ssm_module.SSMConfig


def _ops_without_package_init() -> None:
    # mamba_ssm/__init__ also imports Mamba-2/3 modules (tilelang, cute, HF hub) that these two ops
    # do not use; a bare package module lets the ops import when those extras are missing.
    spec = importlib.util.find_spec("mamba_ssm")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("mamba_ssm is not on the path")
    bare = types.ModuleType("mamba_ssm")
    bare.__path__ = list(spec.submodule_search_locations)
    sys.modules["mamba_ssm"] = bare


def kernels():
    try:
        try:
            import mamba_ssm  # noqa: F401
        except Exception as exc:
            print(f"mamba_ssm package init failed ({exc.__class__.__name__}: {exc}); importing its ops alone")
            for name in [m for m in sys.modules if m == "mamba_ssm" or m.startswith("mamba_ssm.")]:
                del sys.modules[name]
            _ops_without_package_init()
        from mamba_ssm.ops.triton.selective_state_update import selective_state_update
    except Exception as exc:  # ImportError, or triton failing to load
        print(f"mamba-ssm not usable here ({exc.__class__.__name__}: {exc}); timing the torch path alone")
        return None, None
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception as exc:  # the CUDA extension missing or failing to load
        print(f"mamba-ssm's selective_scan_cuda not usable ({exc.__class__.__name__}: {exc}); scan: torch path alone")
        selective_scan_fn = None
    return selective_scan_fn, selective_state_update


def shipped_ssm() -> tuple[SelectiveSSM, str]:
    blob = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    ssm = SelectiveSSM(SSMConfig(**blob["config"]))
    weights = {k.removeprefix("ssm."): v.float() for k, v in blob["state_dict"].items() if k.startswith("ssm.")}
    ssm.load_state_dict(weights)
    return ssm, f"shipped checkpoint {CHECKPOINT.name}"


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
        # delta is already softplus'd by `project`: pass it as dt with no softplus. A zero dt_bias, as
        # mamba-ssm 2.3.2's wrapper reads dt_bias's strides unconditionally (None raises a TypeError).
        zero_bias = torch.zeros_like(ssm.D)

        def theirs(state: torch.Tensor) -> torch.Tensor:
            # mamba's Triton grid puts the batch on grid axis y, which CUDA caps at 65,535 blocks: more
            # pairs than that fail with "invalid argument", so larger banks go in slices (views, in place).
            return torch.cat(
                [
                    update_kernel(
                        state[i : i + GRID_Y],
                        p.x[i : i + GRID_Y],
                        p.delta[i : i + GRID_Y],
                        ssm.A,
                        p.B[i : i + GRID_Y],
                        p.C[i : i + GRID_Y],
                        D=ssm.D,
                        z=None,
                        dt_bias=zero_bias,
                        dt_softplus=False,
                    )
                    for i in range(0, pairs, GRID_Y)
                ]
            )

        state = h.clone()
        y = theirs(state)
        h2, y2 = ours()
        line += f" | state {close(state, h2)} | out {close(y, y2)}"
        # timed in place, as a bank steps its states (they keep decaying, values stay finite)
        line += f" | mamba selective_state_update {timed(lambda: theirs(state), reps):8.2f} ms (in place)"
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
    wide = SelectiveSSM(SSMConfig(d_model=384, d_inner=64, d_state=16)), "random weights"
    for ssm, origin in (shipped_ssm(), wide):
        ssm = ssm.cuda().eval()
        c = ssm.config
        print(f"-- {origin}: d_inner {c.d_inner}, d_state {c.d_state} ({c.d_inner * c.d_state * 4} B/pair)")
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
