// The second half of a block in the memory variants (see minimind/model.h, minimind/memory.h):
//   z = RMSNorm(h) (computed by model.c), m = Memory(z)
//   model:          out = h + w2(silu(w1 [z; m]) * w3 [z; m])    w1, w3 (F, 2C), w2 (C, F)
//   model_no_feed:  out = h + m
// Dimension names: N rows (B*T), C model dim, D knowledge_dim, K candidates, F fusion hidden.
// Every buffer the ops touch is backend memory (the bank through m->dbank); on a device backend the
// host-side work (Gumbel noise, usage statistics) goes through the host staging buffer m->mhost.
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "model_ffn_bf16.h"
#include "model_memory.h"

int mm_model_memory_setup(mm_model *m, int num_candidates, mm_memory_select select) {
    if (mm_memory_shape_init(&m->ms, &m->config, num_candidates, select) != 0) return mm_error_prefix("model");
    m->mem = 1;
    if (m->config.model_type == MM_MODEL_MEMORY) {
        // About the FFN's parameters: 5 C F ~ 3 C hidden_dim, rounded up to multiple_of.
        int mo = m->config.multiple_of;
        long f = (3L * m->config.hidden_dim + 5L * mo - 1) / (5L * mo) * mo;
        m->F = (int)f;
        m->CF = 2 * m->C;
    } else {
        m->F = 0;
        m->CF = 0;
    }
    size_t n = (size_t)m->ms.num * (size_t)m->ms.LK;
    m->bank = mm_calloc(n, sizeof(uint16_t));  // all padding until a bank is loaded
    if (!m->bank) return mm_error_prefix("model: memory bank of %zu ids", n);
    m->mem_muted = mm_calloc((size_t)m->L, 1);
    if (!m->mem_muted) return mm_error_prefix("model: memory layer switches");
    if (m->be->host_resident) {
        m->dbank = m->bank;
        return 0;
    }
    m->dbank = m->be->alloc(n * sizeof(uint16_t));
    if (!m->dbank) return mm_error_prefix("model: memory bank of %zu ids on %s", n, m->be->name);
    m->be->zero(m->dbank, n * sizeof(uint16_t));
    return 0;
}

void mm_model_memory_free(mm_model *m) {
    const mm_backend *b = m->be ? m->be : mm_backend_cpu();
    if (m->dbank != m->bank) b->free(m->dbank);
    free(m->bank);
    free(m->mem_muted);
    b->free(m->macts);
    b->free(m->mgacts);
    b->free(m->minfer);
    free(m->mhost);
    m->bank = m->dbank = NULL;
    m->mem_muted = NULL;
    m->macts = m->mgacts = m->minfer = m->mhost = NULL;
}

int mm_model_sync_bank(mm_model *m) {
    const mm_backend *b = m->be;
    if (!m->mem || b->host_resident) return 0;
    b->copy_h2d(m->dbank, m->bank, (size_t)m->ms.num * (size_t)m->ms.LK * sizeof(uint16_t));
    if (b->check && b->check() != 0) return mm_error_prefix("model: uploading the memory bank to %s", b->name);
    return 0;
}

int mm_model_set_bank(mm_model *m, const uint16_t *ids, const char *what) {
    if (!m->mem)
        return mm_errorf("%s: model_type %s has no memory bank", what, mm_model_type_name(m->config.model_type));
    size_t n = (size_t)m->ms.num * (size_t)m->ms.LK;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= m->V)
            return mm_errorf("%s: entry %zu position %zu holds token id %u, outside the vocabulary [0, %d)", what,
                             i / (size_t)m->ms.LK, i % (size_t)m->ms.LK, (unsigned)ids[i], m->V);
    memcpy(m->bank, ids, n * sizeof(uint16_t));
    return mm_model_sync_bank(m);
}

