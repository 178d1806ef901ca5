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

// ---- EMA sums (one level: `step` or `window`)

static int mm_sums_init(mm_memory_ema_sums *s, int num) {
    memset(s, 0, sizeof *s);
    s->slot = mm_malloc((size_t)num * sizeof *s->slot);
    if (!s->slot) return -1;
    for (int i = 0; i < num; i++) s->slot[i] = -1;
    return 0;
}

static void mm_sums_free(mm_memory_ema_sums *s) {
    free(s->slot);
    free(s->hsum);
    free(s->wsum);
    free(s->slot_entry);
    memset(s, 0, sizeof *s);
}

static void mm_sums_clear(mm_memory_ema_sums *s) {
    for (int i = 0; i < s->n_slots; i++) s->slot[s->slot_entry[i]] = -1;
    s->n_slots = 0;
}

static int mm_sums_grow(mm_memory_ema_sums *s, int need, int C) {
    if (need <= s->cap) return 0;
    int cap = s->cap ? s->cap : 256;
    while (cap < need) cap *= 2;
    float *h = mm_realloc(s->hsum, (size_t)cap * C * sizeof *h);
    if (!h) return -1;
    s->hsum = h;
    double *w = mm_realloc(s->wsum, (size_t)cap * sizeof *w);
    if (!w) return -1;
    s->wsum = w;
    int32_t *e = mm_realloc(s->slot_entry, (size_t)cap * sizeof *e);
    if (!e) return -1;
    s->slot_entry = e;
    s->cap = cap;
    return 0;
}

// The slot of entry e, created (zeroed) when it has none. -1 when out of memory.
static int mm_sums_slot(mm_memory_ema_sums *s, int32_t e, int C) {
    if (s->slot[e] >= 0) return s->slot[e];
    if (mm_sums_grow(s, s->n_slots + 1, C) != 0) return -1;
    int i = s->n_slots++;
    s->slot[e] = i;
    s->slot_entry[i] = e;
    s->wsum[i] = 0.0;
    memset(s->hsum + (size_t)i * C, 0, sizeof(float) * (size_t)C);
    return i;
}

// ---- the tracker

int mm_memory_tracker_init(mm_memory_tracker *t, int num, int C, int ema) {
    memset(t, 0, sizeof *t);
    t->num = num;
    t->C = C;
    t->ema = ema;
    t->usage = mm_calloc((size_t)num, sizeof *t->usage);
    if (!t->usage || mm_sums_init(&t->step, num) != 0 || mm_sums_init(&t->window, num) != 0) {
        mm_memory_tracker_free(t);
        return mm_error_prefix("memory: usage statistics for %d entries", num);
    }
    return 0;
}

void mm_memory_tracker_free(mm_memory_tracker *t) {
    free(t->usage);
    mm_sums_free(&t->step);
    mm_sums_free(&t->window);
    memset(t, 0, sizeof *t);
}

void mm_memory_tracker_clear_ema(mm_memory_tracker *t) {
    mm_sums_clear(&t->step);
    mm_sums_clear(&t->window);
}

void mm_memory_tracker_drop_step(mm_memory_tracker *t) { mm_sums_clear(&t->step); }

int mm_memory_tracker_add(mm_memory_tracker *t, const int32_t *idx, const float *w, const float *h, int N, int K) {
    const size_t NK = (size_t)N * K;
    for (size_t i = 0; i < NK; i++) t->usage[idx[i]] += w[i];
    if (!t->ema) return 0;
    mm_memory_ema_sums *s = &t->step;
    const int C = t->C;
    for (size_t i = 0; i < NK; i++)
        if (w[i] != 0.0f && mm_sums_slot(s, idx[i], C) < 0) return mm_error_prefix("memory: EMA accumulators");
    for (size_t i = 0; i < NK; i++)
        if (w[i] != 0.0f) s->wsum[s->slot[idx[i]]] += w[i];
    // hsum[slot(e)] += w * h[n]: parallel over column blocks, so no two threads touch one value.
    enum { CB = 64 };
    int nblk = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, c1 = c0 + CB < C ? c0 + CB : C;
        for (size_t i = 0; i < NK; i++) {
            if (w[i] == 0.0f) continue;
            float *dst = s->hsum + (size_t)s->slot[idx[i]] * C;
            const float *src = h + (i / (size_t)K) * C;
            for (int c = c0; c < c1; c++) dst[c] += w[i] * src[c];
        }
    }
    return 0;
}

