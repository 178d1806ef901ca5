// Test backends: the CPU table plus the reference of the bf16 blocks' ops, each on request — the
// feed-forward block's (engine/src/cpu/ffn_bf16.c), the attention block's
// (engine/src/cpu/attention_bf16.c), the head's (engine/src/cpu/crossentropy_bf16.c) — whose
// ffn_bf16() / attention_bf16() / head_bf16() follow the precision set on them (bf16: 1). They run
// the model's bf16 paths (engine/src/model_ffn_bf16.c, model_attention_bf16.c, the head in
// model.c) on the CPU, op for op what the CUDA backend computes in bf16 up to
// summation order and the products' input rounding (the reference multiplies bf16-stored values
// exactly; the CPU table's other products stay fp32).
#ifndef MM_TEST_CPU_BF16_H
#define MM_TEST_CPU_BF16_H

#include "cpu/cpu_ops.h"
#include "minimind/backend.h"

static mm_precision mm_test_bf16_precision = MM_PRECISION_FP32;
// attention_bf16() says 1 only for T >= this (as CUDA's refuses shapes its flash kernels lack).
static int mm_test_bf16_attention_min_T = 1;

static int mm_test_bf16_set_precision(mm_precision p) {
    mm_test_bf16_precision = p;
    return mm_backend_cpu()->set_precision(p);
}
static int mm_test_ffn_bf16(void) { return mm_test_bf16_precision == MM_PRECISION_BF16; }
static int mm_test_head_bf16(void) { return mm_test_bf16_precision == MM_PRECISION_BF16; }
static int mm_test_attention_bf16(int B, int T, int H, int hs) {
    (void)B, (void)H, (void)hs;
    return mm_test_bf16_precision == MM_PRECISION_BF16 && T >= mm_test_bf16_attention_min_T;
}

// The table with the bf16 ops of the feed-forward block (ffn), the attention block (attention) and
// the head (head), any of them.
static const mm_backend *mm_test_cpu_bf16(int ffn, int attention, int head) {
    static mm_backend tables[8];
    static const char *names[8] = {"cpu-bf16-none",           "cpu-ffn-bf16",  "cpu-attention-bf16",
                                   "cpu-ffn-attention-bf16",  "cpu-head-bf16", "cpu-ffn-head-bf16",
                                   "cpu-attention-head-bf16", "cpu-bf16"};
    const int which = (ffn ? 1 : 0) + (attention ? 2 : 0) + (head ? 4 : 0);
    mm_backend *be = &tables[which];
    *be = *mm_backend_cpu();
    be->name = names[which];
    be->set_precision = mm_test_bf16_set_precision;
    // shared by both blocks
    be->to_bf16 = mm_cpu_to_bf16;
    be->to_bf16_rows = mm_cpu_to_bf16_rows;
    be->rmsnorm_forward_bf16 = mm_cpu_rmsnorm_forward_bf16;
    be->rmsnorm_backward_bf16 = mm_cpu_rmsnorm_backward_bf16;
    be->matmul_forward_bf16 = mm_cpu_matmul_forward_bf16;
    be->matmul_forward_residual_bf16 = mm_cpu_matmul_forward_residual_bf16;
    be->matmul_backward_bf16 = mm_cpu_matmul_backward_bf16;
    if (ffn) {
        be->ffn_bf16 = mm_test_ffn_bf16;
        be->swiglu_forward_bf16 = mm_cpu_swiglu_forward_bf16;
        be->swiglu_backward_bf16 = mm_cpu_swiglu_backward_bf16;
    }
    if (attention) {
        be->attention_bf16 = mm_test_attention_bf16;
        be->rope_forward_bf16 = mm_cpu_rope_forward_bf16;
        be->rope_backward_bf16 = mm_cpu_rope_backward_bf16;
        be->attention_forward_bf16 = mm_cpu_attention_forward_bf16;
        be->attention_backward_bf16 = mm_cpu_attention_backward_bf16;
    }
    if (head) {
        be->head_bf16 = mm_test_head_bf16;
        be->crossentropy_forward_bf16 = mm_cpu_crossentropy_forward_bf16;
        be->crossentropy_backward_bf16 = mm_cpu_crossentropy_backward_bf16;
    }
    return be;
}

// The feed-forward block's alone (test_ffn_bf16.c).
static inline const mm_backend *mm_test_cpu_ffn_bf16(void) { return mm_test_cpu_bf16(1, 0, 0); }

#endif
