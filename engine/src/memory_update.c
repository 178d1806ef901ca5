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

// ---- EMA sums (one level: `step` or `window`); hsum is backend memory

static int mm_sums_init(mm_memory_ema_sums *s, int num) {
    memset(s, 0, sizeof *s);
    s->slot = mm_malloc((size_t)num * sizeof *s->slot);
    if (!s->slot) return -1;
    for (int i = 0; i < num; i++) s->slot[i] = -1;
    return 0;
}

static void mm_sums_free(mm_memory_ema_sums *s, const mm_backend *be) {
    free(s->slot);
    if (s->hsum) be->free(s->hsum);
    free(s->wsum);
    free(s->slot_entry);
    memset(s, 0, sizeof *s);
}

static void mm_sums_clear(mm_memory_ema_sums *s) {
    for (int i = 0; i < s->n_slots; i++) s->slot[s->slot_entry[i]] = -1;
    s->n_slots = 0;
}

// Room for `need` slots: the host arrays and the backend hsum (its rows kept).
static int mm_sums_grow(mm_memory_ema_sums *s, const mm_backend *be, int need, int C) {
    if (need <= s->cap) return 0;
    int cap = s->cap ? s->cap : 256;
    while (cap < need) cap *= 2;
    double *w = mm_realloc(s->wsum, (size_t)cap * sizeof *w);
    if (!w) return -1;
    s->wsum = w;
    int32_t *e = mm_realloc(s->slot_entry, (size_t)cap * sizeof *e);
    if (!e) return -1;
    s->slot_entry = e;
    float *h = be->alloc((size_t)cap * C * sizeof *h);
    if (!h) return -1;
    if (s->hsum) {
        be->copy_d2d(h, s->hsum, (size_t)s->n_slots * C * sizeof *h);
        be->free(s->hsum);
    }
    s->hsum = h;
    s->cap = cap;
    return 0;
}

// The slot of entry e, created when it has none (its wsum 0; its hsum row is zeroed by
// mm_sums_zero_new). -1 when out of memory.
static int mm_sums_slot(mm_memory_ema_sums *s, const mm_backend *be, int32_t e, int C) {
    if (s->slot[e] >= 0) return s->slot[e];
    if (mm_sums_grow(s, be, s->n_slots + 1, C) != 0) return -1;
    int i = s->n_slots++;
    s->slot[e] = i;
    s->slot_entry[i] = e;
    s->wsum[i] = 0.0;
    return i;
}

// Zeroes the hsum rows of the slots created since there were `first` (one backend call).
static void mm_sums_zero_new(mm_memory_ema_sums *s, const mm_backend *be, int first, int C) {
    if (s->n_slots > first) be->zero(s->hsum + (size_t)first * C, (size_t)(s->n_slots - first) * C * sizeof(float));
}

// ---- grouping reads by slot for memory_ema_accumulate

static void mm_groups_free_device(mm_memory_ema_groups *g, const mm_backend *be) {
    if (g->dslot) be->free(g->dslot);
    if (g->dstart) be->free(g->dstart);
    if (g->drows) be->free(g->drows);
    if (g->dws) be->free(g->dws);
    g->dslot = g->dstart = g->drows = NULL;
    g->dws = NULL;
    g->dcap = 0;
}

static void mm_groups_free(mm_memory_ema_groups *g, const mm_backend *be) {
    free(g->count), free(g->seg_slot), free(g->seg_start), free(g->rows), free(g->ws);
    mm_groups_free_device(g, be);
    memset(g, 0, sizeof *g);
}

// Room for `reads` reads and a count per slot of `slots` slots (new counts 0).
static int mm_groups_reserve(mm_memory_ema_groups *g, size_t reads, int slots) {
    if (slots > g->count_cap) {
        int32_t *c = mm_realloc(g->count, (size_t)slots * sizeof *c);
        if (!c) return -1;
        memset(c + g->count_cap, 0, (size_t)(slots - g->count_cap) * sizeof *c);
        g->count = c;
        g->count_cap = slots;
    }
    if (reads <= (size_t)g->cap) return 0;
    if (reads > INT32_MAX - 1) return mm_errorf("memory: %zu reads in one layer", reads);
    free(g->seg_slot), free(g->seg_start), free(g->rows), free(g->ws);
    g->seg_slot = mm_malloc(reads * sizeof(int32_t));
    g->seg_start = mm_malloc((reads + 1) * sizeof(int32_t));
    g->rows = mm_malloc(reads * sizeof(int32_t));
    g->ws = mm_malloc(reads * sizeof(float));
    g->cap = g->seg_slot && g->seg_start && g->rows && g->ws ? (int)reads : 0;
    return g->cap ? 0 : -1;
}

