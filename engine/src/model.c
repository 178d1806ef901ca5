// The MiniMind baseline model: parameters, forward/backward side by side, KV-cache inference.
// See minimind/model.h for the memory layout. Dimension names: B batch, T time, N = B*T rows,
// C dim, L layers, H heads, KV kv heads, hs head size, F SwiGLU hidden, V vocabulary,
// QKV = C + 2*KV*hs (the fused wq|wk|wv output width).
#include "minimind/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/ops_math.h"
#include "minimind/error.h"
#include "minimind/splitmix.h"
#include "model_attention_bf16.h"
#include "model_ffn_bf16.h"
#include "model_memory.h"

// Every buffer an op touches (params, grads, rope tables, activations, inputs, KV cache) is
// allocated by the backend (host memory on the CPU, device memory on CUDA) and moved with its copy
// hooks; weights are initialised on the host and uploaded. See minimind/backend.h.

// ---------------------------------------------------------------------------------------------
// Parameters

// U(-bound, bound), as torch.nn.Linear's default (kaiming_uniform with a=sqrt(5)) = U(±1/sqrt(fan_in)).
static void mm_init_uniform(float *p, size_t n, float bound, uint64_t *rng) {
    for (size_t i = 0; i < n; i++) {
        float u = (float)(mm_splitmix64(rng) >> 40) * (1.0f / 16777216.0f);  // [0, 1)
        p[i] = (2.0f * u - 1.0f) * bound;
    }
}

static void mm_fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

