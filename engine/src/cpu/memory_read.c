// Read-out of the memory layer (minimind/memory.h): candidate values are the mean tied embedding
// of each entry's non-padding tokens, weighted by the read-out weights.
//   N rows, K candidates, LK tokens per entry, C model dim, U distinct entries of a chunk of rows;
//   bank (NUM, LK), wte (V, C)
//   forward:  m[n] = sum_k w[n,k] v_e,  v_e = 1/cnt_e * sum_{t in e, t != pad} wte[t]   (e = idx[n,k])
//   backward: dw[n,k] = dm[n] . v_e;  dv_e = sum_{(n,k) reading e} w[n,k] dm[n];
//             dwte[t] += dv_e / cnt_e for every token t of e
// The rows are processed in chunks; the values of the chunk's U distinct entries are built once
// (U x LK gathers instead of rows x K x LK: rows reading the same entries share them), in a scratch
// buffer allocated here. Scatters never race: a thread owns a residue class of entries (dv) or of
// token ids (dwte) and writes whole rows. Should the scratch allocation fail, a direct per-row path
// (no sharing) gives the same result.
#include <omp.h>
#include <stdlib.h>

#include "cpu_ops.h"
#include "minimind/memory.h"

static inline int mm_entry_count(const uint16_t *row, int LK) {
    int c = 0;
    for (int t = 0; t < LK; t++) c += row[t] != MM_MEMORY_PAD;
    return c;
}

// ---- the chunk's distinct entries ----

typedef struct mm_uniq {
    int R;            // rows per chunk
    int cap;          // hash slots (power of two >= 2 R K)
    int32_t *key;     // (cap) entry or -1
    int32_t *val;     // (cap) index into ent
    int32_t *ent;     // (R K) distinct entries of the chunk
    int32_t *slot;    // (R K) index of (n, k) into ent
    float *v;         // (R K, C) values of ent
    float *dv;        // (R K, C) their gradients (backward)
    int U;
} mm_uniq;

static void mm_uniq_free(mm_uniq *u) {
    free(u->key), free(u->val), free(u->ent), free(u->slot), free(u->v), free(u->dv);
}

// Scratch for chunks of about 2M floats of values (>= 1 row). Returns 0, or -1 (nothing allocated).
static int mm_uniq_alloc(mm_uniq *u, int N, int K, int C, int backward) {
    long R = (2L << 20) / ((long)K * C);
    if (R < 1) R = 1;
    if (R > N) R = N;
    u->R = (int)R;
    u->cap = 1;
    while (u->cap < 2 * u->R * K) u->cap <<= 1;
    size_t RK = (size_t)u->R * K;
    u->key = malloc(sizeof(int32_t) * (size_t)u->cap);
    u->val = malloc(sizeof(int32_t) * (size_t)u->cap);
    u->ent = malloc(sizeof(int32_t) * RK);
    u->slot = malloc(sizeof(int32_t) * RK);
    u->v = malloc(sizeof(float) * RK * (size_t)C);
    u->dv = backward ? malloc(sizeof(float) * RK * (size_t)C) : NULL;
    if (!u->key || !u->val || !u->ent || !u->slot || !u->v || (backward && !u->dv)) {
        mm_uniq_free(u);
        return -1;
    }
    return 0;
}

// Distinct entries of rows [n0, n0 + R) (in order of first appearance) and each (n, k)'s slot.
static void mm_uniq_build(mm_uniq *u, const int32_t *idx, int n0, int R, int K) {
    const uint32_t mask = (uint32_t)u->cap - 1;
    for (int i = 0; i < u->cap; i++) u->key[i] = -1;
    u->U = 0;
    for (int i = 0; i < R * K; i++) {
        int32_t e = idx[(size_t)n0 * K + i];
        uint32_t h = ((uint32_t)e * 2654435761u) & mask;
        while (u->key[h] != -1 && u->key[h] != e) h = (h + 1) & mask;
        if (u->key[h] == -1) {
            u->key[h] = e;
            u->val[h] = u->U;
            u->ent[u->U++] = e;
        }
        u->slot[i] = u->val[h];
    }
}

// v[j] = mean embedding of entry ent[j] (0 when empty).
static void mm_uniq_values(mm_uniq *u, const uint16_t *bank, int LK, const float *wte, int C) {
#pragma omp parallel for schedule(dynamic, 16)
    for (int j = 0; j < u->U; j++) {
        const uint16_t *row = bank + (size_t)u->ent[j] * LK;
        float *o = u->v + (size_t)j * C;
        memset(o, 0, sizeof(float) * (size_t)C);
        int cnt = mm_entry_count(row, LK);
        if (cnt == 0) continue;
        for (int t = 0; t < LK; t++) {
            if (row[t] == MM_MEMORY_PAD) continue;
            const float *e = wte + (size_t)row[t] * C;
#pragma omp simd
            for (int i = 0; i < C; i++) o[i] += e[i];
        }
        float inv = 1.0f / (float)cnt;
        for (int i = 0; i < C; i++) o[i] *= inv;
    }
}