int mm_memory_tracker_commit(mm_memory_tracker *t) {
    mm_memory_ema_sums *s = &t->step, *win = &t->window;
    const int C = t->C;
    for (int i = 0; i < s->n_slots; i++) {
        int j = mm_sums_slot(win, s->slot_entry[i], C);
        if (j < 0) return mm_error_prefix("memory: EMA accumulators");
        win->wsum[j] += s->wsum[i];
        float *dst = win->hsum + (size_t)j * C;
        const float *src = s->hsum + (size_t)i * C;
        for (int c = 0; c < C; c++) dst[c] += src[c];
    }
    mm_sums_clear(s);
    return 0;
}

// ---- the EMA window in a checkpoint

enum { MM_EMA_WINDOW_VERSION = 1, MM_EMA_HEADER = 16 };

static void mm_put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t mm_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t mm_ema_record_bytes(int C) { return 4 + 8 + 4 * (size_t)C; }

int mm_memory_tracker_save_window(const mm_memory_tracker *t, uint8_t **buf, size_t *len) {
    const mm_memory_ema_sums *w = &t->window;
    *buf = NULL;
    *len = 0;
    if (w->n_slots == 0) return 0;
    size_t rec = mm_ema_record_bytes(t->C), n = MM_EMA_HEADER + (size_t)w->n_slots * rec;
    uint8_t *b = mm_malloc(n);
    if (!b) return mm_error_prefix("memory: saving the EMA window");
    mm_put_u32(b, MM_EMA_WINDOW_VERSION);
    mm_put_u32(b + 4, (uint32_t)t->num);
    mm_put_u32(b + 8, (uint32_t)t->C);
    mm_put_u32(b + 12, (uint32_t)w->n_slots);
    for (int i = 0; i < w->n_slots; i++) {  // little-endian host (x86-64, aarch64), as safetensors
        uint8_t *r = b + MM_EMA_HEADER + (size_t)i * rec;
        memcpy(r, &w->slot_entry[i], 4);
        memcpy(r + 4, &w->wsum[i], 8);
        memcpy(r + 12, w->hsum + (size_t)i * t->C, 4 * (size_t)t->C);
    }
    *buf = b;
    *len = n;
    return 0;
}

int mm_memory_tracker_load_window(mm_memory_tracker *t, const uint8_t *buf, size_t len, const char *what) {
    mm_memory_tracker_clear_ema(t);
    if (len == 0) return 0;
    if (len < MM_EMA_HEADER) return mm_errorf("%s: memory_ema: %zu bytes, shorter than its header", what, len);
    uint32_t ver = mm_get_u32(buf), num = mm_get_u32(buf + 4), C = mm_get_u32(buf + 8), n = mm_get_u32(buf + 12);
    if (ver != MM_EMA_WINDOW_VERSION)
        return mm_errorf("%s: memory_ema: version %u, this build reads version %d", what, ver, MM_EMA_WINDOW_VERSION);
    if (num != (uint32_t)t->num || C != (uint32_t)t->C)
        return mm_errorf("%s: memory_ema: saved for knowledge_num %u and dim %u, the model has %d and %d", what, num,
                         C, t->num, t->C);
    size_t rec = mm_ema_record_bytes(t->C);
    if (n > num || len != MM_EMA_HEADER + (size_t)n * rec)
        return mm_errorf("%s: memory_ema: %zu bytes do not hold %u entries of dim %u (truncated or corrupt)", what,
                         len, n, C);
    mm_memory_ema_sums *w = &t->window;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *r = buf + MM_EMA_HEADER + (size_t)i * rec;
        int32_t e;
        double ws;
        memcpy(&e, r, 4);
        memcpy(&ws, r + 4, 8);
        if (e < 0 || e >= t->num) {
            mm_memory_tracker_clear_ema(t);
            return mm_errorf("%s: memory_ema: entry %d is out of range (knowledge_num %d)", what, e, t->num);
        }
        if (w->slot[e] >= 0 || !isfinite(ws)) {
            mm_memory_tracker_clear_ema(t);
            return mm_errorf("%s: memory_ema: entry %d is %s", what, e, isfinite(ws) ? "listed twice" : "not finite");
        }
        int j = mm_sums_slot(w, e, t->C);
        if (j < 0) {
            mm_memory_tracker_clear_ema(t);
            return mm_error_prefix("memory: loading the EMA window");
        }
        w->wsum[j] = ws;
        memcpy(w->hsum + (size_t)j * t->C, r + 12, 4 * (size_t)t->C);
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
    const mm_memory_ema_sums *w = &t->window;
    if (mm_memory_tracker_commit(t) != 0) {
        changed = -1;
        goto done;
    }
    if (!host && w->n_slots > 0) {
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
    while (s < w->n_slots) {
        int ne = 0;
        for (; s < w->n_slots && ne < ENTRIES; s++) {
            int32_t e = w->slot_entry[s];
            if (e < frozen_below || !(w->wsum[s] > 0.0)) continue;
            float inv = (float)(1.0 / w->wsum[s]);
            const float *hs = w->hsum + (size_t)s * C;
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
