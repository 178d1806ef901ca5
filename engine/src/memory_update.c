// Usage statistics of the memory bank and its EMA updates (memory_update = ema); see
// minimind/memory.h. Dimension names: N rows, K candidates, C model dim, V vocabulary, LK tokens
// per entry, P positions re-tokenized at once.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "minimind/memory.h"

const char *mm_memory_update_name(mm_memory_update u) {
    return u == MM_MEMORY_UPDATE_EMA ? "ema" : u == MM_MEMORY_UPDATE_FROZEN ? "frozen" : "unknown";
}

int mm_memory_tracker_init(mm_memory_tracker *t, int num, int C, int ema) {
    memset(t, 0, sizeof *t);
    t->num = num;
    t->C = C;
    t->ema = ema;
    t->usage = mm_calloc((size_t)num, sizeof *t->usage);
    t->slot = mm_malloc((size_t)num * sizeof *t->slot);
    if (!t->usage || !t->slot) {
        mm_memory_tracker_free(t);
        return mm_error_prefix("memory: usage statistics for %d entries", num);
    }
    for (int i = 0; i < num; i++) t->slot[i] = -1;
    return 0;
}

void mm_memory_tracker_free(mm_memory_tracker *t) {
    free(t->usage);
    free(t->slot);
    free(t->hsum);
    free(t->wsum);
    free(t->slot_entry);
    memset(t, 0, sizeof *t);
}

void mm_memory_tracker_clear_ema(mm_memory_tracker *t) {
    for (int s = 0; s < t->n_slots; s++) t->slot[t->slot_entry[s]] = -1;
    t->n_slots = 0;
}

static int mm_tracker_grow(mm_memory_tracker *t, int need) {
    if (need <= t->cap) return 0;
    int cap = t->cap ? t->cap : 256;
    while (cap < need) cap *= 2;
    float *h = mm_realloc(t->hsum, (size_t)cap * t->C * sizeof *h);
    if (!h) return -1;
    t->hsum = h;
    double *w = mm_realloc(t->wsum, (size_t)cap * sizeof *w);
    if (!w) return -1;
    t->wsum = w;
    int32_t *e = mm_realloc(t->slot_entry, (size_t)cap * sizeof *e);
    if (!e) return -1;
    t->slot_entry = e;
    t->cap = cap;
    return 0;
}

int mm_memory_tracker_add(mm_memory_tracker *t, const int32_t *idx, const float *w, const float *h, int N, int K) {
    const size_t NK = (size_t)N * K;
    for (size_t i = 0; i < NK; i++) t->usage[idx[i]] += w[i];
    if (!t->ema) return 0;
    for (size_t i = 0; i < NK; i++) {
        int32_t e = idx[i];
        if (w[i] == 0.0f || t->slot[e] >= 0) continue;
        if (mm_tracker_grow(t, t->n_slots + 1) != 0) return mm_error_prefix("memory: EMA accumulators");
        int s = t->n_slots++;
        t->slot[e] = s;
        t->slot_entry[s] = e;
        t->wsum[s] = 0.0;
        memset(t->hsum + (size_t)s * t->C, 0, sizeof(float) * (size_t)t->C);
    }
    for (size_t i = 0; i < NK; i++)
        if (w[i] != 0.0f) t->wsum[t->slot[idx[i]]] += w[i];
    // hsum[slot(e)] += w * h[n]: parallel over column blocks, so no two threads touch one value.
    const int C = t->C;
    enum { CB = 64 };
    int nblk = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, c1 = c0 + CB < C ? c0 + CB : C;
        for (size_t i = 0; i < NK; i++) {
            if (w[i] == 0.0f) continue;
            float *dst = t->hsum + (size_t)t->slot[idx[i]] * C;
            const float *src = h + (i / (size_t)K) * C;
            for (int c = c0; c < c1; c++) dst[c] += w[i] * src[c];
        }
    }
    return 0;
}

void mm_memory_stats_take(mm_memory_tracker *t, mm_memory_stats *st, int reset) {
    double total = 0.0;
    long used = 0;
    for (int e = 0; e < t->num; e++) {
        total += t->usage[e];
        used += t->usage[e] > 0.0;
    }
    double H = 0.0;
    if (total > 0)
        for (int e = 0; e < t->num; e++)
            if (t->usage[e] > 0.0) {
                double p = t->usage[e] / total;
                H -= p * log(p);
            }
    st->used_fraction = (double)used / (double)t->num;
    st->entropy = H;
    st->kl_uniform = total > 0 ? log((double)t->num) - H : 0.0;
    st->rewritten = t->rewritten;
    st->updates = t->updates;
    if (reset) {
        memset(t->usage, 0, sizeof(double) * (size_t)t->num);
        t->rewritten = 0;
        t->updates = 0;
    }
}

