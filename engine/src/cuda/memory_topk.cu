// Product-key top-K of the memory layer and its backward (minimind/memory.h). The CPU kernel
// (engine/src/cpu/memory_topk.c) is reproduced exactly: same lists, same order, same ties (see
// memory_math.h for how one warp replays its sequence of insertions).
//   N rows, D knowledge_dim (Dh = D/2 per half), S keys per half, K candidates, k = min(K, S)
//   keys (2, S, Dh) = K1 | K2, q (N, D) = q1 | q2, entry e = i*S + j scores q1.K1[i] + q2.K2[j]
//   forward:  per chunk of R rows (mm_topk_chunk_rows; scratch slot MM_SCRATCH_MEMTOPK):
//             s1 (R, S) = q1 K1^T, s2 (R, S) = q2 K2^T (one strided-batched sgemm, both halves);
//             then one warp per row, lists in shared memory: the k best of s1, the k best of s2, the
//             K best sums of the pairs (a, b) with (a+1)(b+1) <= K -> idx, score (N, K)
//   backward: per chunk: dense dS1, dS2 (R, S) = each candidate's dscore added at its key i (dS1)
//             and j (dS2) by one thread per row in candidate order; then (sgemms)
//             dq1 += dS1 K1, dq2 += dS2 K2, dK1 += dS1^T q1, dK2 += dS2^T q2.
// Deterministic: no atomics; cuBLAS sgemm in the default math mode (no TF32).
// The op's `scratch` argument (2 * MM_MEMORY_TOPK_ROWS * S floats, sized for the CPU kernel) is not
// used: the scratch slot holds chunks of up to SCORE_BUDGET floats, so large batches need few launches.
#include "cuda_common.h"
#include "memory_math.h"

enum { WARPS = 4 };                         // rows per block of the selection kernel
enum { MIN_ROWS = 256 };                    // rows per chunk at least (= MM_MEMORY_TOPK_ROWS)
static const long SCORE_BUDGET = 1L << 24;  // floats of the two (R, S) blocks (64 MB)
#define MM_FULL 0xffffffffu

// Inserts (s, i), which the list admits, into the sorted shared list (ls, li) of n items
// (capacity cap): the whole warp searches the position and shifts. Every lane holds n, s, i.
__device__ static void mm_warp_insert(float *ls, int32_t *li, int &n, int cap, float s, int32_t i) {
    const int lane = threadIdx.x & 31, slot = mm_topk_slot(n, cap);
    int pos = slot;
    for (int top = slot - 1; top >= 0; top -= 32) {  // lane l votes on item top - l
        const int q = top - lane;
        const uint32_t vote = __ballot_sync(MM_FULL, q >= 0 && mm_topk_better(s, i, ls[q], li[q]));
        const int run = mm_trailing_ones(vote);
        pos -= run;
        if (run < 32) break;
    }
    for (int top = slot - 1; top >= pos; top -= 32) {  // items [pos, slot) move up one, top chunk first
        const int q = top - lane;
        const bool moves = q >= pos;
        float vs = 0.0f;
        int32_t vi = 0;
        if (moves) vs = ls[q], vi = li[q];
        __syncwarp();
        if (moves) ls[q + 1] = vs, li[q + 1] = vi;
        __syncwarp();
    }
    if (lane == 0) ls[pos] = s, li[pos] = i;
    if (n < cap) n++;
    __syncwarp();
}

