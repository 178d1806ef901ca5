// AdamW as torch.optim.AdamW (fused: one pass over p, g, m, v); the per-step coefficients come
// from the host exactly as the CPU kernel computes them (ops_math.h).
//   n parameters (flat)
// With the four arrays 16-byte aligned (the model's flat buffers) a thread updates 4 parameters
// through 16-byte accesses (the last n % 4 one by one); otherwise one parameter per thread.
#include "cuda_common.h"

enum { TPB = 256 };

__global__ static void mm_adamw_kernel(float *p, const float *g, float *m, float *v, size_t n, mm_adamw_coef k) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) mm_adamw_elem(&p[i], g[i], &m[i], &v[i], &k);
}

__global__ static void mm_adamw4_kernel(float *p, const float *g, float *m, float *v, size_t n4, mm_adamw_coef k) {
    const size_t i = 4 * ((size_t)blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= 4 * n4) return;
    float4 pp = mm_ldv<float4>(p + i), mm = mm_ldv<float4>(m + i), vv = mm_ldv<float4>(v + i);
    const float4 gg = mm_ldv<float4>(g + i);
    mm_adamw_elem(&pp.x, gg.x, &mm.x, &vv.x, &k);
    mm_adamw_elem(&pp.y, gg.y, &mm.y, &vv.y, &k);
    mm_adamw_elem(&pp.z, gg.z, &mm.z, &vv.z, &k);
    mm_adamw_elem(&pp.w, gg.w, &mm.w, &vv.w, &k);
    mm_stv<float4>(p + i, pp), mm_stv<float4>(m + i, mm), mm_stv<float4>(v + i, vv);
}

void mm_cuda_adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1, float beta2,
                          float eps, float weight_decay, long step) {
    if (!n) return;
    mm_adamw_coef k = mm_adamw_coefs(lr, beta1, beta2, eps, weight_decay, step);
    size_t done = 0;
    if (mm_aligned(p, 16) && mm_aligned(g, 16) && mm_aligned(m, 16) && mm_aligned(v, 16) && n >= 4) {
        const size_t n4 = n / 4;
        mm_adamw4_kernel<<<mm_cdiv(n4, TPB), TPB>>>(p, g, m, v, n4, k);
        MM_CU_LAUNCHED();
        done = 4 * n4;
    }
    if (done < n) {  // the tail (or everything, unaligned)
        mm_adamw_kernel<<<mm_cdiv(n - done, TPB), TPB>>>(p + done, g + done, m + done, v + done, n - done, k);
        MM_CU_LAUNCHED();
    }
}
