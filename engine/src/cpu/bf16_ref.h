// Helpers of the bf16 ops' CPU reference (ffn_bf16.c, attention_bf16.c): fp32 scratch, bf16 ->
// fp32 widening and fp32 -> bf16 narrowing (round to nearest even, engine/src/cuda/ops_math.h: the
// CUDA kernels' own conversion). A reference has no error path: an allocation failure aborts with
// a message.
#ifndef MM_CPU_BF16_REF_H
#define MM_CPU_BF16_REF_H

#include <stddef.h>

#include "minimind/backend.h"

// n zeroed floats (free() them).
float *mm_ref_floats(size_t n);
// A fp32 copy of x (n).
float *mm_ref_widen(const mm_bf16 *x, size_t n);
// dst (n) = bf16(src); frees src.
void mm_ref_narrow(mm_bf16 *dst, float *src, size_t n);
// x (n) = the values bf16(x) stands for (a bf16 store, then a load).
void mm_ref_round(float *x, size_t n);
// Values a tensor of `rows` rows of `width` values, rows `ld` apart, spans: (rows-1) ld + width.
size_t mm_ref_span(size_t rows, size_t ld, size_t width);
// dst rows (rows, width; rows ld apart) = bf16(src rows, same layout); the values between rows are
// left alone (another tensor's columns). Frees src.
void mm_ref_narrow_rows(mm_bf16 *dst, float *src, size_t rows, size_t ld, size_t width);

#endif
