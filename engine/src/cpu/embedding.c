// Token embedding lookup (the table is tied to the output head).
//   N rows (B*T), C model dim; wte (V,C)
//   forward:  out (N,C) = wte[tokens]
//   backward: dwte[tokens] += dout  — parallel over column blocks so repeated tokens never race.
#include "cpu_ops.h"

void mm_cpu_embedding_forward(float *out, const int32_t *tokens, const float *wte, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, wte + (size_t)tokens[n] * C, sizeof(float) * (size_t)C);
}

void mm_cpu_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int N, int C) {
    enum { CB = 64 };  // columns per task
    int nblk = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, c1 = c0 + CB < C ? c0 + CB : C;
        for (int n = 0; n < N; n++) {
            float *dst = dwte + (size_t)tokens[n] * C;
            const float *src = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}
