// Private to the model: the dense block's feed-forward half with its activations stored in bf16
// (m->ffn_bf16; backend.h "the feed-forward block in bf16"), kept out of model.c; the weights'
// copies also serve `model`'s fusion MLP (model_memory.c).
#ifndef MM_MODEL_FFN_BF16_H
#define MM_MODEL_FFN_BF16_H

#include "minimind/model.h"

// Before a forward: every layer's bf16 copy of [w13 | w2] from the fp32 weights.
void mm_model_ffn_bf16_weights(mm_model *m);
// Layer l's bf16 copies: w13 (2F, CF), w2 (C, F).
mm_bf16 *mm_model_ffn_bf16_w13(const mm_model *m, int l);
mm_bf16 *mm_model_ffn_bf16_w2(const mm_model *m, int l);
// Layer l: xo (N, C) = hres + w2 silu(w1 ln2) * w3 ln2, ln2 = RMSNorm(hres) (rstd2 kept).
void mm_model_ffn_bf16_forward(mm_model *m, int l, const float *hres, float *xo);
// Layer l backward: ga.dres holds d(xo); writes ga.dln = d(ln2) (fp32) and accumulates dw2, dw13.
void mm_model_ffn_bf16_backward(mm_model *m, int l);

#endif
