// Private to the model: the SwiGLU MLP with its activations stored in bf16 (m->ffn_bf16;
// backend.h "the feed-forward block in bf16") — the dense block's feed-forward half (model.c) and
// `model`'s fusion MLP over [z | m] (model_memory.c) — kept out of both.
#ifndef MM_MODEL_FFN_BF16_H
#define MM_MODEL_FFN_BF16_H

#include "minimind/model.h"

// Before a forward: every layer's bf16 copy of [w13 | w2] from the fp32 weights.
void mm_model_ffn_bf16_weights(mm_model *m);
// Layer l's MLP on x16 (N, CF) in bf16 (h13, g kept in bf16): out (N, C) = res + w2 silu(w1 x) * w3 x.
void mm_model_ffn_bf16_mlp_forward(mm_model *m, int l, const mm_bf16 *x16, const float *res, float *out);
// Its backward: ga.dres_16 holds d(out) in bf16 (the norm backward above made it); dx (N, CF) =
// d(x) stored as dx_type, OVERWRITTEN; dw2, dw13 +=.
void mm_model_ffn_bf16_mlp_backward(mm_model *m, int l, const mm_bf16 *x16, void *dx, mm_storage dx_type);
// The dense block's half, layer l: xo (N, C) = hres + MLP(ln2), ln2 = RMSNorm(hres) in bf16 (rstd2 kept).
void mm_model_ffn_bf16_forward(mm_model *m, int l, const float *hres, float *xo);
// Its backward: ga.dres_16 holds d(xo) in bf16; writes ga.dln_16 = d(ln2) (bf16) and accumulates
// dw2, dw13.
void mm_model_ffn_bf16_backward(mm_model *m, int l);

#endif