// Offers the 32 lanes' candidates (v, i) (where `valid`) to the list in lane order, as the CPU's
// loop would one by one: those the list admits now are inserted lowest lane first, and the lanes
// above are tested again against the changed list. A lane not admitted is dropped (the CPU's
// insertion would have returned at once).
__device__ static void mm_warp_offer(float *ls, int32_t *li, int &n, int cap, float v, int32_t i, bool valid) {
    const int lane = threadIdx.x & 31;
    uint32_t pending = __ballot_sync(MM_FULL, valid);
    while (pending) {
        const float last_s = n == cap ? ls[cap - 1] : 0.0f;
        const int32_t last_i = n == cap ? li[cap - 1] : 0;
        const uint32_t want =
            __ballot_sync(MM_FULL, ((pending >> lane) & 1u) && mm_topk_admits(n, cap, v, i, last_s, last_i));
        if (!want) break;
        const int src = mm_lowest_lane(want);
        const float sv = __shfl_sync(MM_FULL, v, src);
        const int32_t si = __shfl_sync(MM_FULL, i, src);
        mm_warp_insert(ls, li, n, cap, sv, si);
        pending = mm_lanes_above(pending, src);
    }
}

// One warp per row r < R. Shared memory per warp: 2k + K floats, then 2k + K ints (after all warps' floats).
__global__ static void mm_topk_rows_kernel(int32_t *idx, float *score, const float *s1, const float *s2, int R,
                                           int S, int K) {
    extern __shared__ float mm_topk_smem[];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int r = blockIdx.x * WARPS + warp;
    if (r >= R) return;  // whole warps only: the kernel has no block-wide barrier
    const int k = K < S ? K : S;
    const size_t per = 2 * (size_t)k + K;
    float *fs = mm_topk_smem + warp * per;
    int32_t *is = (int32_t *)(mm_topk_smem + WARPS * per) + warp * per;
    float *as = fs, *bs = fs + k, *cs = fs + 2 * k;
    int32_t *ai = is, *bi = is + k, *ci = is + 2 * k;
    int na = 0, nb = 0, nc = 0;
    const float *r1 = s1 + (size_t)r * S, *r2 = s2 + (size_t)r * S;
    for (int base = 0; base < S; base += 32) {
        const int i = base + lane;
        mm_warp_offer(as, ai, na, k, i < S ? r1[i] : 0.0f, i, i < S);
    }
    for (int base = 0; base < S; base += 32) {
        const int j = base + lane;
        mm_warp_offer(bs, bi, nb, k, j < S ? r2[j] : 0.0f, j, j < S);
    }
    for (int a = 0; a < na; a++) {
        const int cnt = mm_topk_pair_count(a, nb, K);
        if (cnt == 0) break;  // (a+1)(b+1) <= K fails for every later a too
        const float sa = as[a];
        const int32_t ia = ai[a];
        for (int b0 = 0; b0 < cnt; b0 += 32) {
            const int b = b0 + lane;
            const bool ok = b < cnt;
            mm_warp_offer(cs, ci, nc, K, ok ? sa + bs[b] : 0.0f, ok ? mm_topk_entry(ia, bi[b], S) : 0, ok);
        }
    }
    int32_t *io = idx + (size_t)r * K;
    float *so = score + (size_t)r * K;
    for (int c = lane; c < K; c += 32) {  // a short list (NaN scores only): weightless padding
        io[c] = c < nc ? ci[c] : 0;
        so[c] = c < nc ? cs[c] : MM_TOPK_PAD_SCORE;
    }
}

// One thread per row: the row's dense score gradients (rows of dS1, dS2 zeroed before).
__global__ static void mm_topk_dscores_kernel(float *ds1, float *ds2, const int32_t *idx, const float *dscore, int R,
                                              int S, int K) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= R) return;
    mm_topk_dscores_row(ds1 + (size_t)r * S, ds2 + (size_t)r * S, idx + (size_t)r * K, dscore + (size_t)r * K, S, K);
}

// s_h (rows, S) = q_h (rows, Dh; rows D apart) K_h^T for h = 0, 1; s_1 starts R*S after s_0.
// Column-major: s_h^T (S, rows) = K_h^T^T q_h^T -> gemm(T, N, S, rows, Dh).
static void mm_topk_scores(float *s, const float *q, const float *keys, int rows, int R, int D, int S) {
    const int Dh = D / 2;
    const float one = 1.0f, zero = 0.0f;
    MM_CUBLAS(cublasSgemmStridedBatched(mm_cuda_blas(), CUBLAS_OP_T, CUBLAS_OP_N, S, rows, Dh, &one, keys, Dh,
                                        (long long)S * Dh, q, D, Dh, &zero, s, S, (long long)R * S, 2));
}