// Rows [n0, n0 + R) of N as the next chunk: their distinct entries and values. Returns R.
static int mm_uniq_chunk(mm_uniq *u, const int32_t *idx, int n0, int N, int K, const uint16_t *bank, int LK,
                         const float *wte, int C) {
    int R = N - n0 < u->R ? N - n0 : u->R;
    mm_uniq_build(u, idx, n0, R, K);
    mm_uniq_values(u, bank, LK, wte, C);
    return R;
}

// ---- direct per-row path (fallback) ----

static void mm_read_forward_direct(float *m, const int32_t *idx, const float *w, const uint16_t *bank, int LK,
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

static void mm_read_backward_direct(float *dw, float *dwte, const float *dm, const int32_t *idx, const float *w,
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

// ---- the ops ----

void mm_cpu_memory_read_forward(float *m, const int32_t *idx, const float *w, const uint16_t *bank, int LK,
                                const float *wte, int N, int K, int C, int V) {
    (void)V;  // the CPU gathers the entries' rows
    mm_uniq u;
    if (mm_uniq_alloc(&u, N, K, C, 0) != 0) {
        mm_read_forward_direct(m, idx, w, bank, LK, wte, N, K, C);
        return;
    }
    for (int n0 = 0; n0 < N; n0 += u.R) {
        const int R = mm_uniq_chunk(&u, idx, n0, N, K, bank, LK, wte, C);
#pragma omp parallel for schedule(static)
        for (int r = 0; r < R; r++) {
            float *o = m + (size_t)(n0 + r) * C;
            memset(o, 0, sizeof(float) * (size_t)C);
            for (int k = 0; k < K; k++) {
                float c = w[(size_t)(n0 + r) * K + k];
                if (c == 0.0f) continue;
                const float *v = u.v + (size_t)u.slot[r * K + k] * C;
#pragma omp simd
                for (int i = 0; i < C; i++) o[i] += c * v[i];
            }
        }
    }
    mm_uniq_free(&u);
}

void mm_cpu_memory_read_backward(float *dw, float *dwte, const float *dm, const int32_t *idx, const float *w,
                                 const uint16_t *bank, int LK, const float *wte, int N, int K, int C, int V) {
    (void)V;  // the vocabulary size is only needed by the CUDA kernel (dense (rows, V) coefficients)
    mm_uniq u;
    if (mm_uniq_alloc(&u, N, K, C, 1) != 0) {
        mm_read_backward_direct(dw, dwte, dm, idx, w, bank, LK, wte, N, K, C);
        return;
    }
    for (int n0 = 0; n0 < N; n0 += u.R) {
        const int R = mm_uniq_chunk(&u, idx, n0, N, K, bank, LK, wte, C);
        // dw[n,k] = dm[n] . v
#pragma omp parallel for schedule(static)
        for (int r = 0; r < R; r++) {
            const float *d = dm + (size_t)(n0 + r) * C;
            for (int k = 0; k < K; k++) {
                const float *v = u.v + (size_t)u.slot[r * K + k] * C;
                float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
                for (int i = 0; i < C; i++) acc += d[i] * v[i];
                dw[(size_t)(n0 + r) * K + k] = acc;
            }
        }
        // dv[j] = sum w dm over the reads of entry j (thread `me` owns slots j % nth == me)
#pragma omp parallel
        {
            const int nth = omp_get_num_threads(), me = omp_get_thread_num();
            for (int j = me; j < u.U; j += nth) memset(u.dv + (size_t)j * C, 0, sizeof(float) * (size_t)C);
            for (int i = 0; i < R * K; i++) {
                int j = u.slot[i];
                float c = w[(size_t)n0 * K + i];
                if (j % nth != me || c == 0.0f) continue;
                const float *d = dm + (size_t)(n0 + i / K) * C;
                float *o = u.dv + (size_t)j * C;
#pragma omp simd
                for (int x = 0; x < C; x++) o[x] += c * d[x];
            }
        }
        // dwte[t] += dv[j] / cnt for every token of entry j (thread `me` owns token ids t % nth == me)
#pragma omp parallel
        {
            const int nth = omp_get_num_threads(), me = omp_get_thread_num();
            for (int j = 0; j < u.U; j++) {
                const uint16_t *row = bank + (size_t)u.ent[j] * LK;
                int cnt = mm_entry_count(row, LK);
                if (cnt == 0) continue;
                float inv = 1.0f / (float)cnt;
                const float *g = u.dv + (size_t)j * C;
                for (int t = 0; t < LK; t++) {
                    if (row[t] == MM_MEMORY_PAD || row[t] % nth != me) continue;
                    float *dst = dwte + (size_t)row[t] * C;
#pragma omp simd
                    for (int x = 0; x < C; x++) dst[x] += inv * g[x];
                }
            }
        }
    }
    mm_uniq_free(&u);
}
