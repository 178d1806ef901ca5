// Masked cross-entropy with the tied head, fused softmax + loss; deterministic reductions.
//   N rows (B*T), C model dim, V vocabulary
//   forward:  logits (N,V) = x (N,C) @ wte^T (cuBLAS); per row (one block) an online log-sum-exp
//             merged in a fixed tree -> lse (N) and the row's masked loss; the loss and mask sums
//             over rows by one block in a fixed order (double), copied to the host.
//   backward: dlogits = (softmax - onehot(y)) * mask_n * dloss / sum(mask) written over logits;
//             dx (N,C) = dlogits @ wte; dwte (V,C) += dlogits^T @ x (cuBLAS)
#include "cuda_common.h"

enum { TPB = 256 };

// Scratch layout: [0] loss sum, [1] mask sum (double), then the rows' (N) masked losses (float).
__global__ static void mm_ce_rows_kernel(float *lse, float *rowloss, const float *logits, const int32_t *targets,
                                         const float *mask, int V) {
    const size_t n = blockIdx.x;
    const float *l = logits + n * V;
    float m = -INFINITY, s = 0.0f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) mm_lse_push(&m, &s, l[j]);
    // fixed-tree merge: warp shuffles, then the warps' results in order
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        mm_lse_merge(&m, &s, m2, s2);
    }
    __shared__ float shm[32];
    __shared__ float shs[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) shm[warp] = m, shs[warp] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        float M = -INFINITY, S = 0.0f;
        for (int w = 0; w < nw; w++) mm_lse_merge(&M, &S, shm[w], shs[w]);
        float r = mm_lse_value(M, S);
        lse[n] = r;
        float wgt = mask ? mask[n] : 1.0f;
        rowloss[n] = (targets && wgt != 0.0f) ? wgt * (r - l[targets[n]]) : 0.0f;
    }
}

__global__ static void mm_ce_sum_kernel(double *sums, const float *rowloss, const float *mask, int N) {
    double tl = 0.0, tm = 0.0;
    for (int n = threadIdx.x; n < N; n += blockDim.x) {
        tl += rowloss[n];
        tm += mask ? mask[n] : 1.0f;
    }
    tl = mm_block_sum_d(tl);
    tm = mm_block_sum_d(tm);
    if (threadIdx.x == 0) sums[0] = tl, sums[1] = tm;
}

__global__ static void mm_ce_dlogits_kernel(float *logits, const float *lse, const int32_t *targets,
                                            const float *mask, const double *sums, float dloss, int V) {
    const size_t n = blockIdx.x;
    float *l = logits + n * V;
    const double ms = sums[1];
    const float base = ms > 0.0 ? (float)(dloss / ms) : 0.0f, coef = base * (mask ? mask[n] : 1.0f);
    const float r = lse[n];
    const int t = targets[n];
    for (int j = threadIdx.x; j < V; j += blockDim.x) l[j] = coef == 0.0f ? 0.0f : mm_ce_dlogit(l[j], r, coef, j == t);
}

static double *mm_ce_scratch(int N) {
    return (double *)mm_cuda_scratch(MM_SCRATCH_CE, 2 * sizeof(double) + sizeof(float) * (size_t)N);
}

float mm_cuda_crossentropy_forward(float *logits, float *lse, const float *x, const float *wte,
                                   const int32_t *targets, const float *mask, int N, int C, int V) {
    mm_cuda_matmul_forward(logits, x, wte, N, C, V, 0);
    double *sums = mm_ce_scratch(N);
    if (!sums || N <= 0) return 0.0f;
    float *rowloss = (float *)(sums + 2);
    mm_ce_rows_kernel<<<N, TPB>>>(lse, rowloss, logits, targets, mask, V);
    MM_CU_LAUNCHED();
    mm_ce_sum_kernel<<<1, 1024>>>(sums, rowloss, mask, N);
    MM_CU_LAUNCHED();
    double h[2] = {0.0, 0.0};
    MM_CU(cudaMemcpy(h, sums, sizeof h, cudaMemcpyDeviceToHost));
    return h[1] > 0.0 ? (float)(h[0] / h[1]) : 0.0f;
}

void mm_cuda_crossentropy_backward(float *dx, float *dwte, float *logits, const float *lse, const float *x,
                                   const float *wte, const int32_t *targets, const float *mask, float dloss, int N,
                                   int C, int V) {
    double *sums = mm_ce_scratch(N);
    if (!sums || N <= 0) return;
    float *rowloss = (float *)(sums + 2);
    mm_ce_sum_kernel<<<1, 1024>>>(sums, rowloss, mask, N);  // sums[1] = sum(mask) (rowloss unused here)
    MM_CU_LAUNCHED();
    mm_ce_dlogits_kernel<<<N, TPB>>>(logits, lse, targets, mask, sums, dloss, V);
    MM_CU_LAUNCHED();
    mm_cuda_matmul_backward(dx, dwte, logits, x, wte, N, C, V, 0);
}