static size_t mm_layout_macts(mm_model *m, float *base, size_t N) {
    const size_t L = (size_t)m->L, C = (size_t)m->C, D = (size_t)m->ms.D, K = (size_t)m->ms.K;
    mm_activations *a = &m->a;
    size_t cur = 0;
    a->mq = mm_model_carve(base, &cur, L * N * D);
    a->midx = (int32_t *)mm_model_carve(base, &cur, L * N * K);  // int32 and float have the same size
    a->mscore = mm_model_carve(base, &cur, L * N * K);
    a->mw = mm_model_carve(base, &cur, L * N * K);
    a->mysoft = mm_model_carve(base, &cur, L * N * K);
    // zm: every layer's for the fusion's backward, or with the fusion in bf16 zm16 instead (built
    // in bf16 directly)
    const int f16 = m->ffn_bf16;
    a->zm = m->F && !f16 ? mm_model_carve(base, &cur, L * N * 2 * C) : NULL;
    a->zm16 = f16 ? mm_model_carve_bf16(base, &cur, L * N * 2 * C) : NULL;
    a->mout = mm_model_carve(base, &cur, N * C);
    a->mnoise = mm_model_carve(base, &cur, N * K);
    a->mscratch = mm_model_carve(base, &cur, mm_memory_scratch_floats(&m->ms, (int)N));
    return cur;
}
_Static_assert(sizeof(int32_t) == sizeof(float), "midx is carved from the float buffer");

int mm_model_memory_ensure_acts(mm_model *m) {
    const size_t N = (size_t)m->B * m->T;
    size_t n = mm_layout_macts(m, NULL, N);
    if (n > m->macts_cap) {
        m->be->free(m->macts);
        m->macts = m->be->alloc(n * sizeof(float));
        m->macts_cap = m->macts ? n : 0;
        if (!m->macts) return mm_error_prefix("model: memory activations (%.1f MB)", n * 4.0 / 1e6);
    }
    mm_layout_macts(m, m->macts, N);
    return 0;
}

int mm_model_memory_ensure_gacts(mm_model *m) {
    const size_t N = (size_t)m->B * m->T, C = (size_t)m->C;
    size_t n = N * 3 * C;  // dzm (N, 2C), dm (N, C)
    if (n > m->mgacts_cap) {
        m->be->free(m->mgacts);
        m->mgacts = m->be->alloc(n * sizeof(float));
        m->mgacts_cap = m->mgacts ? n : 0;
        if (!m->mgacts) return mm_error_prefix("model: memory activation gradients (%.1f MB)", n * 4.0 / 1e6);
    }
    m->ga.dzm = m->mgacts;
    m->ga.dm = m->mgacts + N * 2 * C;
    return 0;
}

// Layer l's slices of the saved memory activations.
static mm_memory_acts mm_layer_macts(const mm_model *m, int l, size_t N) {
    const size_t off = (size_t)l * N;
    const mm_activations *a = &m->a;
    mm_memory_acts ma = {a->mq + off * m->ms.D, a->midx + off * m->ms.K, a->mscore + off * m->ms.K,
                         a->mw + off * m->ms.K, a->mysoft + off * m->ms.K};
    return ma;
}

// Device backends: host staging for n floats (a layer's (N, K) Gumbel noise; every layer's
// (L, N, K) idx | (L, N, K) w for the tracker).
static float *mm_memory_staging(mm_model *m, size_t n) {
    if (n > m->mhost_cap) {
        free(m->mhost);
        m->mhost = mm_malloc(n * sizeof(float));
        m->mhost_cap = m->mhost ? n : 0;
        if (!m->mhost) mm_error_prefix("model: memory staging buffer (%.1f MB)", n * 4.0 / 1e6);
    }
    return m->mhost;
}

// The tracker reads idx and w on the host (one copy of every layer's on a device backend, after
// the forward: one wait instead of one per layer, when the device is idle anyway); the hidden
// states entering the memory layers (hres, (L, N, C)) stay where they are: the EMA sums are added by
// the backend (memory_update.c).
int mm_model_memory_track(mm_model *m, const float *hres, int N) {
    if (!m->tracker || !m->training) return 0;
    const mm_backend *be = m->be;
    const int K = m->ms.K;
    const size_t NK = (size_t)N * K, LNK = (size_t)m->L * NK, NC = (size_t)N * m->C;
    const mm_activations *a = &m->a;
    const int32_t *idx = a->midx;
    const float *w = a->mw;
    if (!be->host_resident) {
        float *st = mm_memory_staging(m, 2 * LNK);
        if (!st) return -1;
        be->copy_d2h(st, a->midx, LNK * sizeof(int32_t));
        be->copy_d2h(st + LNK, a->mw, LNK * sizeof(float));
        if (be->check && be->check() != 0) return mm_error_prefix("model: memory usage statistics");
        idx = (const int32_t *)st;
        w = st + LNK;
    }
    for (int l = 0; l < m->L; l++)
        if (mm_memory_tracker_add(m->tracker, idx + l * NK, w + l * NK, hres + l * NC, N, K) != 0) return -1;
    return 0;
}

