// Read-out of the memory layer (minimind/memory.h; CPU: cpu/memory_read.c): candidate values are
// the mean tied embedding of each entry's non-padding tokens, weighted by the read-out weights.
//   N rows, K candidates, LK tokens per entry, C model dim, V vocabulary; bank (NUM, LK), wte (V, C)
//   m[n] = sum_k w[n,k] v_e, v_e = (sum_{t in e, t != pad} wte[t]) / cnt_e   (e = idx[n,k])
// Dense, as products on tensor cores: with the coefficients A (R, V), A[n, t] = sum of w[n,k] /
// cnt_e over the positions of row n's candidates holding token t (mm_read_coef_row: one thread
// per row, candidate and position order; weightless candidates skipped), per chunk of R rows
// (mm_read_chunk_rows; scratch slot MM_SCRATCH_MEMREAD):
//   forward:  m (R, C) = A wte
//   backward: dwte (V, C) += A^T dm;  G (R, V) = dm wte^T (in A's buffer);
//             dw[n,k] = mean of G[n, t] over entry e's tokens (mm_read_dw_from_products)
// Each product is 2 R V C flops, independent of K and LK, through gemm.cu, so in [train]
// mixed_precision like the tied head (bf16: tensor cores, inputs rounded, fp32 sums). Gathering
// the K * LK embedding rows per row instead reads 8192 x 16 x 32 x 512 floats per layer at batch
// 16 x 512 (~8 GB from L2, twice: forward and dw), an order of magnitude slower than the bf16
// products. Deterministic: no atomics, fixed summation orders.
#include "cuda_common.h"
#include "memory_math.h"

enum { TPB = 128, WARPS = 8 };
static const long COEF_BUDGET = 1L << 24;  // floats of A per chunk (64 MB)

// One thread per row: the row's coefficients (rows of A zeroed before).
__global__ static void mm_read_coef_kernel(float *A, const int32_t *idx, const float *w, const uint16_t *bank, int LK,
                                           int rows, int K, int V) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    mm_read_coef_row(A + (size_t)r * V, idx + (size_t)r * K, w + (size_t)r * K, bank, LK, K);
}

// One thread per (row, candidate) of the chunk: dw from the row's products G (rows, V).
__global__ static void mm_read_dw_kernel(float *dw, const float *G, const int32_t *idx, const uint16_t *bank, int LK,
                                         size_t RK, int K, int V) {
    const size_t rk = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (rk >= RK) return;
    dw[rk] = mm_read_dw_from_products(G + (rk / K) * V, bank + (size_t)idx[rk] * LK, LK);
}

// A (rows, V) of the chunk starting at row r0.
static void mm_read_coefficients(float *A, const int32_t *idx, const float *w, const uint16_t *bank, int LK, int r0,
                                 int rows, int K, int V) {
    MM_CU(cudaMemsetAsync(A, 0, sizeof(float) * (size_t)rows * V));
    mm_read_coef_kernel<<<mm_cdiv((size_t)rows, TPB), TPB>>>(A, idx + (size_t)r0 * K, w + (size_t)r0 * K, bank, LK,
                                                               rows, K, V);
    MM_CU_LAUNCHED();
}

void mm_cuda_memory_read_forward(float *m, const int32_t *idx, const float *w, const uint16_t *bank, int LK,
                                 const float *wte, int N, int K, int C, int V) {
    if (N <= 0 || C <= 0) return;
    const int R = mm_read_chunk_rows(N, V, COEF_BUDGET);
    float *A = (float *)mm_cuda_scratch(MM_SCRATCH_MEMREAD, sizeof(float) * (size_t)R * V);
    if (!A) return;
    for (int r0 = 0; r0 < N; r0 += R) {
        const int rows = N - r0 < R ? N - r0 : R;
        mm_read_coefficients(A, idx, w, bank, LK, r0, rows, K, V);
        // m (rows, C) = A (rows, V) wte (V, C): column-major m^T (C, rows) = wte^T (C, V) A^T (V, rows)
        mm_cuda_gemm(0, 0, C, rows, V, 1.0f, wte, C, A, V, 0.0f, m + (size_t)r0 * C, C);
    }
}

void mm_cuda_memory_read_backward(float *dw, float *dwte, const float *dm, const int32_t *idx, const float *w,
                                  const uint16_t *bank, int LK, const float *wte, int N, int K, int C, int V) {
    if (N <= 0 || K <= 0 || C <= 0) return;
    const int R = mm_read_chunk_rows(N, V, COEF_BUDGET);
    float *A = (float *)mm_cuda_scratch(MM_SCRATCH_MEMREAD, sizeof(float) * (size_t)R * V);
    if (!A) return;
    for (int r0 = 0; r0 < N; r0 += R) {
        const int rows = N - r0 < R ? N - r0 : R;
        const float *dmc = dm + (size_t)r0 * C;
        mm_read_coefficients(A, idx, w, bank, LK, r0, rows, K, V);
        // dwte (V, C) += A^T (V, rows) dm (rows, C): column-major dwte^T (C, V) += dm^T (C, rows) A (rows, V)
        mm_cuda_gemm(0, 1, C, V, rows, 1.0f, dmc, C, A, V, 1.0f, dwte, C);
        // G (rows, V) = dm (rows, C) wte^T (C, V): column-major G^T (V, rows) = wte (V, C) dm^T (C, rows)
        mm_cuda_gemm(1, 0, V, rows, C, 1.0f, wte, C, dmc, C, 0.0f, A, V);
        const size_t RK = (size_t)rows * K;
        mm_read_dw_kernel<<<mm_cdiv(RK, TPB), TPB>>>(dw + (size_t)r0 * K, A, idx + (size_t)r0 * K, bank, LK, RK, K, V);
        MM_CU_LAUNCHED();
    }
}
