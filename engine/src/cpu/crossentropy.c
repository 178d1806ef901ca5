// Masked cross-entropy with the tied output head (MiniMind's train loop:
// sum(CE(logits, Y) * mask) / sum(mask)).
//   N rows (B*T), C model dim, V vocabulary
//   forward:  logits (N,V) = x (N,C) @ wte^T (wte (V,C));  lse (N);  loss_n = lse_n - logits[n, y_n]
//   backward: dlogits = (softmax - onehot(y)) * mask_n * dloss / sum(mask), written over logits;
//             dx (N,C) = dlogits @ wte;  dwte (V,C) += dlogits^T @ x
#include <cblas.h>

#include "cpu_ops.h"

static double mm_mask_sum(const float *mask, int N) {
    if (!mask) return (double)N;
    double s = 0.0;
    for (int n = 0; n < N; n++) s += mask[n];
    return s;
}

float mm_cpu_crossentropy_rows(const float *logits, float *lse, const int32_t *targets, const float *mask,
                               int N, int V) {
    double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total)
    for (int n = 0; n < N; n++) {
        const float *l = logits + (size_t)n * V;
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < V; j++) sum += mm_fast_expf(l[j] - mx);
        lse[n] = mx + logf(sum);
        float w = mask ? mask[n] : 1.0f;
        if (targets && w != 0.0f) total += (double)w * (double)(lse[n] - l[targets[n]]);
    }
    double ms = mm_mask_sum(mask, N);
    return ms > 0.0 ? (float)(total / ms) : 0.0f;
}

float mm_cpu_crossentropy_forward(float *logits, float *lse, const float *x, const float *wte,
                                  const int32_t *targets, const float *mask, int N, int C, int V) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, V, C, 1.0f, x, C, wte, C, 0.0f, logits, V);
    return mm_cpu_crossentropy_rows(logits, lse, targets, mask, N, V);
}

void mm_cpu_crossentropy_dlogits(float *logits, const float *lse, const int32_t *targets, const float *mask,
                                 float dloss, int N, int V) {
    double ms = mm_mask_sum(mask, N);
    float base = ms > 0.0 ? (float)(dloss / ms) : 0.0f;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *l = logits + (size_t)n * V;
        float coef = base * (mask ? mask[n] : 1.0f);
        if (coef == 0.0f) {
            memset(l, 0, sizeof(float) * (size_t)V);
            continue;
        }
        float m = lse[n];
#pragma omp simd
        for (int j = 0; j < V; j++) l[j] = mm_fast_expf(l[j] - m) * coef;
        l[targets[n]] -= coef;
    }
}

void mm_cpu_crossentropy_backward(float *dx, float *dwte, float *logits, const float *lse, const float *x,
                                  const float *wte, const int32_t *targets, const float *mask, float dloss,
                                  int N, int C, int V) {
    mm_cpu_crossentropy_dlogits(logits, lse, targets, mask, dloss, N, V);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, V, 1.0f, logits, V, wte, C, 0.0f, dx, C);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, C, N, 1.0f, logits, V, x, C, 1.0f, dwte, C);
}
