// Private to the model: the attention half of a block with its activations stored in bf16
// (m->att_bf16; backend.h "the attention block in bf16"), kept out of model.c.
#ifndef MM_MODEL_ATTENTION_BF16_H
#define MM_MODEL_ATTENTION_BF16_H

#include "minimind/model.h"

// Before a forward: every layer's bf16 copy of [wqkv | wo] from the fp32 weights.
void mm_model_attention_bf16_weights(mm_model *m);
// Layer l's attention half: hres (N, C) = x + wo attn(rope(wq ln1), rope(wk ln1), wv ln1), ln1 =
// RMSNorm(x); ln1, qkv and the attention output kept in bf16 (rstd1 and the state in fp32).
void mm_model_attention_bf16_forward(mm_model *m, int l, const float *x, float *hres);
// Its backward: ga.dres_16 holds d(hres) in bf16 (the norm backward above made it); writes
// ga.dln_16 = d(ln1) (bf16) and accumulates dwo, dwqkv.
void mm_model_attention_bf16_backward(mm_model *m, int l);

#endif