// A muted layer (m->mem_muted[l]) reads an empty bank: mout (N, C) = 0, what an all-padding bank
// gives (every value v_e is 0), whatever the selection.
static void mm_mute_read(const mm_model *m, int l, float *mout, int N) {
    if (m->mem_muted[l]) m->be->zero(mout, (size_t)N * m->C * sizeof(float));
}

// out (N, C) = h + fusion(zm) or h + mout; h13 (N, 2F), g (N, F) for the fusion's backward.
static void mm_second_half(const mm_model *m, const mm_layer_weights *w, float *out, const float *h,
                           const float *z, const float *mout, float *zm, float *h13, float *g, int N) {
    const mm_backend *be = m->be;
    const int C = m->C;
    if (!m->F) {
        if (out != h) be->copy_d2d(out, h, (size_t)N * C * sizeof(float));
        be->copy_rows(out, C, mout, C, N, C, 1);  // out += mout
        return;
    }
    be->copy_rows(zm, 2 * C, z, C, N, C, 0);  // zm (N, 2C) = [z | mout]
    be->copy_rows(zm + C, 2 * C, mout, C, N, C, 0);
    be->matmul_forward(h13, zm, w->w13, N, m->CF, 2 * m->F, 0);  // (N, 2F)
    be->swiglu_forward(g, h13, N, m->F);                         // (N, F)
    if (out != h)
        mm_model_residual_matmul(be, out, h, g, w->w2, N, m->F, C);  // out = h + w2 g
    else
        be->matmul_forward(out, g, w->w2, N, m->F, C, 1);  // out += w2 g
}

// The same in training with the fusion MLP's activations in bf16 (m->ffn_bf16): its input zm16
// (N, 2C) = [z | mout] built in bf16 from the two fp32 halves (no fp32 [z | m]; until session 7
// two copies into an fp32 zm and a conversion) for the MLP (model_ffn_bf16.c).
static void mm_second_half_bf16(mm_model *m, int l, float *out, const float *h, const float *z,
                                const float *mout, int N) {
    const mm_backend *be = m->be;
    const int C = m->C;
    const mm_activations *a = &m->a;
    mm_bf16 *zm16 = a->zm16 + (size_t)l * N * 2 * C;
    be->to_bf16_rows(zm16, 2 * C, z, C, N, C);
    be->to_bf16_rows(zm16 + C, 2 * C, mout, C, N, C);
    mm_model_ffn_bf16_mlp_forward(m, l, zm16, h, out);  // out = h + w2 g
}

int mm_model_memory_forward(mm_model *m, int l, const float *hres, const float *z, float *xo) {
    const int N = m->B * m->T;
    const size_t Ns = (size_t)N;
    mm_activations *a = &m->a;
    const mm_layer_weights *w = &m->layers[l];
    mm_memory_acts ma = mm_layer_macts(m, l, Ns);
    mm_memory_weights mw = {w->mem_query, w->mem_keys};
    const float *noise = NULL;
    if (m->training && m->ms.select == MM_MEMORY_SELECT_GUMBEL) {  // drawn on the host
        const size_t nk = Ns * m->ms.K;
        float *hn = m->be->host_resident ? a->mnoise : mm_memory_staging(m, nk);
        if (!hn) return -1;
        mm_memory_gumbel_noise(hn, nk, m->noise_seed, m->noise_step * (uint64_t)m->L + (uint64_t)l);
        if (hn != a->mnoise) m->be->copy_h2d(a->mnoise, hn, nk * sizeof(float));
        noise = a->mnoise;
    }
    mm_memory_forward(m->be, &m->ms, &mw, m->dbank, m->tok_embeddings, z, noise, N, &ma, a->mout, a->mscratch);
    mm_mute_read(m, l, a->mout, N);
    if (m->ffn_bf16) {
        mm_second_half_bf16(m, l, xo, hres, z, a->mout, N);
        return 0;
    }
    float *zm = m->F ? a->zm + (size_t)l * Ns * 2 * m->C : NULL;
    float *h13 = a->h13 + (size_t)l * Ns * 2 * m->F, *g = a->g + (size_t)l * Ns * m->F;
    mm_second_half(m, w, xo, hres, z, a->mout, zm, h13, g, N);
    return 0;
}