// dst (backend) += the grouped reads of rows of h (backend): segments in first-read order, the
// reads of a slot in read order. On a device backend the groups are uploaded first.
static int mm_groups_accumulate(mm_memory_ema_groups *g, const mm_backend *be, float *dst, int nseg, const float *h,
                                int C) {
    if (nseg == 0) return 0;
    const int32_t *slot = g->seg_slot, *start = g->seg_start, *rows = g->rows;
    const float *ws = g->ws;
    const int nreads = g->seg_start[nseg];
    if (!be->host_resident) {
        if (nreads + 1 > g->dcap) {
            mm_groups_free_device(g, be);
            g->dslot = be->alloc((size_t)g->cap * sizeof(int32_t));
            g->dstart = be->alloc(((size_t)g->cap + 1) * sizeof(int32_t));
            g->drows = be->alloc((size_t)g->cap * sizeof(int32_t));
            g->dws = be->alloc((size_t)g->cap * sizeof(float));
            g->dcap = g->dslot && g->dstart && g->drows && g->dws ? g->cap + 1 : 0;
            if (!g->dcap) return mm_error_prefix("memory: EMA accumulators on %s", be->name);
        }
        be->copy_h2d(g->dslot, slot, (size_t)nseg * sizeof(int32_t));
        be->copy_h2d(g->dstart, start, ((size_t)nseg + 1) * sizeof(int32_t));
        be->copy_h2d(g->drows, rows, (size_t)nreads * sizeof(int32_t));
        be->copy_h2d(g->dws, ws, (size_t)nreads * sizeof(float));
        slot = g->dslot, start = g->dstart, rows = g->drows, ws = g->dws;
    }
    be->memory_ema_accumulate(dst, slot, start, nseg, rows, ws, h, C);
    return 0;
}

// ---- the tracker

int mm_memory_tracker_init(mm_memory_tracker *t, const mm_backend *be, int num, int C, int ema) {
    memset(t, 0, sizeof *t);
    t->be = be;
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
    if (t->be) {
        mm_sums_free(&t->step, t->be);
        mm_sums_free(&t->window, t->be);
        mm_groups_free(&t->groups, t->be);
    }
    memset(t, 0, sizeof *t);
}

void mm_memory_tracker_clear_ema(mm_memory_tracker *t) {
    mm_sums_clear(&t->step);
    mm_sums_clear(&t->window);
}

void mm_memory_tracker_drop_step(mm_memory_tracker *t) { mm_sums_clear(&t->step); }

// The reads with w != 0 grouped by their `step` slot (slots created as needed): returns the
// number of segments, -1 when out of memory.
static int mm_tracker_group(mm_memory_tracker *t, const int32_t *idx, const float *w, size_t NK, int K) {
    mm_memory_ema_sums *s = &t->step;
    mm_memory_ema_groups *g = &t->groups;
    const int first = s->n_slots;
    for (size_t i = 0; i < NK; i++)
        if (w[i] != 0.0f && mm_sums_slot(s, t->be, idx[i], t->C) < 0) return -1;
    mm_sums_zero_new(s, t->be, first, t->C);
    if (mm_groups_reserve(g, NK, s->cap) != 0) return -1;
    int nseg = 0;
    for (size_t i = 0; i < NK; i++) {  // reads per slot, slots in first-read order
        if (w[i] == 0.0f) continue;
        const int32_t sl = s->slot[idx[i]];
        s->wsum[sl] += w[i];
        if (g->count[sl]++ == 0) g->seg_slot[nseg++] = sl;
    }
    g->seg_start[0] = 0;
    for (int k = 0; k < nseg; k++) {  // count becomes the segment's next free position
        const int32_t sl = g->seg_slot[k], n = g->count[sl];
        g->count[sl] = g->seg_start[k];
        g->seg_start[k + 1] = g->seg_start[k] + n;
    }
    for (size_t i = 0; i < NK; i++) {
        if (w[i] == 0.0f) continue;
        const int32_t j = g->count[s->slot[idx[i]]]++;
        g->rows[j] = (int32_t)(i / (size_t)K);
        g->ws[j] = w[i];
    }
    for (int k = 0; k < nseg; k++) g->count[g->seg_slot[k]] = 0;
    return nseg;
}

int mm_memory_tracker_add(mm_memory_tracker *t, const int32_t *idx, const float *w, const float *h, int N, int K) {
    const size_t NK = (size_t)N * K;
    for (size_t i = 0; i < NK; i++) t->usage[idx[i]] += w[i];
    if (!t->ema) return 0;
    const int nseg = mm_tracker_group(t, idx, w, NK, K);
    if (nseg < 0 || mm_groups_accumulate(&t->groups, t->be, t->step.hsum, nseg, h, t->C) != 0)
        return mm_error_prefix("memory: EMA accumulators");
    return 0;
}

int mm_memory_tracker_commit(mm_memory_tracker *t) {
    mm_memory_ema_sums *s = &t->step, *win = &t->window;
    mm_memory_ema_groups *g = &t->groups;
    const int C = t->C, first = win->n_slots, n = s->n_slots;
    if (n == 0) return 0;
    if (mm_groups_reserve(g, (size_t)n, 0) != 0) return mm_error_prefix("memory: EMA accumulators");
    for (int i = 0; i < n; i++) {  // window slot j += step slot i: one segment of one read each
        int j = mm_sums_slot(win, t->be, s->slot_entry[i], C);
        if (j < 0) return mm_error_prefix("memory: EMA accumulators");
        win->wsum[j] += s->wsum[i];
        g->seg_slot[i] = j, g->seg_start[i] = i, g->rows[i] = i, g->ws[i] = 1.0f;
    }
    g->seg_start[n] = n;
    mm_sums_zero_new(win, t->be, first, C);
    if (mm_groups_accumulate(g, t->be, win->hsum, n, s->hsum, C) != 0) return -1;
    mm_sums_clear(s);
    return 0;
}

