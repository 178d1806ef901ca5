// The dense block's feed-forward half in bf16 storage (model_ffn_bf16.h): the path of
// mm_model_forward / mm_model_backward when the backend keeps the FFN in bf16 (CUDA in bf16); the
// weights' copies also serve `model`'s fusion MLP (model_memory.c).
// Stored in bf16: ln2 (N, C), h13 (N, 2F), g (N, F), dg (N, F), dh13 (N, 2F), dln2 (N, C: the
// norm's backward input), the residual gradient's copy for w2's backward (N, C: made by the norm
// backward above, model.c) and the weights' copies; fp32: the residual stream, its gradient,
// rstd2 and every parameter gradient.
// Dimension names: N = B*T rows, C dim, F SwiGLU hidden.
#include "model_ffn_bf16.h"

// Values of one layer's [w13 (2F, CF) | w2 (C, F)] (CF = C, or 2C for `model`'s fusion MLP).
static size_t mm_ffn_weights(const mm_model *m) { return (2 * (size_t)m->CF + (size_t)m->C) * (size_t)m->F; }

// Layer l's bf16 copies of w13 and w2.
static mm_bf16 *mm_ffn_w13(const mm_model *m, int l) { return m->a.w_16 + (size_t)l * mm_ffn_weights(m); }
static mm_bf16 *mm_ffn_w2(const mm_model *m, int l) { return mm_ffn_w13(m, l) + (size_t)2 * m->F * m->CF; }

void mm_model_ffn_bf16_weights(mm_model *m) {
    // w13 and w2 are adjacent in the parameters (model.c mm_layout_params): one conversion per layer
    for (int l = 0; l < m->L; l++) m->be->to_bf16(mm_ffn_w13(m, l), m->layers[l].w13, mm_ffn_weights(m));
}

void mm_model_ffn_bf16_mlp_forward(mm_model *m, int l, const mm_bf16 *x16, const float *res, float *out) {
    const mm_backend *be = m->be;
    const int N = m->B * m->T, C = m->C, F = m->F;
    const size_t n = (size_t)N;
    mm_bf16 *h13 = m->a.h13_16 + l * n * 2 * F, *g = m->a.g_16 + l * n * F;
    be->matmul_forward_bf16(h13, x16, mm_ffn_w13(m, l), N, m->CF, 2 * F);     // (N, 2F)
    be->swiglu_forward_bf16(g, h13, N, F);                                    // (N, F)
    be->matmul_forward_residual_bf16(out, res, g, mm_ffn_w2(m, l), N, F, C);  // (N, C) fp32
}

void mm_model_ffn_bf16_mlp_backward(mm_model *m, int l, const mm_bf16 *x16, void *dx, mm_storage dx_type) {
    const mm_backend *be = m->be;
    const int N = m->B * m->T, C = m->C, F = m->F;
    const size_t n = (size_t)N;
    const mm_grad_activations *ga = &m->ga;
    const mm_layer_weights *dw = &m->dlayers[l];
    const mm_bf16 *h13 = m->a.h13_16 + l * n * 2 * F, *g = m->a.g_16 + l * n * F;
    // dg = dres w2, dw2 += dres^T g
    be->matmul_backward_bf16(ga->dg_16, MM_STORE_BF16, dw->w2, ga->dres_16, g, mm_ffn_w2(m, l), N, F, C);
    be->swiglu_backward_bf16(ga->dh13_16, ga->dg_16, h13, N, F);
    // dx = dh13 w13, dw13 += dh13^T x
    be->matmul_backward_bf16(dx, dx_type, dw->w13, ga->dh13_16, x16, mm_ffn_w13(m, l), N, m->CF, 2 * F);
}

void mm_model_ffn_bf16_forward(mm_model *m, int l, const float *hres, float *xo) {
    const int N = m->B * m->T, C = m->C;
    mm_bf16 *ln2 = m->a.ln2_16 + (size_t)l * N * C;
    m->be->rmsnorm_forward_bf16(ln2, m->a.rstd2 + (size_t)l * N, hres, m->layers[l].ffn_norm, N, C,
                                m->config.norm_eps);
    mm_model_ffn_bf16_mlp_forward(m, l, ln2, hres, xo);
}

void mm_model_ffn_bf16_backward(mm_model *m, int l) {
    const size_t n = (size_t)m->B * m->T;
    mm_model_ffn_bf16_mlp_backward(m, l, m->a.ln2_16 + l * n * m->C, m->ga.dln_16,
                                   MM_STORE_BF16);  // d(ln2), into the norm's backward
}