void mm_cuda_memory_topk(int32_t *idx, float *score, const float *q, const float *keys, int N, int D, int S, int K,
                         float *scratch) {
    (void)scratch;
    if (N <= 0 || S <= 0 || K <= 0) return;
    const int R = mm_topk_chunk_rows(N, S, SCORE_BUDGET, MIN_ROWS), k = K < S ? K : S;
    float *s = (float *)mm_cuda_scratch(MM_SCRATCH_MEMTOPK, sizeof(float) * 2 * (size_t)R * S);
    if (!s) return;
    const size_t shm = (sizeof(float) + sizeof(int32_t)) * WARPS * (2 * (size_t)k + K);
    for (int r0 = 0; r0 < N; r0 += R) {
        const int rows = N - r0 < R ? N - r0 : R;
        mm_topk_scores(s, q + (size_t)r0 * D, keys, rows, R, D, S);
        mm_topk_rows_kernel<<<mm_cdiv((size_t)rows, WARPS), WARPS * 32, shm>>>(
            idx + (size_t)r0 * K, score + (size_t)r0 * K, s, s + (size_t)R * S, rows, S, K);
        MM_CU_LAUNCHED();
    }
}

void mm_cuda_memory_topk_backward(float *dq, float *dkeys, const float *dscore, const int32_t *idx, const float *q,
                                  const float *keys, int N, int D, int S, int K) {
    if (N <= 0 || S <= 0 || K <= 0) return;
    const int Dh = D / 2, R = mm_topk_chunk_rows(N, S, SCORE_BUDGET, MIN_ROWS);
    float *ds = (float *)mm_cuda_scratch(MM_SCRATCH_MEMTOPK, sizeof(float) * 2 * (size_t)R * S);
    if (!ds) return;
    const float one = 1.0f;
    const long long sK = (long long)S * Dh, sS = (long long)R * S;
    for (int r0 = 0; r0 < N; r0 += R) {
        const int rows = N - r0 < R ? N - r0 : R;
        const float *qc = q + (size_t)r0 * D;
        MM_CU(cudaMemsetAsync(ds, 0, sizeof(float) * 2 * (size_t)R * S));
        mm_topk_dscores_kernel<<<mm_cdiv((size_t)rows, 128), 128>>>(ds, ds + (size_t)R * S, idx + (size_t)r0 * K,
                                                                     dscore + (size_t)r0 * K, rows, S, K);
        MM_CU_LAUNCHED();
        // dq_h (rows, Dh; rows D apart) += dS_h (rows, S) K_h (S, Dh): column-major
        // dq_h^T (Dh, rows) += K_h^T (Dh, S) dS_h^T (S, rows) -> gemm(N, N, Dh, rows, S). One call per
        // half: as a strided batch the two outputs would interleave within each row of dq (member
        // stride Dh < ldc = D), which cuBLAS does not document.
        for (int h = 0; h < 2; h++)
            MM_CUBLAS(cublasSgemm(mm_cuda_blas(), CUBLAS_OP_N, CUBLAS_OP_N, Dh, rows, S, &one, keys + h * sK, Dh,
                                  ds + h * sS, S, &one, dq + (size_t)r0 * D + (size_t)h * Dh, D));
        // dK_h (S, Dh) += dS_h^T (S, rows) q_h (rows, Dh): column-major
        // dK_h^T (Dh, S) += q_h^T (Dh, rows) dS_h (rows, S) -> gemm(N, T, Dh, S, rows)
        MM_CUBLAS(cublasSgemmStridedBatched(mm_cuda_blas(), CUBLAS_OP_N, CUBLAS_OP_T, Dh, S, rows, &one, qc, D, Dh, ds,
                                            S, sS, &one, dkeys, Dh, sK, 2));
    }
}
