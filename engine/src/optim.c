// AdamW state, MiniMind's cosine learning-rate schedule and gradient clipping (minimind/optim.h).
#include "minimind/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"

int mm_adamw_init(mm_adamw *o, size_t n, float beta1, float beta2, float eps, float weight_decay,
                  const mm_backend *be) {
    memset(o, 0, sizeof *o);
    if (!(beta1 >= 0.0f && beta1 < 1.0f) || !(beta2 >= 0.0f && beta2 < 1.0f))
        return mm_errorf("adamw: betas must lie in [0, 1) (got %g, %g)", beta1, beta2);
    if (!(eps > 0.0f)) return mm_errorf("adamw: eps must be positive (got %g)", eps);
    if (!(weight_decay >= 0.0f)) return mm_errorf("adamw: weight_decay must be >= 0 (got %g)", weight_decay);
    o->be = be ? be : mm_backend_cpu();
    o->m = o->be->alloc(2 * n * sizeof(float));
    if (!o->m) return mm_error_prefix("adamw: moments for %zu parameters", n);
    o->be->zero(o->m, 2 * n * sizeof(float));
    o->v = o->m + n;
    o->n = n;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    return 0;
}

void mm_adamw_free(mm_adamw *o) {
    if (o->m) o->be->free(o->m);
    memset(o, 0, sizeof *o);
}

void mm_adamw_step(mm_adamw *o, float *params, const float *grads, float lr) {
    o->step++;
    o->be->adamw_update(params, grads, o->m, o->v, o->n, lr, o->beta1, o->beta2, o->eps, o->weight_decay, o->step);
}

float mm_lr_schedule(long step, long total, float lr, long warmup) {
    if (total <= 0) return lr;
    double v = lr / 10.0 + 0.5 * lr * (1.0 + cos(M_PI * (double)step / (double)total));
    if (warmup > 0 && step < warmup) v *= (double)(step + 1) / (double)warmup;
    return (float)v;
}

float mm_grad_clip(const mm_backend *be, float *grads, size_t n, float max_norm) {
    if (!be) be = mm_backend_cpu();
    return be->gradnorm_clip(grads, n, max_norm);
}
