// Helpers of the bf16 ops' CPU reference (bf16_ref.h).
#include "bf16_ref.h"

#include <stdio.h>
#include <stdlib.h>

#include "../cuda/ops_math.h"
#include "cpu_ops.h"

float *mm_ref_floats(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "bf16 reference: out of memory for %zu floats\n", n);
        abort();
    }
    return p;
}

float *mm_ref_widen(const mm_bf16 *x, size_t n) {
    float *f = mm_ref_floats(n);
    for (size_t i = 0; i < n; i++) f[i] = mm_bf16_float(x[i]);
    return f;
}

void mm_ref_narrow(mm_bf16 *dst, float *src, size_t n) {
    mm_cpu_to_bf16(dst, src, n);
    free(src);
}

void mm_ref_round(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = mm_bf16_float(mm_bf16_bits(x[i]));
}

size_t mm_ref_span(size_t rows, size_t ld, size_t width) { return rows ? (rows - 1) * ld + width : 0; }

void mm_ref_narrow_rows(mm_bf16 *dst, float *src, size_t rows, size_t ld, size_t width) {
    mm_cpu_to_bf16_rows(dst, (int)ld, src, (int)ld, (int)rows, (int)width);
    free(src);
}
