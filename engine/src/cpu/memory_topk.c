// Product-key lookup of the memory layer (minimind/memory.h): the K best of NUM = S*S entries
// without scoring all of them.
//   N rows, D knowledge_dim (Dh = D/2 per half), S keys per half, K candidates, k = min(K, S)
//   keys (2, S, Dh) = K1 | K2, q (N, D) = q1 | q2, entry e = i*S + j scores q1.K1[i] + q2.K2[j]
//   forward:  s1 = q1 K1^T, s2 = q2 K2^T (sgemm, MM_MEMORY_TOPK_ROWS rows at a time); the k best of
//             each half; the K best sums. A pair (a, b) of the a-th best s1 and b-th best s2 can
//             only be among the K best when (a+1)(b+1) <= K (every pair (a' <= a, b' <= b) is at
//             least as good), so only O(K log K) pairs are looked at.
//   backward: dq1 += g K1[i], dq2 += g K2[j], dK1[i] += g q1, dK2[j] += g q2 for each candidate's
//             score gradient g.
// Order: score descending, equal scores by lower index first (for the halves: lower i; for entries:
// lower e), so the result is a function of the scores alone.
#include <cblas.h>

#include "cpu_ops.h"
#include "minimind/memory.h"

static inline int mm_better(float s, int32_t i, float t, int32_t j) { return s > t || (s == t && i < j); }

// Inserts (s, i) into the sorted list (ls, li) of size *n <= cap.
static inline void mm_topk_insert(float *ls, int32_t *li, int *n, int cap, float s, int32_t i) {
    if (*n == cap && !mm_better(s, i, ls[cap - 1], li[cap - 1])) return;
    int p = *n < cap ? (*n)++ : cap - 1;
    while (p > 0 && mm_better(s, i, ls[p - 1], li[p - 1])) {
        ls[p] = ls[p - 1];
        li[p] = li[p - 1];
        p--;
    }
    ls[p] = s;
    li[p] = i;
}

static void mm_topk_row(int32_t *idx, float *score, const float *s1, const float *s2, int S, int K) {
    const int k = K < S ? K : S;
    float as[MM_MEMORY_MAX_CANDIDATES], bs[MM_MEMORY_MAX_CANDIDATES], cs[MM_MEMORY_MAX_CANDIDATES];
    int32_t ai[MM_MEMORY_MAX_CANDIDATES], bi[MM_MEMORY_MAX_CANDIDATES], ci[MM_MEMORY_MAX_CANDIDATES];
    int na = 0, nb = 0, nc = 0;
    for (int i = 0; i < S; i++) mm_topk_insert(as, ai, &na, k, s1[i], i);
    for (int j = 0; j < S; j++) mm_topk_insert(bs, bi, &nb, k, s2[j], j);
    for (int a = 0; a < na; a++)
        for (int b = 0; b < nb && (a + 1) * (b + 1) <= K; b++)
            mm_topk_insert(cs, ci, &nc, K, as[a] + bs[b], ai[a] * S + bi[b]);
    for (int c = 0; c < K; c++) {  // nc < K only when scores are NaN: pad with weightless entries
        idx[c] = c < nc ? ci[c] : 0;
        score[c] = c < nc ? cs[c] : -3.0e38f;
    }
}

void mm_cpu_memory_topk(int32_t *idx, float *score, const float *q, const float *keys, int N, int D, int S, int K,
                        float *scratch) {
    const int Dh = D / 2;
    const float *K1 = keys, *K2 = keys + (size_t)S * Dh;
    for (int r0 = 0; r0 < N; r0 += MM_MEMORY_TOPK_ROWS) {
        int R = N - r0 < MM_MEMORY_TOPK_ROWS ? N - r0 : MM_MEMORY_TOPK_ROWS;
        float *s1 = scratch, *s2 = scratch + (size_t)R * S;  // (R, S) each
        const float *qr = q + (size_t)r0 * D;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, S, Dh, 1.0f, qr, D, K1, Dh, 0.0f, s1, S);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, S, Dh, 1.0f, qr + Dh, D, K2, Dh, 0.0f, s2, S);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < R; r++)
            mm_topk_row(idx + (size_t)(r0 + r) * K, score + (size_t)(r0 + r) * K, s1 + (size_t)r * S,
                        s2 + (size_t)r * S, S, K);
    }
}

void mm_cpu_memory_topk_backward(float *dq, float *dkeys, const float *dscore, const int32_t *idx, const float *q,
                                 const float *keys, int N, int D, int S, int K) {
    const int Dh = D / 2;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *d1 = dq + (size_t)n * D, *d2 = d1 + Dh;
        for (int c = 0; c < K; c++) {
            int32_t e = idx[(size_t)n * K + c];
            float g = dscore[(size_t)n * K + c];
            const float *k1 = keys + (size_t)(e / S) * Dh, *k2 = keys + ((size_t)S + (size_t)(e % S)) * Dh;
            for (int d = 0; d < Dh; d++) d1[d] += g * k1[d];
            for (int d = 0; d < Dh; d++) d2[d] += g * k2[d];
        }
    }
    // The key gradients scatter: one task per half, so no two threads touch the same row.
#pragma omp parallel for schedule(static)
    for (int half = 0; half < 2; half++) {
        float *dk = dkeys + (size_t)half * S * Dh;
        for (int n = 0; n < N; n++) {
            const float *qh = q + (size_t)n * D + (size_t)half * Dh;
            for (int c = 0; c < K; c++) {
                int32_t e = idx[(size_t)n * K + c];
                float g = dscore[(size_t)n * K + c];
                float *row = dk + (size_t)(half ? e % S : e / S) * Dh;
                for (int d = 0; d < Dh; d++) row[d] += g * qh[d];
            }
        }
    }
}