// Re-tokenizes P positions X (P, C) (already multiplied by the norm weight): ids[p] = argmax_v
// logits[p, v] with logits = X wte^T (P, V) (lowest id on ties).
static void mm_argmax_rows(const float *logits, int P, int V, uint16_t *ids) {
#pragma omp parallel for schedule(static)
    for (int p = 0; p < P; p++) {
        const float *l = logits + (size_t)p * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (l[v] > l[best]) best = v;
        ids[p] = (uint16_t)best;
    }
}

// wte (V, C) and norm_w (C) are backend memory; the bank, X, the logits and the argmax are on the
// host. On a device backend the embeddings and the norm weight are copied to the host once and X /
// the logits travel through device buffers (dX, dlogits) around the sgemm; on the CPU those are the
// host arrays themselves.
long mm_memory_ema_update(const mm_backend *be, mm_memory_tracker *t, uint16_t *bank, int LK, const float *wte,
                          const float *norm_w, int V, int C, float decay, int frozen_below) {
    enum { ENTRIES = 64 };  // entries re-tokenized per sgemm
    const int host = be->host_resident;
    const size_t nX = (size_t)ENTRIES * LK * C, nL = (size_t)ENTRIES * LK * V;
    float *X = mm_malloc(sizeof(float) * nX);                                // (P, C)
    float *logits = mm_malloc(sizeof(float) * nL);                           // (P, V)
    uint16_t *ids = mm_malloc(sizeof(uint16_t) * (size_t)ENTRIES * LK);     // (P)
    int32_t *ents = mm_malloc(sizeof(int32_t) * ENTRIES);
    const float *dwte = wte;  // the sgemm's operand (backend memory)
    float *hwte = NULL, *hnorm = NULL, *dX = host ? X : NULL, *dlogits = host ? logits : NULL;
    long changed = 0;
    if (!host && t->n_slots > 0) {
        hwte = mm_malloc(sizeof(float) * (size_t)V * C);
        hnorm = mm_malloc(sizeof(float) * (size_t)C);
        dX = be->alloc(sizeof(float) * nX);
        dlogits = be->alloc(sizeof(float) * nL);
        if (hwte && hnorm) {
            be->copy_d2h(hwte, wte, sizeof(float) * (size_t)V * C);
            be->copy_d2h(hnorm, norm_w, sizeof(float) * (size_t)C);
        }
        if (!hwte || !hnorm || !dX || !dlogits || (be->check && be->check() != 0)) {
            changed = -1;
            goto done;
        }
        wte = hwte;
        norm_w = hnorm;
    }
    if (!X || !logits || !ids || !ents) {
        changed = -1;
        goto done;
    }
    int s = 0;
    while (s < t->n_slots) {
        int ne = 0;
        for (; s < t->n_slots && ne < ENTRIES; s++) {
            int32_t e = t->slot_entry[s];
            if (e < frozen_below || !(t->wsum[s] > 0.0)) continue;
            float inv = (float)(1.0 / t->wsum[s]);
            const float *hs = t->hsum + (size_t)s * C;
            for (int p = 0; p < LK; p++) {
                float *x = X + ((size_t)ne * LK + p) * C;
                const float *emb = wte + (size_t)bank[(size_t)e * LK + p] * C;
                for (int c = 0; c < C; c++) x[c] = (decay * emb[c] + (1.0f - decay) * hs[c] * inv) * norm_w[c];
            }
            ents[ne++] = e;
        }
        if (ne == 0) continue;
        int P = ne * LK;
        if (host) {
            be->matmul_forward(logits, X, wte, P, C, V, 0);  // (P, V)
        } else {
            be->copy_h2d(dX, X, sizeof(float) * (size_t)P * C);
            be->matmul_forward(dlogits, dX, dwte, P, C, V, 0);
            be->copy_d2h(logits, dlogits, sizeof(float) * (size_t)P * V);
            if (be->check && be->check() != 0) {
                changed = -1;
                goto done;
            }
        }
        mm_argmax_rows(logits, P, V, ids);
        for (int i = 0; i < ne; i++) {
            uint16_t *row = bank + (size_t)ents[i] * LK;
            if (memcmp(row, ids + (size_t)i * LK, sizeof(uint16_t) * (size_t)LK) != 0) changed++;
            memcpy(row, ids + (size_t)i * LK, sizeof(uint16_t) * (size_t)LK);
        }
    }
    t->rewritten += changed;
    t->updates++;
done:
    mm_memory_tracker_clear_ema(t);
    free(X);
    free(logits);
    free(ids);
    free(ents);
    if (!host) {
        free(hwte);
        free(hnorm);
        be->free(dX);
        be->free(dlogits);
    }
    return changed;
}
