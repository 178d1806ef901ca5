// Global gradient L2 norm and clipping (torch clip_grad_norm_), deterministic two-pass reduction:
// NBLK fixed blocks each sum g^2 over a grid-stride range in double, then one block sums the NBLK
// partials in a fixed tree. The norm goes to the host (one sync); the scaling is a kernel, also
// used alone by the fp16 loss scaler to unscale the gradients (mm_cuda_scale).
//   n gradient values (flat)
#include "cuda_common.h"

enum { NBLK = 512, TPB = 256 };

__global__ static void mm_sumsq_partial_kernel(double *part, const float *g, size_t n) {
    double acc = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        acc += (double)g[i] * g[i];
    acc = mm_block_sum_d(acc);
    if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

__global__ static void mm_sumsq_final_kernel(double *out, const double *part) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < NBLK; i += blockDim.x) acc += part[i];
    acc = mm_block_sum_d(acc);
    if (threadIdx.x == 0) out[0] = acc;
}

__global__ static void mm_scale_kernel(float *g, size_t n, float coef) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) g[i] *= coef;
}

float mm_cuda_gradnorm_clip(float *g, size_t n, float max_norm) {
    double *part = (double *)mm_cuda_scratch(MM_SCRATCH_GRADNORM, sizeof(double) * (NBLK + 1));
    if (!part) return NAN;
    mm_sumsq_partial_kernel<<<NBLK, TPB>>>(part, g, n);
    MM_CU_LAUNCHED();
    mm_sumsq_final_kernel<<<1, TPB>>>(part + NBLK, part);
    MM_CU_LAUNCHED();
    double ss = 0.0;
    MM_CU(cudaMemcpy(&ss, part + NBLK, sizeof ss, cudaMemcpyDeviceToHost));
    float norm = (float)sqrt(ss);
    float coef = mm_clip_coef(norm, max_norm);
    if (coef < 1.0f && n) {
        mm_scale_kernel<<<mm_cdiv(n, 256), 256>>>(g, n, coef);
        MM_CU_LAUNCHED();
    }
    return norm;
}

void mm_cuda_scale(float *x, size_t n, float s) {
    if (!n) return;
    mm_scale_kernel<<<mm_cdiv(n, 256), 256>>>(x, n, s);
    MM_CU_LAUNCHED();
}
