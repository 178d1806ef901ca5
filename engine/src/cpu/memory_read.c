// Read-out of the memory layer (minimind/memory.h): candidate values are the mean tied embedding
// of each entry's non-padding tokens, weighted by the read-out weights.
//   N rows, K candidates, LK tokens per entry, C model dim; bank (NUM, LK), wte (V, C)
//   forward:  m[n] = sum_k w[n,k] / cnt_e * sum_{t in e, t != pad} wte[t]      (e = idx[n,k])
//   backward: dw[n,k] = dm[n] . v_e;  dwte[t] += w[n,k] / cnt_e * dm[n] for every token t of e —
//             each thread owns a residue class of token ids, so repeated tokens never race.
#include <omp.h>

#include "cpu_ops.h"
#include "minimind/memory.h"

static inline int mm_entry_count(const uint16_t *row, int LK) {
    int c = 0;
    for (int t = 0; t < LK; t++) c += row[t] != MM_MEMORY_PAD;
    return c;
}

void mm_cpu_memory_read_forward(float *m, const int32_t *idx, const float *w, const uint16_t *bank, int LK,
                                const float *wte, int N, int K, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *o = m + (size_t)n * C;
        memset(o, 0, sizeof(float) * (size_t)C);
        for (int k = 0; k < K; k++) {
            const uint16_t *row = bank + (size_t)idx[(size_t)n * K + k] * LK;
            int cnt = mm_entry_count(row, LK);
            if (cnt == 0) continue;
            float c = w[(size_t)n * K + k] / (float)cnt;
            if (c == 0.0f) continue;
            for (int t = 0; t < LK; t++) {
                if (row[t] == MM_MEMORY_PAD) continue;
                const float *e = wte + (size_t)row[t] * C;
#pragma omp simd
                for (int i = 0; i < C; i++) o[i] += c * e[i];
            }
        }
    }
}

void mm_cpu_memory_read_backward(float *dw, float *dwte, const float *dm, const int32_t *idx, const float *w,
                                 const uint16_t *bank, int LK, const float *wte, int N, int K, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *d = dm + (size_t)n * C;
        for (int k = 0; k < K; k++) {
            const uint16_t *row = bank + (size_t)idx[(size_t)n * K + k] * LK;
            int cnt = mm_entry_count(row, LK);
            float acc = 0.0f;
            for (int t = 0; t < LK; t++) {
                if (row[t] == MM_MEMORY_PAD) continue;
                const float *e = wte + (size_t)row[t] * C;
#pragma omp simd reduction(+ : acc)
                for (int i = 0; i < C; i++) acc += d[i] * e[i];
            }
            dw[(size_t)n * K + k] = cnt ? acc / (float)cnt : 0.0f;
        }
    }
    // dwte: thread j owns the token ids t with t % nthreads == j and updates whole rows of them, so
    // no two threads write the same row and every write is a contiguous C-float row.
#pragma omp parallel
    {
        const int nth = omp_get_num_threads(), me = omp_get_thread_num();
        for (int n = 0; n < N; n++) {
            const float *d = dm + (size_t)n * C;
            for (int k = 0; k < K; k++) {
                const uint16_t *row = bank + (size_t)idx[(size_t)n * K + k] * LK;
                float wk = w[(size_t)n * K + k];
                if (wk == 0.0f) continue;
                int cnt = mm_entry_count(row, LK);
                float c = wk / (float)cnt;  // cnt > 0: a row with a token below
                for (int t = 0; t < LK; t++) {
                    if (row[t] == MM_MEMORY_PAD || row[t] % nth != me) continue;
                    float *dst = dwte + (size_t)row[t] * C;
#pragma omp simd
                    for (int i = 0; i < C; i++) dst[i] += c * d[i];
                }
            }
        }
    }
}
