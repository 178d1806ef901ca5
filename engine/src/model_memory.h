// Private to the model: the second half of a block in the memory variants (`model`,
// `model_no_feed`), kept out of model.c. See minimind/model.h and minimind/memory.h.
#ifndef MM_MODEL_MEMORY_H
#define MM_MODEL_MEMORY_H

#include "minimind/model.h"

// During init (model_type != model_original): the memory shape, F / CF of the fusion, the bank.
int mm_model_memory_setup(mm_model *m, int num_candidates, mm_memory_select select);
void mm_model_memory_free(mm_model *m);
// Training buffers for the (B, T) of the last mm_ensure_acts.
int mm_model_memory_ensure_acts(mm_model *m);
int mm_model_memory_ensure_gacts(mm_model *m);
// Layer l: xo (N, C) = hres + second half, from z = RMSNorm(hres) (N, C).
int mm_model_memory_forward(mm_model *m, int l, const float *hres, const float *z, float *xo);
// After a training forward: every layer's reads (a->midx, a->mw) and the hidden states entering
// the memory layers (hres, (L, N, C) backend memory) into m->tracker, layer after layer. No-op
// without a tracker or outside training.
int mm_model_memory_track(mm_model *m, const float *hres, int N);
// Layer l backward: ga.dres holds d(out); writes ga.dln = d(z) and accumulates parameter gradients.
void mm_model_memory_backward(mm_model *m, int l, const float *z);
// Cached inference, n rows: x (n, C) += second half of z (n, C).
int mm_model_memory_forward_cached(mm_model *m, int l, float *x, const float *z, int n);
// Forward FLOPs of one layer's memory part (+ fusion excluded) for N rows.
double mm_model_memory_flops(const mm_model *m, double N);

// (model.c) Carves n floats from *cursor of a buffer laid out in floats (or only counts them
// when base == NULL); the _bf16 form n bf16 values, starting 16 bytes aligned relative to base.
float *mm_model_carve(float *base, size_t *cursor, size_t n);
mm_bf16 *mm_model_carve_bf16(float *base, size_t *cursor, size_t n);
// (model.c, for both halves of a block) out (M, N) = res + inp (M, K) @ w^T with out != res: the
// backend's matmul_forward_residual, else a copy of res and an accumulating matmul.
void mm_model_residual_matmul(const mm_backend *be, float *out, const float *res, const float *inp,
                              const float *w, int M, int K, int N);

#endif
