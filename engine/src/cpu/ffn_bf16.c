// The reference of the bf16 feed-forward ops (minimind/backend.h, "the feed-forward block in
// bf16"): each op widens its bf16 inputs to fp32, computes what the fp32 op computes (the same CPU
// kernels), and rounds what it stores to bf16 (bf16_ref.h). Not in the CPU backend's table (the CPU stores
// fp32 in every precision); the CUDA parity tests compare the GPU ops with these, and a table built from the
// CPU one plus these runs the model's bf16 FFN path on the CPU. Clarity over speed: every op allocates its
// fp32 copies.
#include <stdlib.h>
#include <string.h>

#include "../cuda/ops_math.h"
#include "bf16_ref.h"
#include "cpu_ops.h"

void mm_cpu_to_bf16(mm_bf16 *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (mm_bf16)mm_bf16_bits(src[i]);
}

void mm_cpu_to_bf16_rows(mm_bf16 *dst, int ldd, const float *src, int lds, int rows, int cols) {
    for (int r = 0; r < rows; r++) mm_cpu_to_bf16(dst + (size_t)r * ldd, src + (size_t)r * lds, (size_t)cols);
}

void mm_cpu_rmsnorm_forward_bf16(mm_bf16 *out, float *rstd, const float *inp, const float *w, int N, int C,
                                 float eps) {
    const size_t n = (size_t)N * C;
    float *y = mm_ref_floats(n);
    mm_cpu_rmsnorm_forward(y, rstd, inp, w, N, C, eps);
    mm_ref_narrow(out, y, n);
}

void mm_cpu_rmsnorm_backward_bf16(float *dinp, mm_bf16 *dinp16, float *dw, const void *dout,
                                  mm_storage dout_type, const float *inp, const float *w, const float *rstd,
                                  int N, int C) {
    const size_t n = (size_t)N * C;
    float *dy = dout_type == MM_STORE_BF16 ? mm_ref_widen((const mm_bf16 *)dout, n) : (float *)dout;
    mm_cpu_rmsnorm_backward(dinp, dw, dy, inp, w, rstd, N, C);
    if (dy != dout) free(dy);
    if (dinp16) mm_cpu_to_bf16(dinp16, dinp, n);
}

void mm_cpu_swiglu_forward_bf16(mm_bf16 *g, const mm_bf16 *h13, int N, int F) {
    float *h = mm_ref_widen(h13, (size_t)N * 2 * F), *y = mm_ref_floats((size_t)N * F);
    mm_cpu_swiglu_forward(y, h, N, F);
    free(h);
    mm_ref_narrow(g, y, (size_t)N * F);
}

void mm_cpu_swiglu_backward_bf16(mm_bf16 *dh13, const mm_bf16 *dg, const mm_bf16 *h13, int N, int F) {
    float *h = mm_ref_widen(h13, (size_t)N * 2 * F), *d = mm_ref_widen(dg, (size_t)N * F);
    float *dh = mm_ref_floats((size_t)N * 2 * F);
    mm_cpu_swiglu_backward(dh, d, h, N, F);
    free(h), free(d);
    mm_ref_narrow(dh13, dh, (size_t)N * 2 * F);
}

void mm_cpu_matmul_forward_bf16(mm_bf16 *out, const mm_bf16 *inp, const mm_bf16 *w, int M, int K, int N) {
    float *x = mm_ref_widen(inp, (size_t)M * K), *wf = mm_ref_widen(w, (size_t)N * K);
    float *y = mm_ref_floats((size_t)M * N);
    mm_cpu_matmul_forward(y, x, wf, M, K, N, 0);
    free(x), free(wf);
    mm_ref_narrow(out, y, (size_t)M * N);
}

void mm_cpu_matmul_forward_residual_bf16(float *out, const float *res, const mm_bf16 *inp, const mm_bf16 *w, int M,
                                         int K, int N) {
    float *x = mm_ref_widen(inp, (size_t)M * K), *wf = mm_ref_widen(w, (size_t)N * K);
    memcpy(out, res, (size_t)M * N * sizeof(float));
    mm_cpu_matmul_forward(out, x, wf, M, K, N, 1);
    free(x), free(wf);
}

void mm_cpu_matmul_backward_bf16(void *dinp, mm_storage dinp_type, float *dw, const mm_bf16 *dout,
                                 const mm_bf16 *inp, const mm_bf16 *w, int M, int K, int N) {
    float *dy = mm_ref_widen(dout, (size_t)M * N), *x = mm_ref_widen(inp, (size_t)M * K);
    float *wf = mm_ref_widen(w, (size_t)N * K);
    float *dx = !dinp || dinp_type == MM_STORE_F32 ? (float *)dinp : mm_ref_floats((size_t)M * K);
    mm_cpu_matmul_backward(dx, dw, dy, x, wf, M, K, N, 0);
    free(dy), free(x), free(wf);
    if (dinp && dinp_type == MM_STORE_BF16) mm_ref_narrow((mm_bf16 *)dinp, dx, (size_t)M * K);
}
