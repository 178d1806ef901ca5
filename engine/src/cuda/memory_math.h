// Selection and index math of the memory-layer kernels (memory_topk.cu, memory_weights.cu,
// memory_read.cu), written once as MM_HD functions (see ops_math.h) so that
// tests/engine/test_cuda_host.c replays the kernels' structure on the CPU against the CPU backend.
// Dimension names as minimind/memory.h: N rows, S keys per half, K candidates, k = min(K, S) per
// half, LK tokens per bank entry, C model dim, V vocabulary.
//
// Product-key top-K (the CPU kernel engine/src/cpu/memory_topk.c, reproduced exactly): the k best
// scores of each half and then the K best sums of the pairs (a, b) with (a+1)(b+1) <= K, both by
// sequential insertion into a sorted list (score descending, equal scores: lower index first). The
// CUDA kernel runs that same sequence of insertions with one warp per row: 32 candidates are
// tested at once against the list's current last item, and the ones that would change the list
// are inserted one by one in index order (each insertion searched and shifted by the whole warp),
// the rest re-tested after every insertion. A candidate the CPU loop would drop is dropped, so the
// lists — NaN scores included, whose placement depends on the order of the insertions — are the
// CPU's item for item.
#ifndef MM_CUDA_MEMORY_MATH_H
#define MM_CUDA_MEMORY_MATH_H

#include <stdint.h>

#include "ops_math.h"

// Score given to the padding candidates of a row whose list is short (only with NaN scores).
#define MM_TOPK_PAD_SCORE (-3.0e38f)

// (s, i) ranks before (t, j): higher score, or the same score and a lower index.
MM_HD int mm_topk_better(float s, int32_t i, float t, int32_t j) { return s > t || (s == t && i < j); }

// Whether inserting (s, i) into a sorted list of n items (capacity cap, last item (ls, li) when
// n == cap) changes it; the CPU's insertion returns at once otherwise.
MM_HD int mm_topk_admits(int n, int cap, float s, int32_t i, float ls, int32_t li) {
    return n < cap || mm_topk_better(s, i, ls, li);
}

// Where an admitted insertion starts: the free slot n, or the last slot (its item falls off).
MM_HD int mm_topk_slot(int n, int cap) { return n < cap ? n : cap - 1; }

// Warp insertion, position search: lane l looks at item top - l (top = slot - 1, then 32 lower per
// round) and votes whether the new item ranks before it; the insertion point moves down by the
// run of votes from lane 0 (the CPU loop stops at the first item it does not pass).
MM_HD int mm_trailing_ones(uint32_t m) {
#ifdef __CUDA_ARCH__
    return m == 0xFFFFFFFFu ? 32 : __ffs((int)~m) - 1;
#else
    int r = 0;
    while (r < 32 && ((m >> r) & 1u)) r++;
    return r;
#endif
}

// Lowest set lane of a non-zero vote (the candidate with the lowest index goes first).
MM_HD int mm_lowest_lane(uint32_t m) {
#ifdef __CUDA_ARCH__
    return __ffs((int)m) - 1;
#else
    int r = 0;
    while (!((m >> r) & 1u)) r++;
    return r;
#endif
}

// The votes of the lanes above `lane` (the candidates still to test after lane's insertion).
MM_HD uint32_t mm_lanes_above(uint32_t m, int lane) { return lane >= 31 ? 0u : m & (0xFFFFFFFFu << (lane + 1)); }

// Merge enumeration: for the a-th best first-half key, the b-th best second-half keys with
// (a+1)(b+1) <= K and b < nb (nb = the second half's list length). 0 ends the enumeration.
MM_HD int mm_topk_pair_count(int a, int nb, int K) {
    int lim = K / (a + 1);
    return lim < nb ? lim : nb;
}

// Entry of the pair (i, j) of key indices.
MM_HD int32_t mm_topk_entry(int32_t i, int32_t j, int S) { return i * S + j; }

