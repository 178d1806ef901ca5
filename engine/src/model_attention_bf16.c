// The attention half of a block in bf16 storage (model_attention_bf16.h): the path of
// mm_model_forward / mm_model_backward when the backend keeps the attention block in bf16 (CUDA
// in bf16 on its FlashAttention path), for every variant.
// Stored in bf16: ln1 (N, C), qkv (N, QKV) with q, k after RoPE, the attention output atty (N, C),
// the gradients datty (N, C), dqkv (N, QKV) and dln1 (N, C: the norm's backward input), the
// residual gradient's copy for wo's backward (N, C: made by the norm backward above, model.c) and
// the weights' copies; fp32: the residual stream, its gradient, rstd1, the attention state and
// every parameter gradient.
// Dimension names: N = B*T rows, C dim, H query heads, KV kv heads, hs head size, QKV = C + 2 KV hs.
#include "model_attention_bf16.h"

// Values of one layer's [wqkv (QKV, C) | wo (C, C)].
static size_t mm_att_weights(const mm_model *m) { return ((size_t)m->QKV + m->C) * (size_t)m->C; }

// Layer l's bf16 copies of wqkv and wo.
static mm_bf16 *mm_att_wqkv(const mm_model *m, int l) { return m->a.wa_16 + (size_t)l * mm_att_weights(m); }
static mm_bf16 *mm_att_wo(const mm_model *m, int l) { return mm_att_wqkv(m, l) + (size_t)m->QKV * m->C; }

void mm_model_attention_bf16_weights(mm_model *m) {
    // wqkv and wo are adjacent in the parameters (model.c mm_layout_params): one conversion per layer
    for (int l = 0; l < m->L; l++) m->be->to_bf16(mm_att_wqkv(m, l), m->layers[l].wqkv, mm_att_weights(m));
}

// Layer l's bf16 tensors.
typedef struct mm_att16 {
    mm_bf16 *ln1, *qkv, *k, *v, *atty;  // k, v: views into qkv (rows of QKV)
    float *rstd1, *state;
} mm_att16;

static mm_att16 mm_att16_layer(const mm_model *m, int l) {
    const size_t N = (size_t)m->B * m->T, C = (size_t)m->C, KVd = (size_t)m->KV * m->hs;
    mm_att16 t;
    t.ln1 = m->a.ln1_16 + l * N * C;
    t.qkv = m->a.qkv_16 + l * N * (size_t)m->QKV;
    t.k = t.qkv + C;
    t.v = t.k + KVd;
    t.atty = m->a.atty_16 + l * N * C;
    t.rstd1 = m->a.rstd1 + l * N;
    t.state = m->a.att + l * m->att_state;
    return t;
}

void mm_model_attention_bf16_forward(mm_model *m, int l, const float *x, float *hres) {
    const mm_backend *be = m->be;
    const int B = m->B, T = m->T, N = B * T, C = m->C, QKV = m->QKV;
    const mm_att16 t = mm_att16_layer(m, l);
    be->rmsnorm_forward_bf16(t.ln1, t.rstd1, x, m->layers[l].attention_norm, N, C, m->config.norm_eps);
    be->matmul_forward_bf16(t.qkv, t.ln1, mm_att_wqkv(m, l), N, C, QKV);  // (N, QKV)
    be->rope_forward_bf16(t.qkv, QKV, m->rope_cos, m->rope_sin, B, T, m->H + m->KV, m->hs, 0);
    be->attention_forward_bf16(t.atty, t.state, t.qkv, QKV, t.k, t.v, QKV, B, T, T, m->H, m->KV, m->hs);
    be->matmul_forward_residual_bf16(hres, x, t.atty, mm_att_wo(m, l), N, C, C);  // (N, C) fp32
}

void mm_model_attention_bf16_backward(mm_model *m, int l) {
    const mm_backend *be = m->be;
    const int B = m->B, T = m->T, N = B * T, C = m->C, QKV = m->QKV;
    const mm_grad_activations *ga = &m->ga;
    const mm_layer_weights *dw = &m->dlayers[l];
    const mm_att16 t = mm_att16_layer(m, l);
    mm_bf16 *dq = ga->dqkv_16, *dk = dq + C, *dv = dk + (size_t)m->KV * m->hs;
    // datty = dres wo, dwo += dres^T atty
    be->matmul_backward_bf16(ga->datty_16, MM_STORE_BF16, dw->wo, ga->dres_16, t.atty, mm_att_wo(m, l), N, C,
                             C);
    be->attention_backward_bf16(dq, dk, dv, ga->datt, ga->datty_16, t.atty, t.state, t.qkv, QKV, t.k, t.v,
                                QKV, B, T, T, m->H, m->KV, m->hs);
    be->rope_backward_bf16(ga->dqkv_16, QKV, m->rope_cos, m->rope_sin, B, T, m->H + m->KV, m->hs, 0);
    // dln1 = dqkv wqkv, dwqkv += dqkv^T ln1
    be->matmul_backward_bf16(ga->dln_16, MM_STORE_BF16, dw->wqkv, ga->dqkv_16, t.ln1, mm_att_wqkv(m, l), N, C,
                             QKV);
}
