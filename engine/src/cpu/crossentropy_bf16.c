// The reference of the bf16 head's ops (minimind/backend.h, "the head in bf16"): the products are
// the bf16 feed-forward ops' reference (ffn_bf16.c: bf16 operands multiplied exactly, fp32 sums,
// what is stored rounded to bf16), the two passes over the logits the fp32 op's own
// (crossentropy.c), run on the stored logits widened to fp32. Not in the CPU backend's table (the
// CPU stores fp32 in every precision); the CUDA parity tests compare the GPU ops with these.
//   N rows (B*T), C model dim, V vocabulary; logits (N,V) bf16, x (N,C) bf16, wte (V,C) bf16
#include <stdlib.h>

#include "bf16_ref.h"
#include "cpu_ops.h"

float mm_cpu_crossentropy_forward_bf16(mm_bf16 *logits, float *lse, const mm_bf16 *x, const mm_bf16 *wte,
                                       const int32_t *targets, const float *mask, int N, int C, int V) {
    mm_cpu_matmul_forward_bf16(logits, x, wte, N, C, V);  // logits = x wte^T, rounded as stored
    float *l = mm_ref_widen(logits, (size_t)N * V);
    const float loss = mm_cpu_crossentropy_rows(l, lse, targets, mask, N, V);
    free(l);
    return loss;
}

void mm_cpu_crossentropy_backward_bf16(float *dx, float *dwte, mm_bf16 *logits, const float *lse,
                                       const mm_bf16 *x, const mm_bf16 *wte, const int32_t *targets,
                                       const float *mask, float dloss, int N, int C, int V) {
    const size_t n = (size_t)N * V;
    float *l = mm_ref_widen(logits, n);
    mm_cpu_crossentropy_dlogits(l, lse, targets, mask, dloss, N, V);
    mm_ref_narrow(logits, l, n);  // dlogits stored in bf16 over the logits (frees l)
    // dx = dlogits wte, dwte += dlogits^T x: the product's backward with dout = dlogits
    mm_cpu_matmul_backward_bf16(dx, MM_STORE_F32, dwte, logits, x, wte, N, C, V);
}
