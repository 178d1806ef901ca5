// SwiGLU gate (fused elementwise): g = silu(h1) * h3 with h13 rows [h1 | h3].
//   N rows (B*T), F hidden; h13 (N,2F), g/dg (N,F)
#include "cuda_common.h"

__global__ static void mm_swiglu_forward_kernel(float *g, const float *h13, int F, size_t total) {
    size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total) return;
    size_t n = e / F, f = e % F;
    const float *h1 = h13 + n * 2 * F;
    g[e] = mm_swiglu(h1[f], h1[F + f]);
}

__global__ static void mm_swiglu_backward_kernel(float *dh13, const float *dg, const float *h13, int F, size_t total) {
    size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= total) return;
    size_t n = e / F, f = e % F;
    const float *h1 = h13 + n * 2 * F;
    float *d1 = dh13 + n * 2 * F;
    mm_swiglu_grad(dg[e], h1[f], h1[F + f], &d1[f], &d1[F + f]);
}

void mm_cuda_swiglu_forward(float *g, const float *h13, int N, int F) {
    size_t total = (size_t)N * F;
    if (!total) return;
    mm_swiglu_forward_kernel<<<mm_cdiv(total, 256), 256>>>(g, h13, F, total);
    MM_CU_LAUNCHED();
}

void mm_cuda_swiglu_backward(float *dh13, const float *dg, const float *h13, int N, int F) {
    size_t total = (size_t)N * F;
    if (!total) return;
    mm_swiglu_backward_kernel<<<mm_cdiv(total, 256), 256>>>(dh13, dg, h13, F, total);
    MM_CU_LAUNCHED();
}
