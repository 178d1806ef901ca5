// SwiGLU gate of the feed-forward block: w2(silu(w1 x) * w3 x); w1 and w3 run as one fused sgemm
// whose rows are [h1 | h3].
//   N rows (B*T), F hidden
//   forward:  g (N,F) = silu(h1) * h3,  h13 (N,2F)
//   backward: dh1 = dg * h3 * s * (1 + h1 (1 - s)),  dh3 = dg * h1 * s,  s = sigmoid(h1)
#include "cpu_ops.h"

void mm_cpu_swiglu_forward(float *g, const float *h13, int N, int F) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *h1 = h13 + (size_t)n * 2 * F, *h3 = h1 + F;
        float *o = g + (size_t)n * F;
#pragma omp simd
        for (int f = 0; f < F; f++) o[f] = h1[f] * mm_sigmoidf(h1[f]) * h3[f];
    }
}

void mm_cpu_swiglu_backward(float *dh13, const float *dg, const float *h13, int N, int F) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *h1 = h13 + (size_t)n * 2 * F, *h3 = h1 + F, *d = dg + (size_t)n * F;
        float *d1 = dh13 + (size_t)n * 2 * F, *d3 = d1 + F;
#pragma omp simd
        for (int f = 0; f < F; f++) {
            float s = mm_sigmoidf(h1[f]);
            d1[f] = d[f] * h3[f] * s * (1.0f + h1[f] * (1.0f - s));
            d3[f] = d[f] * h1[f] * s;
        }
    }
}
