// selective_scan.cpp dispatches to every (input, weight) variant and to the backward pass; the
// variants this build leaves out are defined here so that the extension links, and each one
// says plainly that it was not built instead of failing at load time with an undefined symbol.
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <c10/util/Exception.h>
#include <c10/util/complex.h>

#include "selective_scan.h"

template <typename input_t, typename weight_t>
void selective_scan_fwd_cuda(SSMParamsBase &params, cudaStream_t stream);
template <typename input_t, typename weight_t>
void selective_scan_bwd_cuda(SSMParamsBwd &params, cudaStream_t stream);

#define UNBUILT(PASS, PARAMS, INPUT, WEIGHT)                                                     \
    template <>                                                                                  \
    void selective_scan_##PASS##_cuda<INPUT, WEIGHT>(PARAMS &, cudaStream_t) {                   \
        TORCH_CHECK(false, "selective_scan " #PASS " for " #INPUT "/" #WEIGHT                    \
                           " was not built (bench/gpu/build_scan_kernel.py builds fwd float/float)"); \
    }

UNBUILT(fwd, SSMParamsBase, float, c10::complex<float>)
UNBUILT(fwd, SSMParamsBase, c10::Half, float)
UNBUILT(fwd, SSMParamsBase, c10::Half, c10::complex<float>)
UNBUILT(fwd, SSMParamsBase, c10::BFloat16, float)
UNBUILT(fwd, SSMParamsBase, c10::BFloat16, c10::complex<float>)
UNBUILT(bwd, SSMParamsBwd, float, float)
UNBUILT(bwd, SSMParamsBwd, float, c10::complex<float>)
UNBUILT(bwd, SSMParamsBwd, c10::Half, float)
UNBUILT(bwd, SSMParamsBwd, c10::Half, c10::complex<float>)
UNBUILT(bwd, SSMParamsBwd, c10::BFloat16, float)
UNBUILT(bwd, SSMParamsBwd, c10::BFloat16, c10::complex<float>)
