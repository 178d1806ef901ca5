// Read-out of the memory layer (minimind/memory.h; CPU: cpu/memory_read.c): candidate values are
// the mean tied embedding of each entry's non-padding tokens, weighted by the read-out weights.
//   N rows, K candidates, LK tokens per entry, C model dim, V vocabulary; bank (NUM, LK), wte (V, C)
//   forward:  m[n] = sum_k w[n,k] v_e, v_e = (sum_{t in e, t != pad} wte[t]) / cnt_e   (e = idx[n,k])
//             block per (row, 128 columns); candidates with w = 0 are skipped (as the CPU's)
//   backward: dw[n,k] = dm[n] . v_e: one warp per (n, k), lanes over the columns, shuffle-tree sum
//             dwte (V, C) += A^T dm with the dense coefficients A (R, V), A[n, t] = sum of
//             w[n,k] / cnt_e over the positions of row n's candidates holding token t, built by one
//             thread per row in candidate and position order (mm_read_coef_row), then one product
//             per chunk of R rows (mm_read_chunk_rows; scratch slot MM_SCRATCH_MEMREAD) through
//             gemm.cu, so in [train] mixed_precision like the tied head's gradient (bf16: tensor
//             cores, inputs rounded, fp32 sums; fp32: exact products).
// Deterministic: no atomics, fixed reduction trees and summation orders. The dense dwte costs
// 2 R V C flops per chunk (like the tied head's gradient), independent of K and LK: in fp32 on
// CUDA cores it would be the memory model's largest cost (~54 GFLOP per layer at 8192 x 6400 x 512).
// Values are recomputed per (row, candidate) from the embeddings (the CPU shares them between rows
// reading the same entry); the sums run in the CPU's order (positions, then candidates).
#include "cuda_common.h"
#include "memory_math.h"

enum { TPB = 128, WARPS = 8 };
static const long COEF_BUDGET = 1L << 24;  // floats of A per chunk (64 MB)

__global__ static void mm_read_forward_kernel(float *m, const int32_t *idx, const float *w, const uint16_t *bank,
                                              int LK, const float *wte, int K, int C) {
    const size_t n = blockIdx.x;
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float acc = 0.0f;
    for (int k = 0; k < K; k++) {
        const float wk = w[n * K + k];
        if (wk == 0.0f) continue;
        acc += wk * mm_entry_value_col(bank + (size_t)idx[n * K + k] * LK, LK, wte, C, c);
    }
    m[n * C + c] = acc;
}

__global__ static void mm_read_dw_kernel(float *dw, const float *dm, const int32_t *idx, const uint16_t *bank, int LK,
                                         const float *wte, size_t NK, int K, int C) {
    const int lane = threadIdx.x & 31;
    const size_t nk = (size_t)blockIdx.x * WARPS + (threadIdx.x >> 5);
    if (nk >= NK) return;  // whole warps
    const uint16_t *row = bank + (size_t)idx[nk] * LK;
    const float *d = dm + (nk / K) * C;
    float acc = 0.0f;
    for (int c = lane; c < C; c += 32) acc += d[c] * mm_entry_value_col(row, LK, wte, C, c);
    acc = mm_warp_sum(acc);
    if (lane == 0) dw[nk] = acc;
}

__global__ static void mm_read_coef_kernel(float *A, const int32_t *idx, const float *w, const uint16_t *bank, int LK,
                                           int rows, int K, int V) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    mm_read_coef_row(A + (size_t)r * V, idx + (size_t)r * K, w + (size_t)r * K, bank, LK, K);
}

void mm_cuda_memory_read_forward(float *m, const int32_t *idx, const float *w, const uint16_t *bank, int LK,
                                 const float *wte, int N, int K, int C) {
    if (N <= 0 || C <= 0) return;
    dim3 grid((unsigned)N, mm_cdiv((size_t)C, TPB));
    mm_read_forward_kernel<<<grid, TPB>>>(m, idx, w, bank, LK, wte, K, C);
    MM_CU_LAUNCHED();
}

void mm_cuda_memory_read_backward(float *dw, float *dwte, const float *dm, const int32_t *idx, const float *w,
                                  const uint16_t *bank, int LK, const float *wte, int N, int K, int C, int V) {
    if (N <= 0 || K <= 0 || C <= 0) return;
    const size_t NK = (size_t)N * K;
    mm_read_dw_kernel<<<mm_cdiv(NK, WARPS), WARPS * 32>>>(dw, dm, idx, bank, LK, wte, NK, K, C);
    MM_CU_LAUNCHED();
    const int R = mm_read_chunk_rows(N, V, COEF_BUDGET);
    float *A = (float *)mm_cuda_scratch(MM_SCRATCH_MEMREAD, sizeof(float) * (size_t)R * V);
    if (!A) return;
    for (int r0 = 0; r0 < N; r0 += R) {
        const int rows = N - r0 < R ? N - r0 : R;
        MM_CU(cudaMemsetAsync(A, 0, sizeof(float) * (size_t)rows * V));
        mm_read_coef_kernel<<<mm_cdiv((size_t)rows, 128), 128>>>(A, idx + (size_t)r0 * K, w + (size_t)r0 * K, bank, LK,
                                                                  rows, K, V);
        MM_CU_LAUNCHED();
        // dwte (V, C) += A^T (V, rows) dm (rows, C): column-major dwte^T (C, V) += dm^T (C, rows) A (rows, V)
        mm_cuda_gemm(0, 1, C, V, rows, 1.0f, dm + (size_t)r0 * C, C, A, V, 1.0f, dwte, C);
    }
}
