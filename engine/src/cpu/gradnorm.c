// Global gradient L2 norm and clipping as torch.nn.utils.clip_grad_norm_:
// coef = max_norm / (norm + 1e-6), gradients scaled by min(coef, 1). And the plain scaling
// x *= s that unscales fp16 loss-scaled gradients (s = 1/scale, a power of two: exact).
//   n gradient values (flat)
#include "cpu_ops.h"

float mm_cpu_gradnorm_clip(float *g, size_t n, float max_norm) {
    double ss = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : ss)
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    float norm = (float)sqrt(ss);
    if (max_norm > 0.0f) {
        float coef = max_norm / (norm + 1e-6f);
        if (coef < 1.0f) {
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < n; i++) g[i] *= coef;
        }
    }
    return norm;
}

void mm_cpu_scale(float *x, size_t n, float s) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] *= s;
}
