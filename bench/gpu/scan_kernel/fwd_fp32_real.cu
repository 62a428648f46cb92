// The one variant the comparison calls: float inputs, real float weights, forward only.
// mamba-ssm's own build compiles 15 variants for 7+ architectures (tens of minutes); this one
// compiles in a few, which fits a short GPU lease. Headers come from a mamba-ssm source tree
// (build_scan_kernel.py --src), not from this repository.
#include "selective_scan_fwd_kernel.cuh"

template void selective_scan_fwd_cuda<float, float>(SSMParamsBase &params, cudaStream_t stream);