void mm_model_memory_backward(mm_model *m, int l, const float *z) {
    const mm_backend *be = m->be;
    const int N = m->B * m->T, C = m->C, F = m->F;
    const size_t Ns = (size_t)N;
    const mm_activations *a = &m->a;
    const mm_grad_activations *ga = &m->ga;
    const mm_layer_weights *w = &m->layers[l], *dw = &m->dlayers[l];
    const float *dm = ga->dres;  // model_no_feed: out = h + m
    if (F && m->ffn_bf16) {  // the fusion MLP in bf16 (mm_second_half_bf16)
        mm_model_ffn_bf16_mlp_backward(m, l, a->zm16 + (size_t)l * Ns * 2 * C, ga->dzm,
                                       MM_STORE_F32);  // (N, 2C)
    } else if (F) {
        const float *zm = a->zm + (size_t)l * Ns * 2 * C;
        const float *h13 = a->h13 + (size_t)l * Ns * 2 * F, *g = a->g + (size_t)l * Ns * F;
        be->matmul_backward(ga->dg, dw->w2, ga->dres, g, w->w2, N, F, C, 0);
        be->swiglu_backward(ga->dh13, ga->dg, h13, N, F);
        be->matmul_backward(ga->dzm, dw->w13, ga->dh13, zm, w->w13, N, 2 * C, 2 * F, 0);  // (N, 2C)
    }
    if (F) {
        be->copy_rows(ga->dln, C, ga->dzm, 2 * C, N, C, 0);  // dzm (N, 2C) = [dz | dm]
        be->copy_rows(ga->dm, C, ga->dzm + C, 2 * C, N, C, 0);
        dm = ga->dm;
    } else {
        be->zero(ga->dln, Ns * C * sizeof(float));
    }
    if (m->mem_muted[l]) return;  // m = 0 is a constant: dz alone reaches z
    mm_memory_acts ma = mm_layer_macts(m, l, Ns);
    mm_memory_weights mw = {w->mem_query, w->mem_keys}, mdw = {dw->mem_query, dw->mem_keys};
    mm_memory_backward(be, &m->ms, &mw, &mdw, m->dbank, m->tok_embeddings, m->dtok_embeddings, z, &ma, dm, N, ga->dln,
                       a->mscratch);
}

int mm_model_memory_forward_cached(mm_model *m, int l, float *x, const float *z, int n) {
    const size_t S = (size_t)m->config.max_seq_len, C = (size_t)m->C, D = (size_t)m->ms.D, K = (size_t)m->ms.K;
    const size_t F = (size_t)m->F;
    size_t need = S * (D + 4 * K + C + (F ? 2 * C + 3 * F : 0)) + mm_memory_scratch_floats(&m->ms, (int)S);
    if (!m->minfer) {
        m->minfer = m->be->alloc(need * sizeof(float));
        if (!m->minfer) return mm_error_prefix("model: memory inference scratch");
    }
    float *p = m->minfer;
    mm_memory_acts ma;
    ma.q = p, p += S * D;
    ma.idx = (int32_t *)p, p += S * K;
    ma.score = p, p += S * K;
    ma.w = p, p += S * K;
    ma.ysoft = p, p += S * K;
    float *mout = p;
    p += S * C;
    float *zm = p, *h13 = p + (F ? S * 2 * C : 0), *g = h13 + S * 2 * F;
    p = g + S * F;
    const mm_layer_weights *w = &m->layers[l];
    mm_memory_weights mw = {w->mem_query, w->mem_keys};
    mm_memory_forward(m->be, &m->ms, &mw, m->dbank, m->tok_embeddings, z, NULL, n, &ma, mout, p);
    mm_mute_read(m, l, mout, n);
    mm_second_half(m, w, x, x, z, mout, zm, h13, g, n);
    return 0;
}

double mm_model_memory_flops(const mm_model *m, double N) {
    if (!m->mem) return 0.0;
    const double C = m->C, D = m->ms.D, S = m->ms.S, K = m->ms.K, LK = m->ms.LK;
    return 2.0 * N * C * D      // query
           + 2.0 * N * S * D    // product-key scores (both halves: 2 * S * D/2 each)
           + 2.0 * N * K * LK * C;  // candidate values and read-out
}
