// A test backend: the CPU table plus the reference of the bf16 feed-forward ops
// (engine/src/cpu/ffn_bf16.c), whose ffn_bf16() follows the precision set on it (bf16: 1). It runs
// the model's bf16-FFN path (engine/src/model_ffn_bf16.c) on the CPU, op for op what the CUDA
// backend computes in bf16 up to summation order and the products' input rounding (the reference
// multiplies bf16-stored values exactly; the CPU table's other products stay fp32).
#ifndef MM_TEST_CPU_FFN_BF16_H
#define MM_TEST_CPU_FFN_BF16_H

#include "cpu/cpu_ops.h"
#include "minimind/backend.h"

static mm_precision mm_test_ffn_precision = MM_PRECISION_FP32;

static int mm_test_ffn_set_precision(mm_precision p) {
    mm_test_ffn_precision = p;
    return mm_backend_cpu()->set_precision(p);
}
static int mm_test_ffn_bf16(void) { return mm_test_ffn_precision == MM_PRECISION_BF16; }

static const mm_backend *mm_test_cpu_ffn_bf16(void) {
    static mm_backend be;
    be = *mm_backend_cpu();
    be.name = "cpu-ffn-bf16";
    be.set_precision = mm_test_ffn_set_precision;
    be.ffn_bf16 = mm_test_ffn_bf16;
    be.to_bf16 = mm_cpu_to_bf16;
    be.rmsnorm_forward_bf16 = mm_cpu_rmsnorm_forward_bf16;
    be.swiglu_forward_bf16 = mm_cpu_swiglu_forward_bf16;
    be.swiglu_backward_bf16 = mm_cpu_swiglu_backward_bf16;
    be.matmul_forward_bf16 = mm_cpu_matmul_forward_bf16;
    be.matmul_forward_residual_bf16 = mm_cpu_matmul_forward_residual_bf16;
    be.matmul_backward_bf16 = mm_cpu_matmul_backward_bf16;
    return &be;
}

#endif