static void mm_table_add3(mm_model *m, const char *name, float *data, int ndim, int64_t d0, int64_t d1, int64_t d2,
                          int tied) {
    mm_param *p = &m->table[m->n_table++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->data = data;
    p->grad = m->grads + (data - m->params);
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim > 1 ? d1 : 0;
    p->shape[2] = ndim > 2 ? d2 : 0;
    p->numel = (size_t)d0 * (size_t)(ndim > 1 ? d1 : 1) * (size_t)(ndim > 2 ? d2 : 1);
    p->tied = tied;
}

static void mm_table_add(mm_model *m, const char *name, float *data, int ndim, int64_t d0, int64_t d1, int tied) {
    mm_table_add3(m, name, data, ndim, d0, d1, 0, tied);
}

// Lays out params/grads and the layer views; the table follows PyTorch's state_dict order.
static void mm_layout_params(mm_model *m) {
    const size_t C = (size_t)m->C, F = (size_t)m->F, CF = (size_t)m->CF, KVd = (size_t)m->KV * m->hs;
    const size_t D = (size_t)m->ms.D, S = (size_t)m->ms.S;
    float *p = m->params;
    m->tok_embeddings = p;
    p += (size_t)m->V * C;
    mm_table_add(m, "tok_embeddings.weight", m->tok_embeddings, 2, m->V, m->C, 0);
    for (int l = 0; l < m->L; l++) {
        mm_layer_weights *w = &m->layers[l];
        char name[64];
        w->attention_norm = p;
        p += C;
        w->wqkv = p;
        p += (C + 2 * KVd) * C;
        w->wo = p;
        p += C * C;
        w->ffn_norm = p;
        p += C;
        w->w13 = F ? p : NULL;
        p += 2 * F * CF;
        w->w2 = F ? p : NULL;
        p += C * F;
        if (m->mem) {
            w->mem_query = p;
            p += D * C;
            w->mem_keys = p;
            p += S * D;
        }
#define MM_NAME(fmt) (snprintf(name, sizeof name, fmt, l), name)
        mm_table_add(m, MM_NAME("layers.%d.attention.wq.weight"), w->wqkv, 2, m->C, m->C, 0);
        mm_table_add(m, MM_NAME("layers.%d.attention.wk.weight"), w->wqkv + C * C, 2, (int64_t)KVd, m->C, 0);
        mm_table_add(m, MM_NAME("layers.%d.attention.wv.weight"), w->wqkv + (C + KVd) * C, 2, (int64_t)KVd, m->C, 0);
        mm_table_add(m, MM_NAME("layers.%d.attention.wo.weight"), w->wo, 2, m->C, m->C, 0);
        if (!m->mem) {
            mm_table_add(m, MM_NAME("layers.%d.feed_forward.w1.weight"), w->w13, 2, m->F, m->C, 0);
            mm_table_add(m, MM_NAME("layers.%d.feed_forward.w2.weight"), w->w2, 2, m->C, m->F, 0);
            mm_table_add(m, MM_NAME("layers.%d.feed_forward.w3.weight"), w->w13 + F * C, 2, m->F, m->C, 0);
        }
        mm_table_add(m, MM_NAME("layers.%d.attention_norm.weight"), w->attention_norm, 1, m->C, 0, 0);
        mm_table_add(m, MM_NAME("layers.%d.ffn_norm.weight"), w->ffn_norm, 1, m->C, 0, 0);
        if (m->mem) {
            mm_table_add(m, MM_NAME("layers.%d.memory.query.weight"), w->mem_query, 2, m->ms.D, m->C, 0);
            mm_table_add3(m, MM_NAME("layers.%d.memory.keys"), w->mem_keys, 3, 2, m->ms.S, m->ms.D / 2, 0);
        }
        if (m->mem && F) {  // `model`: the fusion MLP over [z; m]
            mm_table_add(m, MM_NAME("layers.%d.memory.fusion.w1.weight"), w->w13, 2, m->F, m->CF, 0);
            mm_table_add(m, MM_NAME("layers.%d.memory.fusion.w2.weight"), w->w2, 2, m->C, m->F, 0);
            mm_table_add(m, MM_NAME("layers.%d.memory.fusion.w3.weight"), w->w13 + F * CF, 2, m->F, m->CF, 0);
        }
#undef MM_NAME
    }
    m->norm = p;
    p += C;
    mm_table_add(m, "norm.weight", m->norm, 1, m->C, 0, 0);
    mm_table_add(m, "output.weight", m->tok_embeddings, 2, m->V, m->C, 1);
    // Gradient views: same offsets.
    m->dtok_embeddings = m->grads;
    m->dnorm = m->grads + (m->norm - m->params);
    for (int l = 0; l < m->L; l++) {
        const mm_layer_weights *w = &m->layers[l];
        mm_layer_weights *d = &m->dlayers[l];
        d->attention_norm = m->grads + (w->attention_norm - m->params);
        d->wqkv = m->grads + (w->wqkv - m->params);
        d->wo = m->grads + (w->wo - m->params);
        d->ffn_norm = m->grads + (w->ffn_norm - m->params);
        d->w13 = w->w13 ? m->grads + (w->w13 - m->params) : NULL;
        d->w2 = w->w2 ? m->grads + (w->w2 - m->params) : NULL;
        d->mem_query = w->mem_query ? m->grads + (w->mem_query - m->params) : NULL;
        d->mem_keys = w->mem_keys ? m->grads + (w->mem_keys - m->params) : NULL;
    }
}

static void mm_init_weights(mm_model *m, uint64_t seed) {
    uint64_t rng = seed;
    const size_t C = (size_t)m->C, F = (size_t)m->F, CF = (size_t)m->CF, KVd = (size_t)m->KV * m->hs;
    const float bc = 1.0f / sqrtf((float)m->C), bf = F ? 1.0f / sqrtf((float)m->F) : 0.0f;
    const float bcf = CF ? 1.0f / sqrtf((float)CF) : 0.0f;
    // The tied table is output.weight, a Linear(C, V): fan_in = C.
    mm_init_uniform(m->tok_embeddings, (size_t)m->V * C, bc, &rng);
    for (int l = 0; l < m->L; l++) {
        mm_layer_weights *w = &m->layers[l];
        mm_fill(w->attention_norm, C, 1.0f);
        mm_init_uniform(w->wqkv, (C + 2 * KVd) * C, bc, &rng);
        mm_init_uniform(w->wo, C * C, bc, &rng);
        mm_fill(w->ffn_norm, C, 1.0f);
        if (F) {
            mm_init_uniform(w->w13, 2 * F * CF, bcf, &rng);
            mm_init_uniform(w->w2, C * F, bf, &rng);
        }
        if (m->mem) {
            const size_t D = (size_t)m->ms.D, S = (size_t)m->ms.S;
            mm_init_uniform(w->mem_query, D * C, bc, &rng);
            mm_init_uniform(w->mem_keys, S * D, 1.0f / sqrtf((float)(D / 2)), &rng);
        }
    }
    mm_fill(m->norm, C, 1.0f);
}

// RoPE tables as MiniMind's precompute_pos_cis, in float: freq_i = 1 / theta^(2i/hs), angle = t*freq_i.
static void mm_init_rope(mm_model *m) {
    const int half = m->hs / 2;
    for (int t = 0; t < m->config.max_seq_len; t++)
        for (int i = 0; i < half; i++) {
            float freq = 1.0f / powf(m->config.rope_theta, (float)(2 * i) / (float)m->hs);
            float ang = (float)t * freq;
            m->rope_cos[(size_t)t * half + i] = cosf(ang);
            m->rope_sin[(size_t)t * half + i] = sinf(ang);
        }
}

static int mm_model_upload_init(mm_model *m, size_t nrope);

int mm_model_init(mm_model *m, const mm_model_config *cfg, const mm_backend *be, uint64_t seed) {
    return mm_model_init_memory(m, cfg, 16, MM_MEMORY_SELECT_SOFTMAX, be, seed);
}

int mm_model_init_memory(mm_model *m, const mm_model_config *cfg, int num_candidates, mm_memory_select select,
                         const mm_backend *be, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->config = *cfg;
    if (mm_model_config_validate(&m->config)) return -1;
    m->be = be ? be : mm_backend_cpu();
    m->C = m->config.dim;
    m->L = m->config.n_layers;
    m->H = m->config.n_heads;
    m->KV = m->config.n_kv_heads;
    m->hs = m->C / m->H;
    m->F = m->config.hidden_dim;
    m->V = m->config.vocab_size;
    m->QKV = m->C + 2 * m->KV * m->hs;
    m->CF = m->C;
    if (m->config.model_type != MM_MODEL_ORIGINAL && mm_model_memory_setup(m, num_candidates, select) != 0)
        return -1;
    const size_t C = (size_t)m->C, F = (size_t)m->F, CF = (size_t)m->CF;
    size_t per_layer = 2 * C + (size_t)m->QKV * C + C * C + 2 * F * CF + C * F;
    if (m->mem) per_layer += (size_t)m->ms.D * C + (size_t)m->ms.S * m->ms.D;
    m->num_params = (size_t)m->V * C + (size_t)m->L * per_layer + C;
    const mm_backend *b = m->be;
    const int host = b->host_resident;
    // On a device backend, params/rope are initialised in host staging buffers, then uploaded.
    m->params = host ? b->alloc(m->num_params * sizeof(float)) : mm_malloc(m->num_params * sizeof(float));
    m->grads = b->alloc(m->num_params * sizeof(float));
    if (m->grads) b->zero(m->grads, m->num_params * sizeof(float));
    m->table = mm_calloc((size_t)m->L * 12 + 3, sizeof(mm_param));
    m->layers = mm_calloc((size_t)m->L, sizeof(mm_layer_weights));
    m->dlayers = mm_calloc((size_t)m->L, sizeof(mm_layer_weights));
    size_t nrope = (size_t)m->config.max_seq_len * (size_t)(m->hs / 2);
    m->rope_cos = host ? b->alloc(2 * nrope * sizeof(float)) : mm_malloc(2 * nrope * sizeof(float));
    if (!m->params || !m->grads || !m->table || !m->layers || !m->dlayers || !m->rope_cos) {
        size_t np = m->num_params;
        if (!host) {  // the staging buffers are host memory
            free(m->params);
            free(m->rope_cos);
            m->params = m->rope_cos = NULL;
        }
        mm_model_free(m);
        return mm_error_prefix("model: allocating %zu parameters", np);
    }
    m->rope_sin = m->rope_cos + nrope;
    mm_layout_params(m);
    mm_init_weights(m, seed);
    mm_init_rope(m);
    if (!host && mm_model_upload_init(m, nrope) != 0) return -1;
    return 0;
}

// Device backend: moves the initialised host staging params and rope tables to the device and
// lays the views out again over the device buffers.
static int mm_model_upload_init(mm_model *m, size_t nrope) {
    const mm_backend *b = m->be;
    float *hp = m->params, *hr = m->rope_cos;
    float *dp = b->alloc(m->num_params * sizeof(float)), *dr = b->alloc(2 * nrope * sizeof(float));
    if (dp && dr) {
        b->copy_h2d(dp, hp, m->num_params * sizeof(float));
        b->copy_h2d(dr, hr, 2 * nrope * sizeof(float));
    }
    free(hp);
    free(hr);
    m->params = dp;
    m->rope_cos = dr;
    if (!dp || !dr || (b->check && b->check() != 0)) {
        size_t np = m->num_params;
        mm_model_free(m);
        return mm_error_prefix("model: uploading %zu parameters to %s", np, b->name);
    }
    m->rope_sin = m->rope_cos + nrope;
    m->n_table = 0;
    mm_layout_params(m);
    return 0;
}

float *mm_model_params_to_host(mm_model *m) {
    const mm_backend *b = m->be;
    if (b->host_resident) return m->params;
    if (!m->host_params) {
        m->host_params = mm_malloc(m->num_params * sizeof(float));
        if (!m->host_params) return NULL;
    }
    b->copy_d2h(m->host_params, m->params, m->num_params * sizeof(float));
    if (b->check && b->check() != 0) return NULL;
    return m->host_params;
}

float *mm_model_host_params(mm_model *m) {
    if (m->be->host_resident) return m->params;
    if (!m->host_params) m->host_params = mm_calloc(m->num_params, sizeof(float));
    return m->host_params;
}

int mm_model_params_from_host(mm_model *m) {
    const mm_backend *b = m->be;
    if (b->host_resident) return 0;
    if (!m->host_params) return mm_errorf("model: no host copy of the parameters to upload");
    b->copy_h2d(m->params, m->host_params, m->num_params * sizeof(float));
    return b->check ? b->check() : 0;
}

void mm_model_free(mm_model *m) {
    mm_model_memory_free(m);
    const mm_backend *b = m->be ? m->be : mm_backend_cpu();
    b->free(m->params);
    b->free(m->grads);
    free(m->table);
    free(m->layers);
    free(m->dlayers);
    b->free(m->rope_cos);
    b->free(m->acts);
    b->free(m->gacts);
    b->free(m->inputs);
    b->free(m->infer);
    if (!b->host_resident) free(m->hinputs);
    free(m->host_params);
    memset(m, 0, sizeof *m);
}

const mm_param *mm_model_find_param(const mm_model *m, const char *name) {
    for (int i = 0; i < m->n_table; i++)
        if (!strcmp(m->table[i].name, name)) return &m->table[i];
    return NULL;
}

void mm_model_zero_grad(mm_model *m) { m->be->zero(m->grads, m->num_params * sizeof(float)); }

float mm_model_clip_grad_norm(mm_model *m, float max_norm) {
    return m->be->gradnorm_clip(m->grads, m->num_params, max_norm);
}

// ---------------------------------------------------------------------------------------------
// Activations

float *mm_model_carve(float *base, size_t *cursor, size_t n) {
    float *p = base ? base + *cursor : NULL;
    *cursor += n;
    return p;
}

mm_bf16 *mm_model_carve_bf16(float *base, size_t *cursor, size_t n) {
    *cursor = (*cursor + 3) & ~(size_t)3;
    return (mm_bf16 *)mm_model_carve(base, cursor, (n + 1) / 2);
}

// Whether the backend has the ops both bf16 blocks use: the conversion, the norm and the products.
static int mm_bf16_common_ops(const mm_backend *b) {
    return b->to_bf16 && b->rmsnorm_forward_bf16 && b->rmsnorm_backward_bf16 && b->matmul_forward_bf16 &&
           b->matmul_forward_residual_bf16 && b->matmul_backward_bf16;
}

// Whether the training buffers keep the feed-forward block in bf16 now: a model with one (not
// model_no_feed) on a backend whose ffn_bf16 says so in its current precision, with every op of
// that path (`model`'s fusion MLP: its input [z | m] built in bf16 by to_bf16_rows too).
static int mm_ffn_bf16_now(const mm_model *m) {
    const mm_backend *b = m->be;
    return m->F > 0 && b->ffn_bf16 && b->swiglu_forward_bf16 && b->swiglu_backward_bf16 &&
           mm_bf16_common_ops(b) && (!m->mem || b->to_bf16_rows) && b->ffn_bf16();
}

// Whether a (B, T) step keeps the attention block in bf16: a backend whose attention_bf16 says so
// for the shape in its current precision, with every op of that path (the products and the norm
// are the feed-forward block's).
static int mm_att_bf16_now(const mm_model *m, int B, int T) {
    const mm_backend *b = m->be;
    return b->attention_bf16 && b->rope_forward_bf16 && b->rope_backward_bf16 && b->attention_forward_bf16 &&
           b->attention_backward_bf16 && mm_bf16_common_ops(b) && b->attention_bf16(B, T, m->H, m->hs);
}

// Whether the training buffers keep the head in bf16 now: a backend whose head_bf16 says so in its
// current precision, with every op of that path.
static int mm_head_bf16_now(const mm_model *m) {
    const mm_backend *b = m->be;
    return b->head_bf16 && b->crossentropy_forward_bf16 && b->crossentropy_backward_bf16 && b->to_bf16 &&
           b->rmsnorm_forward_bf16 && b->head_bf16();
}

// Floats of one layer's att (and of datt) for (B, T) on the model's backend (backend.h), for the
// bf16 attention ops when bf16.
static size_t mm_att_state_floats(const mm_model *m, int B, int T, int bf16) {
    const mm_backend *b = m->be;
    if (bf16 && b->attention_state_floats_bf16) return b->attention_state_floats_bf16(B, T, T, m->H, m->hs);
    if (b->attention_state_floats) return b->attention_state_floats(B, T, T, m->H, m->hs);
    return (size_t)B * m->H * T * T;
}

const char *mm_model_ffn_storage(const mm_model *m) { return mm_ffn_bf16_now(m) ? "bf16" : NULL; }

const char *mm_model_attention_storage(const mm_model *m, int B, int T) {
    return mm_att_bf16_now(m, B, T) ? "bf16" : NULL;
}

const char *mm_model_head_storage(const mm_model *m) { return mm_head_bf16_now(m) ? "bf16" : NULL; }

const char *mm_model_attention_implementation(const mm_model *m, int B, int T) {
    const mm_backend *b = m->be;
    return b->attention_implementation ? b->attention_implementation(B, T, T, m->H, m->hs) : NULL;
}

// m->att_state is set (mm_ensure_acts).
static size_t mm_layout_acts(mm_model *m, float *base, int B, int T) {
    const size_t N = (size_t)B * T, L = (size_t)m->L, C = (size_t)m->C, F = (size_t)m->F;
    size_t cur = 0;
    mm_activations *a = &m->a;
    a->res = mm_model_carve(base, &cur, (L + 1) * N * C);
    a->hres = mm_model_carve(base, &cur, L * N * C);
    const int a16 = m->att_bf16;
    a->ln1 = a16 ? NULL : mm_model_carve(base, &cur, L * N * C);
    a->rstd1 = mm_model_carve(base, &cur, L * N);
    a->qkv = a16 ? NULL : mm_model_carve(base, &cur, L * N * (size_t)m->QKV);
    a->att = mm_model_carve(base, &cur, L * m->att_state);
    a->atty = a16 ? NULL : mm_model_carve(base, &cur, L * N * C);
    a->ln1_16 = a16 ? mm_model_carve_bf16(base, &cur, L * N * C) : NULL;
    a->qkv_16 = a16 ? mm_model_carve_bf16(base, &cur, L * N * (size_t)m->QKV) : NULL;
    a->atty_16 = a16 ? mm_model_carve_bf16(base, &cur, L * N * C) : NULL;
    a->wa_16 = a16 ? mm_model_carve_bf16(base, &cur, L * ((size_t)m->QKV + C) * C) : NULL;
    a->rstd2 = mm_model_carve(base, &cur, L * N);
    const int f16 = m->ffn_bf16, ln2_16 = f16 && !m->mem;  // the memory variants read z = ln2 in fp32
    a->ln2 = ln2_16 ? NULL : mm_model_carve(base, &cur, L * N * C);
    a->h13 = f16 ? NULL : mm_model_carve(base, &cur, L * N * 2 * F);
    a->g = f16 ? NULL : mm_model_carve(base, &cur, L * N * F);
    a->ln2_16 = ln2_16 ? mm_model_carve_bf16(base, &cur, L * N * C) : NULL;
    a->h13_16 = f16 ? mm_model_carve_bf16(base, &cur, L * N * 2 * F) : NULL;
    a->g_16 = f16 ? mm_model_carve_bf16(base, &cur, L * N * F) : NULL;
    a->w_16 = f16 ? mm_model_carve_bf16(base, &cur, L * (2 * (size_t)m->CF + C) * F) : NULL;
    const int h16 = m->head_bf16;
    a->lnf = h16 ? NULL : mm_model_carve(base, &cur, N * C);
    a->rstdf = mm_model_carve(base, &cur, N);
    a->logits = h16 ? NULL : mm_model_carve(base, &cur, N * (size_t)m->V);
    a->lse = mm_model_carve(base, &cur, N);
    a->lnf16 = h16 ? mm_model_carve_bf16(base, &cur, N * C) : NULL;
    a->logits16 = h16 ? mm_model_carve_bf16(base, &cur, N * (size_t)m->V) : NULL;
    a->wte16 = h16 ? mm_model_carve_bf16(base, &cur, (size_t)m->V * C) : NULL;
    return cur;
}

static size_t mm_layout_gacts(mm_model *m, float *base, int B, int T) {
    const size_t N = (size_t)B * T, C = (size_t)m->C, F = (size_t)m->F;
    size_t cur = 0;
    mm_grad_activations *g = &m->ga;
    g->dres = mm_model_carve(base, &cur, N * C);
    g->dln = mm_model_carve(base, &cur, N * C);
    const int f16 = m->ffn_bf16, a16 = m->att_bf16;
    g->datty = a16 ? NULL : mm_model_carve(base, &cur, N * C);
    g->dqkv = a16 ? NULL : mm_model_carve(base, &cur, N * (size_t)m->QKV);
    g->dh13 = f16 ? NULL : mm_model_carve(base, &cur, N * 2 * F);
    g->dg = f16 ? NULL : mm_model_carve(base, &cur, N * F);
    g->dres_16 = f16 || a16 ? mm_model_carve_bf16(base, &cur, N * C) : NULL;
    g->dln_16 = f16 || a16 ? mm_model_carve_bf16(base, &cur, N * C) : NULL;
    g->datty_16 = a16 ? mm_model_carve_bf16(base, &cur, N * C) : NULL;
    g->dqkv_16 = a16 ? mm_model_carve_bf16(base, &cur, N * (size_t)m->QKV) : NULL;
    g->dg_16 = f16 ? mm_model_carve_bf16(base, &cur, N * F) : NULL;
    g->dh13_16 = f16 ? mm_model_carve_bf16(base, &cur, N * 2 * F) : NULL;
    g->datt = mm_model_carve(base, &cur, m->att_state);
    return cur;
}

// (Re)lays out the training buffers for (B, T), the attention state and the blocks' storage the
// backend needs now (all may depend on the precision), growing the allocations when needed.
static int mm_ensure_acts(mm_model *m, int B, int T) {
    const int ffn_bf16 = mm_ffn_bf16_now(m), att_bf16 = mm_att_bf16_now(m, B, T),
              head_bf16 = mm_head_bf16_now(m);
    const size_t att_state = mm_att_state_floats(m, B, T, att_bf16);
    if (m->acts && m->B == B && m->T == T && m->att_state == att_state && m->ffn_bf16 == ffn_bf16 &&
        m->att_bf16 == att_bf16 && m->head_bf16 == head_bf16)
        return 0;
    m->att_state = att_state;
    m->ffn_bf16 = ffn_bf16;
    m->att_bf16 = att_bf16;
    m->head_bf16 = head_bf16;
    size_t na = mm_layout_acts(m, NULL, B, T);
    const mm_backend *b = m->be;
    const size_t nin = (size_t)B * T * (2 * sizeof(int32_t) + sizeof(float));  // X | Y | mask
    if (na > m->acts_cap || nin > m->inputs_cap) {
        b->free(m->acts);
        b->free(m->inputs);
        if (!b->host_resident) free(m->hinputs);
        m->acts = b->alloc(na * sizeof(float));
        m->inputs = b->alloc(nin);
        m->hinputs = b->host_resident ? m->inputs : mm_malloc(nin);
        if (!m->acts || !m->inputs || !m->hinputs) {
            b->free(m->acts);
            b->free(m->inputs);
            if (!b->host_resident) free(m->hinputs);
            m->acts = NULL;
            m->inputs = m->hinputs = NULL;
            m->acts_cap = m->inputs_cap = 0;
            return mm_error_prefix("model: activations for B=%d T=%d (%.1f MB)", B, T, na * 4.0 / 1e6);
        }
        m->acts_cap = na;
        m->inputs_cap = nin;
    }
    mm_layout_acts(m, m->acts, B, T);
    m->targets = m->inputs + (size_t)B * T;
    m->mask = (float *)(m->targets + (size_t)B * T);
    m->B = B;
    m->T = T;
    return 0;
}

static int mm_ensure_gacts(mm_model *m) {
    size_t ng = mm_layout_gacts(m, NULL, m->B, m->T);
    if (ng > m->gacts_cap) {
        m->be->free(m->gacts);
        m->gacts = m->be->alloc(ng * sizeof(float));
        if (!m->gacts) {
            m->gacts_cap = 0;
            return mm_error_prefix("model: activation gradients (%.1f MB)", ng * 4.0 / 1e6);
        }
        m->gacts_cap = ng;
    }
    mm_layout_gacts(m, m->gacts, m->B, m->T);
    return 0;
}

static int mm_check_tokens(const int32_t *tok, size_t n, int V, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (tok[i] < 0 || tok[i] >= V)
            return mm_errorf("model: %s[%zu] = %d is outside the vocabulary [0, %d)", what, i, (int)tok[i], V);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Forward / backward (training)

void mm_model_residual_matmul(const mm_backend *be, float *out, const float *res, const float *inp,
                              const float *w, int M, int K, int N) {
    if (be->matmul_forward_residual) {
        be->matmul_forward_residual(out, res, inp, w, M, K, N);
        return;
    }
    be->copy_d2d(out, res, (size_t)M * N * sizeof(float));
    be->matmul_forward(out, inp, w, M, K, N, 1);
}

// The final norm and the tied head: the loss (0 without targets), lse, and the logits the backward
// reads — in bf16 with m->head_bf16, against the embeddings' bf16 copy made here.
static float mm_head_forward(mm_model *m, int targets) {
    const mm_backend *be = m->be;
    const mm_activations *a = &m->a;
    const int Nn = m->B * m->T, C = m->C;
    const float *x = a->res + (size_t)m->L * Nn * C;  // (N, C) the last layer's output
    const int32_t *y = targets ? m->targets : NULL;
    if (!m->head_bf16) {
        be->rmsnorm_forward(a->lnf, a->rstdf, x, m->norm, Nn, C, m->config.norm_eps);
        return be->crossentropy_forward(a->logits, a->lse, a->lnf, m->tok_embeddings, y, m->mask, Nn, C,
                                        m->V);
    }
    be->rmsnorm_forward_bf16(a->lnf16, a->rstdf, x, m->norm, Nn, C, m->config.norm_eps);
    be->to_bf16(a->wte16, m->tok_embeddings, (size_t)m->V * C);
    return be->crossentropy_forward_bf16(a->logits16, a->lse, a->lnf16, a->wte16, y, m->mask, Nn, C, m->V);
}

// out (N, V) = the forward's logits on the host (widened from bf16 with m->head_bf16).
static int mm_head_logits(const mm_model *m, float *out) {
    const size_t n = (size_t)m->B * m->T * m->V;
    if (!m->head_bf16) {
        m->be->copy_d2h(out, m->a.logits, n * sizeof(float));
        return 0;
    }
    mm_bf16 *h = malloc(n * sizeof(mm_bf16));
    if (!h) return mm_errorf("model: no memory for the logits' bf16 copy (%zu bytes)", n * sizeof(mm_bf16));
    m->be->copy_d2h(h, m->a.logits16, n * sizeof(mm_bf16));
    for (size_t i = 0; i < n; i++) out[i] = mm_bf16_float(h[i]);
    free(h);
    return 0;
}

int mm_model_forward(mm_model *m, const int32_t *X, const int32_t *Y, const float *mask, int B, int T, float *loss,
                     float *logits_out) {
    if (B <= 0 || T <= 0) return mm_errorf("model: forward needs B > 0 and T > 0 (got B=%d T=%d)", B, T);
    if (T > m->config.max_seq_len)
        return mm_errorf("model: sequence length %d exceeds max_seq_len %d", T, m->config.max_seq_len);
    const size_t N = (size_t)B * T;
    if (mm_check_tokens(X, N, m->V, "input") || (Y && mm_check_tokens(Y, N, m->V, "target"))) return -1;
    if (mm_ensure_acts(m, B, T) || (m->mem && mm_model_memory_ensure_acts(m))) return -1;
    const mm_backend *be = m->be;
    const int C = m->C, F = m->F, QKV = m->QKV, Nn = (int)N;
    const size_t NC = N * C;
    mm_activations *a = &m->a;
    // X | Y | mask staged on the host (the buffer itself on the CPU), then uploaded.
    int32_t *hx = m->hinputs, *hy = hx + N;
    float *hmask = (float *)(hy + N);
    memcpy(hx, X, N * sizeof(int32_t));
    if (Y) memcpy(hy, Y, N * sizeof(int32_t));
    for (size_t i = 0; i < N; i++) hmask[i] = mask ? mask[i] : 1.0f;
    if (!be->host_resident) be->copy_h2d(m->inputs, m->hinputs, N * (2 * sizeof(int32_t) + sizeof(float)));

    be->embedding_forward(a->res, m->inputs, m->tok_embeddings, Nn, C);  // (N, C)
    if (m->ffn_bf16) mm_model_ffn_bf16_weights(m);
    if (m->att_bf16) mm_model_attention_bf16_weights(m);
    for (int l = 0; l < m->L; l++) {
        const mm_layer_weights *w = &m->layers[l];
        float *x = a->res + l * NC, *hres = a->hres + l * NC, *xo = a->res + (l + 1) * NC;  // (N, C)
        // h = x + wo(attn(rope(wq ln1), rope(wk ln1), wv ln1))   (bf16 storage: model_attention_bf16.c)
        if (m->att_bf16) {
            mm_model_attention_bf16_forward(m, l, x, hres);
        } else {
            float *ln1 = a->ln1 + l * NC, *rstd1 = a->rstd1 + l * N;
            float *qkv = a->qkv + l * N * QKV;       // (N, QKV)
            float *att = a->att + l * m->att_state;  // (B, H, T, T) or less
            float *atty = a->atty + l * NC;          // (N, C)
            be->rmsnorm_forward(ln1, rstd1, x, w->attention_norm, Nn, C, m->config.norm_eps);
            be->matmul_forward(qkv, ln1, w->wqkv, Nn, C, QKV, 0);
            be->rope_forward(qkv, QKV, m->rope_cos, m->rope_sin, B, T, m->H + m->KV, m->hs, 0);
            be->attention_forward(atty, att, qkv, QKV, qkv + C, qkv + C + m->KV * m->hs, QKV, B, T, T, m->H,
                                  m->KV, m->hs);
            mm_model_residual_matmul(be, hres, x, atty, w->wo, Nn, C, C);
        }
        // out = h + w2(silu(w1 ln2) * w3 ln2)   (bf16 storage: model_ffn_bf16.c; memory variants:
        // model_memory.c)
        if (m->ffn_bf16 && !m->mem) {
            mm_model_ffn_bf16_forward(m, l, hres, xo);
            continue;
        }
        float *ln2 = a->ln2 + l * NC, *rstd2 = a->rstd2 + l * N;
        float *h13 = a->h13 + l * N * 2 * F, *g = a->g + l * N * F;  // (N, 2F), (N, F)
        be->rmsnorm_forward(ln2, rstd2, hres, w->ffn_norm, Nn, C, m->config.norm_eps);
        if (m->mem) {
            if (mm_model_memory_forward(m, l, hres, ln2, xo) != 0) return -1;
            continue;
        }
        be->matmul_forward(h13, ln2, w->w13, Nn, C, 2 * F, 0);
        be->swiglu_forward(g, h13, Nn, F);
        mm_model_residual_matmul(be, xo, hres, g, w->w2, Nn, F, C);
    }
    float l = mm_head_forward(m, Y != NULL);
    if (m->mem && mm_model_memory_track(m, a->hres, Nn) != 0) return -1;  // the loss waited for the device
    if (logits_out && mm_head_logits(m, logits_out) != 0) return -1;
    if (be->check && be->check() != 0) return mm_error_prefix("model: forward on %s", be->name);
    if (loss) *loss = Y ? l : 0.0f;
    m->have_targets = Y != NULL;
    m->backward_ready = Y != NULL;
    return 0;
}

// dres (N, C) += a norm's backward (x its input, w, rstd) from d(its output): ga->dln_16 (bf16: a
// bf16 block's input gradient) or ga->dln (fp32). With need16 the sum's bf16 copy dres_16 too, for
// the next block down when it is in bf16 (its products read it; no separate conversion).
static void mm_norm_backward(mm_model *m, float *dw, int dln_bf16, const float *x, const float *w,
                             const float *rstd, int need16) {
    const mm_backend *be = m->be;
    const mm_grad_activations *ga = &m->ga;
    const int N = m->B * m->T, C = m->C;
    if (!m->ffn_bf16 && !m->att_bf16) {  // the fp32 model
        be->rmsnorm_backward(ga->dres, dw, ga->dln, x, w, rstd, N, C);
        return;
    }
    be->rmsnorm_backward_bf16(ga->dres, need16 ? ga->dres_16 : NULL, dw,
                              dln_bf16 ? (const void *)ga->dln_16 : ga->dln,
                              dln_bf16 ? MM_STORE_BF16 : MM_STORE_F32, x, w, rstd, N, C);
}

int mm_model_backward(mm_model *m, float loss_scale) {
    if (!m->backward_ready)
        return mm_errorf("model: backward needs a preceding forward with targets (and runs once per forward)");
    if (mm_ensure_gacts(m) || (m->mem && mm_model_memory_ensure_gacts(m))) return -1;
    m->backward_ready = 0;
    const mm_backend *be = m->be;
    const int B = m->B, T = m->T, C = m->C, F = m->F, QKV = m->QKV, Nn = B * T;
    const size_t N = (size_t)Nn, NC = N * C;
    const mm_activations *a = &m->a;
    const mm_grad_activations *ga = &m->ga;

    // loss -> dlnf (in ga->dln) -> dres
    if (m->head_bf16)
        be->crossentropy_backward_bf16(ga->dln, m->dtok_embeddings, a->logits16, a->lse, a->lnf16, a->wte16,
                                       m->targets, m->mask, loss_scale, Nn, C, m->V);
    else
        be->crossentropy_backward(ga->dln, m->dtok_embeddings, a->logits, a->lse, a->lnf, m->tok_embeddings,
                                  m->targets, m->mask, loss_scale, Nn, C, m->V);
    be->zero(ga->dres, NC * sizeof(float));
    // each norm's backward leaves dres_16 for the block below when that block reads it in bf16: the
    // last layer's feed-forward block (or `model`'s fusion MLP), a layer's attention block, the
    // layer below's feed-forward block
    mm_norm_backward(m, m->dnorm, 0, a->res + m->L * NC, m->norm, a->rstdf, m->ffn_bf16);
    for (int l = m->L - 1; l >= 0; l--) {
        const mm_layer_weights *w = &m->layers[l];
        const mm_layer_weights *dw = &m->dlayers[l];
        const float *x = a->res + l * NC, *hres = a->hres + l * NC;
        const float *rstd1 = a->rstd1 + l * N, *rstd2 = a->rstd2 + l * N;
        // out = h + w2(g): dres is d(out); it flows to h unchanged and through w2.
        if (m->mem) {
            mm_model_memory_backward(m, l, a->ln2 + l * NC);  // ga->dln = d(ln2)
        } else if (m->ffn_bf16) {
            mm_model_ffn_bf16_backward(m, l);  // ga->dln_16 = d(ln2)
        } else {
            const float *ln2 = a->ln2 + l * NC, *h13 = a->h13 + l * N * 2 * F, *g = a->g + l * N * F;
            be->matmul_backward(ga->dg, dw->w2, ga->dres, g, w->w2, Nn, F, C, 0);
            be->swiglu_backward(ga->dh13, ga->dg, h13, Nn, F);
            be->matmul_backward(ga->dln, dw->w13, ga->dh13, ln2, w->w13, Nn, C, 2 * F, 0);
        }
        // (the memory variants' d(ln2) is fp32: z = ln2 also feeds the memory layer's query)
        mm_norm_backward(m, dw->ffn_norm, m->ffn_bf16 && !m->mem, hres, w->ffn_norm, rstd2, m->att_bf16);
        // h = x + wo(atty): dres is now d(h); ga->dln (ga->dln_16 in bf16) = d(ln1).
        if (m->att_bf16) {
            mm_model_attention_bf16_backward(m, l);
        } else {
            const float *ln1 = a->ln1 + l * NC, *qkv = a->qkv + l * N * QKV, *att = a->att + l * m->att_state;
            const float *atty = a->atty + l * NC;
            be->matmul_backward(ga->datty, dw->wo, ga->dres, atty, w->wo, Nn, C, C, 0);
            float *dq = ga->dqkv, *dk = dq + C, *dv = dk + m->KV * m->hs;
            be->attention_backward(dq, dk, dv, ga->datt, ga->datty, att, qkv, QKV, qkv + C,
                                   qkv + C + m->KV * m->hs, QKV, B, T, T, m->H, m->KV, m->hs);
            be->rope_backward(ga->dqkv, QKV, m->rope_cos, m->rope_sin, B, T, m->H + m->KV, m->hs, 0);
            be->matmul_backward(ga->dln, dw->wqkv, ga->dqkv, ln1, w->wqkv, Nn, C, QKV, 0);
        }
        mm_norm_backward(m, dw->attention_norm, m->att_bf16, x, w->attention_norm, rstd1,
                         l > 0 && m->ffn_bf16);
    }
    be->embedding_backward(m->dtok_embeddings, ga->dres, m->inputs, Nn, C);
    if (be->check && be->check() != 0) return mm_error_prefix("model: backward on %s", be->name);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Inference with a KV cache (batch 1)

// Scratch of mm_model_forward_cached, for up to S = max_seq_len rows.
typedef struct mm_infer_bufs {
    float *x, *ln, *rstd, *qkv, *out, *h13, *g, *att, *lnl;
    float *tok, *logits;  // device backends: the new tokens (as int32) and the logits (V)
} mm_infer_bufs;

static size_t mm_layout_infer(const mm_model *m, float *base, mm_infer_bufs *ib, float **kc, float **vc) {
    const size_t S = (size_t)m->config.max_seq_len, C = (size_t)m->C, F = (size_t)m->F;
    const size_t KVd = (size_t)m->KV * m->hs;
    size_t cur = 0;
    *kc = mm_model_carve(base, &cur, (size_t)m->L * S * KVd);
    *vc = mm_model_carve(base, &cur, (size_t)m->L * S * KVd);
    ib->x = mm_model_carve(base, &cur, S * C);
    ib->ln = mm_model_carve(base, &cur, S * C);
    ib->rstd = mm_model_carve(base, &cur, S);
    ib->qkv = mm_model_carve(base, &cur, S * (size_t)m->QKV);
    ib->out = mm_model_carve(base, &cur, S * C);
    ib->h13 = mm_model_carve(base, &cur, S * 2 * F);
    ib->g = mm_model_carve(base, &cur, S * F);
    ib->att = mm_model_carve(base, &cur, (size_t)m->H * S * S);
    ib->lnl = mm_model_carve(base, &cur, C + 1);  // last row's final norm (+ its rstd)
    ib->tok = m->be->host_resident ? NULL : mm_model_carve(base, &cur, S);
    ib->logits = m->be->host_resident ? NULL : mm_model_carve(base, &cur, (size_t)m->V);
    return cur;
}

int mm_model_forward_cached(mm_model *m, const int32_t *tokens, int n, int pos, float *logits) {
    const int S = m->config.max_seq_len;
    if (n <= 0 || pos < 0) return mm_errorf("model: cached forward needs n >= 1 and pos >= 0 (got n=%d pos=%d)", n, pos);
    if (pos + n > S)
        return mm_errorf("model: context full: positions %d..%d exceed max_seq_len %d", pos, pos + n - 1, S);
    if (mm_check_tokens(tokens, (size_t)n, m->V, "token")) return -1;
    mm_infer_bufs ib;
    float *kc, *vc;
    if (!m->infer) {
        size_t ni = mm_layout_infer(m, NULL, &ib, &kc, &vc);
        m->infer = m->be->alloc(ni * sizeof(float));
        if (!m->infer) return mm_error_prefix("model: KV cache");
        m->be->zero(m->infer, ni * sizeof(float));
    }
    mm_layout_infer(m, m->infer, &ib, &kc, &vc);
    m->kcache = kc;
    m->vcache = vc;
    const mm_backend *be = m->be;
    const int C = m->C, F = m->F, QKV = m->QKV, KVd = m->KV * m->hs, Tk = pos + n;

    const int32_t *dtok = tokens;
    if (!be->host_resident) {
        be->copy_h2d(ib.tok, tokens, (size_t)n * sizeof(int32_t));
        dtok = (const int32_t *)ib.tok;
    }
    be->embedding_forward(ib.x, dtok, m->tok_embeddings, n, C);  // (n, C)
    for (int l = 0; l < m->L; l++) {
        const mm_layer_weights *w = &m->layers[l];
        float *K = kc + (size_t)l * S * KVd, *V = vc + (size_t)l * S * KVd;  // (S, KVd)
        be->rmsnorm_forward(ib.ln, ib.rstd, ib.x, w->attention_norm, n, C, m->config.norm_eps);
        be->matmul_forward(ib.qkv, ib.ln, w->wqkv, n, C, QKV, 0);  // (n, QKV)
        be->rope_forward(ib.qkv, QKV, m->rope_cos, m->rope_sin, 1, n, m->H + m->KV, m->hs, pos);
        for (int t = 0; t < n; t++) {
            be->copy_d2d(K + (size_t)(pos + t) * KVd, ib.qkv + (size_t)t * QKV + C, KVd * sizeof(float));
            be->copy_d2d(V + (size_t)(pos + t) * KVd, ib.qkv + (size_t)t * QKV + C + KVd, KVd * sizeof(float));
        }
        be->attention_forward(ib.out, ib.att, ib.qkv, QKV, K, V, KVd, 1, n, Tk, m->H, m->KV, m->hs);
        be->matmul_forward(ib.x, ib.out, w->wo, n, C, C, 1);  // x += wo(attn)
        be->rmsnorm_forward(ib.ln, ib.rstd, ib.x, w->ffn_norm, n, C, m->config.norm_eps);
        if (m->mem) {
            if (mm_model_memory_forward_cached(m, l, ib.x, ib.ln, n) != 0) return -1;
            continue;
        }
        be->matmul_forward(ib.h13, ib.ln, w->w13, n, C, 2 * F, 0);
        be->swiglu_forward(ib.g, ib.h13, n, F);
        be->matmul_forward(ib.x, ib.g, w->w2, n, F, C, 1);  // x += w2(g)
    }
    be->rmsnorm_forward(ib.lnl, ib.lnl + C, ib.x + (size_t)(n - 1) * C, m->norm, 1, C, m->config.norm_eps);
    if (be->host_resident) {
        be->matmul_forward(logits, ib.lnl, m->tok_embeddings, 1, C, m->V, 0);  // (V)
        return 0;
    }
    be->matmul_forward(ib.logits, ib.lnl, m->tok_embeddings, 1, C, m->V, 0);  // (V)
    be->copy_d2h(logits, ib.logits, (size_t)m->V * sizeof(float));
    return be->check && be->check() != 0 ? mm_error_prefix("model: cached forward on %s", be->name) : 0;
}

// ---------------------------------------------------------------------------------------------

double mm_model_train_flops(const mm_model *m, int B, int T) {
    const double N = (double)B * T, C = m->C, F = m->F, CF = m->CF, QKV = m->QKV, V = m->V;
    double per_layer = 2.0 * N * (C * (QKV + C) + 2 * F * CF + F * C);  // wqkv, wo, w13, w2
    per_layer += mm_model_memory_flops(m, N);                            // memory layer (fwd)
    per_layer += 2.0 * 2.0 * B * C * ((double)T * (T + 1) / 2.0);    // QK^T and PV on the causal half
    double fwd = m->L * per_layer + 2.0 * N * C * V;                 // + tied head
    return 3.0 * fwd;                                                // backward = 2 x forward
}
