"""Build mamba-ssm's selective-scan CUDA extension (`selective_scan_cuda`), forward float32 only.

    python bench/gpu/build_scan_kernel.py --src MAMBA_SSM_SOURCE_TREE --out BUILD_DIR

`pip install mamba-ssm` compiles 15 kernel variants for 7+ GPU architectures, which takes far longer
than a short GPU lease. The comparison in bench_mamba_vs_torch.py calls one variant (float inputs,
real float weights, forward), so this builds that one, for the GPU in this machine only, from an
unpacked mamba-ssm source tree (`pip download --no-deps --no-binary=:all: mamba-ssm`; its csrc/ is
read, nothing of it is copied here). The other variants link to stubs that raise "was not built".
Afterwards put BUILD_DIR and the source tree on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent / "scan_kernel"

CUDA_FLAGS = [
    "-O3",
    "-U__CUDA_NO_HALF_OPERATORS__",
    "-U__CUDA_NO_HALF_CONVERSIONS__",
    "-U__CUDA_NO_BFLOAT16_OPERATORS__",
    "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
    "-U__CUDA_NO_BFLOAT162_OPERATORS__",
    "-U__CUDA_NO_BFLOAT162_CONVERSIONS__",
    "--expt-relaxed-constexpr",
    "--expt-extended-lambda",
    "--use_fast_math",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, required=True, help="An unpacked mamba-ssm source tree (holds csrc/).")
    ap.add_argument("--out", type=Path, required=True, help="Where the extension is built.")
    args = ap.parse_args()
    csrc = args.src / "csrc" / "selective_scan"
    if not (csrc / "selective_scan.cpp").is_file():
        raise SystemExit(f"--src: no csrc/selective_scan/selective_scan.cpp under {args.src}; pass an unpacked sdist")
    args.out.mkdir(parents=True, exist_ok=True)

    from torch.utils.cpp_extension import load  # late: --help works without torch

    started = time.perf_counter()
    load(
        name="selective_scan_cuda",
        sources=[str(csrc / "selective_scan.cpp"), str(HERE / "fwd_fp32_real.cu"), str(HERE / "unbuilt.cu")],
        extra_include_paths=[str(csrc)],
        extra_cflags=["-O3"],
        extra_cuda_cflags=CUDA_FLAGS,
        build_directory=str(args.out),
        verbose=True,
    )
    print(f"built selective_scan_cuda in {time.perf_counter() - started:.0f} s into {args.out}", flush=True)


if __name__ == "__main__":
    main()