// ---- read-out weights: argmax as the CPU's sequential `y > max` scan (first maximum; NaN never
// wins; nothing above -inf: candidate 0). A lane scans its candidates k = lane, lane + 32, ... in
// order with mm_argmax_push from (-INFINITY, MM_ARGMAX_NONE), the lanes' pairs merge in a shuffle
// tree with mm_argmax_merge (equal maxima: lower candidate), mm_argmax_final maps "none" to 0.
#define MM_ARGMAX_NONE 0x7FFFFFFF
MM_HD void mm_argmax_push(float *m, int *a, float y, int k) {
    if (y > *m) *m = y, *a = k;
}
MM_HD void mm_argmax_merge(float *m, int *a, float m2, int a2) {
    if (m2 > *m || (m2 == *m && a2 < *a)) *m = m2, *a = a2;
}
MM_HD int mm_argmax_final(int a) { return a == MM_ARGMAX_NONE ? 0 : a; }

// ---- read-out: entry values are the mean embedding of the entry's tokens != MM_MEMORY_PAD (0).
MM_HD int mm_bank_count(const uint16_t *row, int LK) {
    int c = 0;
    for (int t = 0; t < LK; t++) c += row[t] != 0;
    return c;
}

// dw of one candidate from its row's products g[t] = dm[n] . wte[t] (t < V): the mean of g over the
// entry's tokens != pad, summed in position order and then scaled by 1/count; 0 for an empty entry.
MM_HD float mm_read_dw_from_products(const float *g, const uint16_t *row, int LK) {
    float s = 0.0f;
    int cnt = 0;
    for (int t = 0; t < LK; t++) {
        const unsigned tok = row[t];
        if (tok == 0) continue;
        s += g[tok];
        cnt++;
    }
    return cnt ? s * (1.0f / (float)cnt) : 0.0f;
}

// The read-out's dense coefficient matrix A (rows, V): A[n, t] = sum over the candidates k of row n
// with w != 0 and over the positions of their entry holding token t of w[n,k] / count(entry), so
// that m = A wte and dwte += A^T dm. It is built by one thread per row in candidate and position
// order (deterministic). Adds row n's coefficients to arow (V).
MM_HD void mm_read_coef_row(float *arow, const int32_t *idx, const float *w, const uint16_t *bank, int LK, int K) {
    for (int k = 0; k < K; k++) {
        float wk = w[k];
        if (wk == 0.0f) continue;
        const uint16_t *row = bank + (size_t)idx[k] * LK;
        int cnt = mm_bank_count(row, LK);
        if (cnt == 0) continue;
        float c = wk * (1.0f / (float)cnt);
        for (int t = 0; t < LK; t++)
            if (row[t] != 0) arow[row[t]] += c;
    }
}

// Rows per chunk of the dense read-out: A (rows, V) holds at most `budget` floats (>= 1 row).
MM_HD int mm_read_chunk_rows(int N, int V, long budget) {
    long r = budget / (V > 0 ? V : 1);
    if (r < 1) r = 1;
    return r < N ? (int)r : N;
}

// Rows per chunk of the product-key scoring: two (rows, S) score blocks of at most `budget` floats
// together, but at least min_rows rows.
MM_HD int mm_topk_chunk_rows(int N, int S, long budget, int min_rows) {
    long r = budget / (2L * (S > 0 ? S : 1));
    if (r < min_rows) r = min_rows;
    if (r < 1) r = 1;
    return r < N ? (int)r : N;
}

// The backward's dense score gradients of one row: dS1[i] += g, dS2[j] += g for each candidate
// (entry i*S + j, gradient g), in candidate order (one thread per row: deterministic).
MM_HD void mm_topk_dscores_row(float *ds1, float *ds2, const int32_t *idx, const float *dscore, int S, int K) {
    for (int c = 0; c < K; c++) {
        int32_t e = idx[c];
        ds1[e / S] += dscore[c];
        ds2[e % S] += dscore[c];
    }
}

#endif
