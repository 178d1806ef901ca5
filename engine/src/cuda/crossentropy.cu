// Masked cross-entropy with the tied head, fused softmax + loss; deterministic reductions.
//   N rows (B*T), C model dim, V vocabulary
//   forward:  logits (N,V) = x (N,C) @ wte^T (cuBLAS); per row (one block) an online log-sum-exp
//             merged in a fixed tree -> lse (N) and the row's masked loss; the loss and mask sums
//             over rows by one block in a fixed order (double), copied to the host.
//   backward: dlogits = (softmax - onehot(y)) * mask_n * dloss / sum(mask) written over logits;
//             dx (N,C) = dlogits @ wte; dwte (V,C) += dlogits^T @ x (cuBLAS)
//   bf16 (the head in bf16: head_bf16, MM_CUDA_HEAD; reference: cpu/crossentropy_bf16.c): x, wte,
//             logits / dlogits stored in bf16, the row kernels read them widened; dx, dwte fp32.
#include "cuda_common.h"

enum { TPB = 256 };

static int g_head_on = 1;  // MM_CUDA_HEAD=fp32: 0, the head stays fp32 in every precision

int mm_cuda_head_configure(const char *env) {
    return mm_cuda_switch("MM_CUDA_HEAD", env, "bf16", "fp32", &g_head_on);
}

int mm_cuda_head_bf16(void) { return g_head_on && mm_cuda_precision() == MM_PRECISION_BF16; }

// Scratch layout: [0] loss sum, [1] mask sum (double), then the rows' (N) masked losses (float).
// Logits storage T: float, or mm_bf16 for the head in bf16 (read widened).
template <typename T>
__global__ static void mm_ce_rows_kernel(float *lse, float *rowloss, const T *logits, const int32_t *targets,
                                         const float *mask, int V) {
    const size_t n = blockIdx.x;
    const T *l = logits + n * V;
    float m = -INFINITY, s = 0.0f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) mm_lse_push(&m, &s, mm_ld1(l + j));
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
        rowloss[n] = (targets && wgt != 0.0f) ? wgt * (r - mm_ld1(l + targets[n])) : 0.0f;
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

// dlogits over the logits (storage T: bf16 stores each rounded to nearest even).
template <typename T>
__global__ static void mm_ce_dlogits_kernel(T *logits, const float *lse, const int32_t *targets,
                                            const float *mask, const double *sums, float dloss, int V) {
    const size_t n = blockIdx.x;
    T *l = logits + n * V;
    const double ms = sums[1];
    const float base = ms > 0.0 ? (float)(dloss / ms) : 0.0f, coef = base * (mask ? mask[n] : 1.0f);
    const float r = lse[n];
    const int t = targets[n];
    for (int j = threadIdx.x; j < V; j += blockDim.x)
        mm_st1(l + j, coef == 0.0f ? 0.0f : mm_ce_dlogit(mm_ld1(l + j), r, coef, j == t));
}

// The scratch for N rows; NULL when there are none (nothing to launch: a grid of 0 blocks is an
// invalid launch) or it could not be allocated (recorded for `check`).
static double *mm_ce_scratch(int N) {
    if (N <= 0) return NULL;
    return (double *)mm_cuda_scratch(MM_SCRATCH_CE, 2 * sizeof(double) + sizeof(float) * (size_t)N);
}

static float *mm_ce_rowloss(double *sums) { return (float *)(sums + 2); }

// sums[0], sums[1] = the rows' masked losses and the mask, each summed over the N rows.
static void mm_ce_sum(double *sums, const float *mask, int N) {
    mm_ce_sum_kernel<<<1, 1024>>>(sums, mm_ce_rowloss(sums), mask, N);
    MM_CU_LAUNCHED();
}

// The rows' pass on the stored logits (N,V): lse (N); returns the masked mean loss (host copy).
template <typename T>
static float mm_ce_loss(float *lse, const T *logits, const int32_t *targets, const float *mask, int N,
                        int V) {
    double *sums = mm_ce_scratch(N);
    if (!sums) return 0.0f;
    mm_ce_rows_kernel<T><<<N, TPB>>>(lse, mm_ce_rowloss(sums), logits, targets, mask, V);
    MM_CU_LAUNCHED();
    mm_ce_sum(sums, mask, N);
    double h[2] = {0.0, 0.0};
    MM_CU(cudaMemcpy(h, sums, sizeof h, cudaMemcpyDeviceToHost));
    return h[1] > 0.0 ? (float)(h[0] / h[1]) : 0.0f;
}

// dlogits written over the logits (N,V); 0 when nothing was launched (no rows, or no scratch):
// the products after it are skipped then.
template <typename T>
static int mm_ce_dlogits(T *logits, const float *lse, const int32_t *targets, const float *mask, float dloss,
                         int N, int V) {
    double *sums = mm_ce_scratch(N);
    if (!sums) return 0;
    mm_ce_sum(sums, mask, N);  // sums[1] = sum(mask) (the row losses are not read)
    mm_ce_dlogits_kernel<T><<<N, TPB>>>(logits, lse, targets, mask, sums, dloss, V);
    MM_CU_LAUNCHED();
    return 1;
}

float mm_cuda_crossentropy_forward(float *logits, float *lse, const float *x, const float *wte,
                                   const int32_t *targets, const float *mask, int N, int C, int V) {
    mm_cuda_matmul_forward(logits, x, wte, N, C, V, 0);
    return mm_ce_loss(lse, logits, targets, mask, N, V);
}

void mm_cuda_crossentropy_backward(float *dx, float *dwte, float *logits, const float *lse, const float *x,
                                   const float *wte, const int32_t *targets, const float *mask, float dloss, int N,
                                   int C, int V) {
    if (mm_ce_dlogits(logits, lse, targets, mask, dloss, N, V))
        mm_cuda_matmul_backward(dx, dwte, logits, x, wte, N, C, V, 0);
}

float mm_cuda_crossentropy_forward_bf16(mm_bf16 *logits, float *lse, const mm_bf16 *x, const mm_bf16 *wte,
                                        const int32_t *targets, const float *mask, int N, int C, int V) {
    mm_cuda_matmul_forward_bf16(logits, x, wte, N, C, V);  // logits rounded to bf16 as stored
    return mm_ce_loss(lse, logits, targets, mask, N, V);
}

void mm_cuda_crossentropy_backward_bf16(float *dx, float *dwte, mm_bf16 *logits, const float *lse,
                                        const mm_bf16 *x, const mm_bf16 *wte, const int32_t *targets,
                                        const float *mask, float dloss, int N, int C, int V) {
    if (mm_ce_dlogits(logits, lse, targets, mask, dloss, N, V))
        mm_cuda_matmul_backward_bf16(dx, MM_STORE_F32, dwte, logits, x, wte, N, C, V);
}
