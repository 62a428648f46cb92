#!/usr/bin/env bash
# The GPU check of issue #14, as one prepared run for a short lease (~3-8 min on one H200):
# build the one selective-scan variant we compare against, then check and time mamba-ssm's kernels
# against our torch S6 (bench_mamba_vs_torch.py). Logs go to OUT_DIR (default $OUT, else /tmp).
#
#   bench/gpu/device_check.sh MAMBA_SSM_SOURCE_TREE [OUT_DIR]
#
# MAMBA_SSM_SOURCE_TREE: an unpacked `pip download --no-deps --no-binary=:all: mamba-ssm` sdist.
# BUILD_LIMIT (seconds, default 300) caps the build; past it the bench still runs, scan on torch alone.
set -u
src=${1:?usage: device_check.sh MAMBA_SSM_SOURCE_TREE [OUT_DIR]}
out=${2:-${OUT:-/tmp/sociallm-gpu-check}}
build=/tmp/sociallm-scan-kernel
mkdir -p "$out"
export PYTHONUNBUFFERED=1 MAX_JOBS=${MAX_JOBS:-8}
here=$(cd "$(dirname "$0")" && pwd)
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
  nvcc --version | tail -1
} 2>&1 | tee "$out/device.txt"
timeout "${BUILD_LIMIT:-300}" python3 "$here/build_scan_kernel.py" --src "$src" --out "$build" >"$out/build.log" 2>&1
echo "build exit $? ($(grep -c ' error' "$out/build.log") error lines); last lines:"
grep -v 'warning\|^\s*$' "$out/build.log" | tail -4
export PYTHONPATH="$src:$build${PYTHONPATH:+:$PYTHONPATH}"
python3 "$here/bench_mamba_vs_torch.py" "${@:3}" 2>&1 | tee "$out/bench.txt"
