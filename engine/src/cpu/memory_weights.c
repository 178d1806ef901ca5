// Read-out weights of the memory layer's candidates (minimind/memory.h).
//   N rows, K candidates
//   forward:  ysoft = softmax(score + noise) per row; w = ysoft (softmax), or the one-hot of its
//             argmax (straight-through Gumbel: the value is the hard selection, the gradient that of
//             ysoft, as torch's F.gumbel_softmax(hard=True) with tau 1)
//   backward: dscore = ysoft * (dw - sum_k ysoft * dw)
#include "cpu_ops.h"

void mm_cpu_memory_weights_forward(float *w, float *ysoft, const float *score, const float *noise, int N, int K,
                                   int hard) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *s = score + (size_t)n * K, *g = noise ? noise + (size_t)n * K : NULL;
        float *y = ysoft + (size_t)n * K, *o = w + (size_t)n * K;
        float mx = -INFINITY;
        int arg = 0;
        for (int k = 0; k < K; k++) {
            y[k] = s[k] + (g ? g[k] : 0.0f);
            if (y[k] > mx) mx = y[k], arg = k;
        }
        float sum = 0.0f;
        for (int k = 0; k < K; k++) sum += (y[k] = expf(y[k] - mx));
        for (int k = 0; k < K; k++) y[k] /= sum;
        for (int k = 0; k < K; k++) o[k] = hard ? (k == arg ? 1.0f : 0.0f) : y[k];
    }
}

void mm_cpu_memory_weights_backward(float *dscore, const float *dw, const float *ysoft, int N, int K) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *y = ysoft + (size_t)n * K, *d = dw + (size_t)n * K;
        float *o = dscore + (size_t)n * K;
        float dot = 0.0f;
        for (int k = 0; k < K; k++) dot += y[k] * d[k];
        for (int k = 0; k < K; k++) o[k] = y[k] * (d[k] - dot);
    }
}
