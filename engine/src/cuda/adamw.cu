// AdamW as torch.optim.AdamW (fused: one thread per parameter); the per-step coefficients come
// from the host exactly as the CPU kernel computes them (ops_math.h).
//   n parameters (flat)
#include "cuda_common.h"

__global__ static void mm_adamw_kernel(float *p, const float *g, float *m, float *v, size_t n, mm_adamw_coef k) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) mm_adamw_elem(&p[i], g[i], &m[i], &v[i], &k);
}

void mm_cuda_adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1, float beta2,
                          float eps, float weight_decay, long step) {
    if (!n) return;
    mm_adamw_coef k = mm_adamw_coefs(lr, beta1, beta2, eps, weight_decay, step);
    mm_adamw_kernel<<<mm_cdiv(n, 256), 256>>>(p, g, m, v, n, k);
    MM_CU_LAUNCHED();
}