float *mm_memory_tracker_hsum_to_host(const mm_memory_tracker *t, const mm_memory_ema_sums *level) {
    const size_t n = (size_t)level->n_slots * t->C;
    if (n == 0) return NULL;
    float *h = mm_malloc(n * sizeof *h);
    if (!h) {
        mm_error_prefix("memory: EMA sums (%.1f MB)", n * 4.0 / 1e6);
        return NULL;
    }
    t->be->copy_d2h(h, level->hsum, n * sizeof *h);
    return h;
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
    float *hsum = mm_memory_tracker_hsum_to_host(t, w);
    uint8_t *b = hsum ? mm_malloc(n) : NULL;
    if (!b) {
        free(hsum);
        return mm_error_prefix("memory: saving the EMA window");
    }
    mm_put_u32(b, MM_EMA_WINDOW_VERSION);
    mm_put_u32(b + 4, (uint32_t)t->num);
    mm_put_u32(b + 8, (uint32_t)t->C);
    mm_put_u32(b + 12, (uint32_t)w->n_slots);
    for (int i = 0; i < w->n_slots; i++) {  // little-endian host (x86-64, aarch64), as safetensors
        uint8_t *r = b + MM_EMA_HEADER + (size_t)i * rec;
        memcpy(r, &w->slot_entry[i], 4);
        memcpy(r + 4, &w->wsum[i], 8);
        memcpy(r + 12, hsum + (size_t)i * t->C, 4 * (size_t)t->C);
    }
    free(hsum);
    *buf = b;
    *len = n;
    return 0;
}

// 0 when a saved record (entry e, weight sum ws) can join the window being loaded, else the error.
static int mm_ema_record_check(const mm_memory_tracker *t, int32_t e, double ws, const char *what) {
    if (e < 0 || e >= t->num)
        return mm_errorf("%s: memory_ema: entry %d is out of range (knowledge_num %d)", what, e, t->num);
    if (t->window.slot[e] >= 0) return mm_errorf("%s: memory_ema: entry %d is listed twice", what, e);
    if (!isfinite(ws)) return mm_errorf("%s: memory_ema: entry %d is not finite", what, e);
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
    float *hsum = mm_malloc(((size_t)n * t->C + 1) * sizeof *hsum);  // the rows, in slot order
    if (!hsum) return mm_error_prefix("memory: loading the EMA window");
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *r = buf + MM_EMA_HEADER + (size_t)i * rec;
        int32_t e;
        double ws;
        memcpy(&e, r, 4);
        memcpy(&ws, r + 4, 8);
        const int bad = mm_ema_record_check(t, e, ws, what);
        const int j = bad ? -1 : mm_sums_slot(w, t->be, e, t->C);
        if (j < 0) {
            if (!bad) mm_error_prefix("memory: loading the EMA window");
            free(hsum);
            mm_memory_tracker_clear_ema(t);
            return -1;
        }
        w->wsum[j] = ws;
        memcpy(hsum + (size_t)j * t->C, r + 12, 4 * (size_t)t->C);
    }
    if (n) t->be->copy_h2d(w->hsum, hsum, (size_t)n * t->C * sizeof *hsum);  // slots 0 .. n-1: the window was empty
    free(hsum);
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
    float *hwte = NULL, *hnorm = NULL, *dX = host ? X : NULL, *dlogits = host ? logits : NULL, *hhsum = NULL;
    long changed = 0;
    const mm_memory_ema_sums *w = &t->window;
    const float *hsum = NULL;  // the window's hsum on the host
    if (mm_memory_tracker_commit(t) != 0) {
        changed = -1;
        goto done;
    }
    if (!host && w->n_slots > 0) {
        hwte = mm_malloc(sizeof(float) * (size_t)V * C);
        hnorm = mm_malloc(sizeof(float) * (size_t)C);
        dX = be->alloc(sizeof(float) * nX);
        dlogits = be->alloc(sizeof(float) * nL);
        hhsum = mm_memory_tracker_hsum_to_host(t, w);
        if (hwte && hnorm) {
            be->copy_d2h(hwte, wte, sizeof(float) * (size_t)V * C);
            be->copy_d2h(hnorm, norm_w, sizeof(float) * (size_t)C);
        }
        if (!hwte || !hnorm || !dX || !dlogits || !hhsum || (be->check && be->check() != 0)) {
            changed = -1;
            goto done;
        }
        wte = hwte;
        norm_w = hnorm;
    }
    hsum = host ? w->hsum : hhsum;
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
            const float *hs = hsum + (size_t)s * C;
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
        free(hhsum);
        be->free(dX);
        be->free(dlogits);
    }
    return changed;
}
