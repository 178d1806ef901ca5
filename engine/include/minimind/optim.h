// The optimiser of the original training loop: torch.optim.AdamW(model.parameters(), lr) — PyTorch
// defaults betas (0.9, 0.999), eps 1e-8, weight_decay 0.01, decoupled decay applied to ALL
// parameters — the learning-rate schedule of MiniMind's get_lr (set every micro-step), and global
// gradient-norm clipping (mm_model_clip_grad_norm in minimind/model.h, or mm_grad_clip here).
#ifndef MINIMIND_OPTIM_H
#define MINIMIND_OPTIM_H

#include <stddef.h>

#include "minimind/backend.h"

#define MM_ADAMW_BETA1 0.9f
#define MM_ADAMW_BETA2 0.999f
#define MM_ADAMW_EPS 1e-8f
#define MM_ADAMW_WEIGHT_DECAY 0.01f

typedef struct mm_adamw {
    float beta1, beta2, eps, weight_decay;
    long step;      // updates done so far (bias correction uses step+1 on the next update)
    size_t n;       // parameters
    float *m, *v;   // (n) first and second moments, one allocation (m then v) — save both to resume;
                    // backend memory (copy_d2h to read them when !be->host_resident)
    const mm_backend *be;
} mm_adamw;

// Zeroed moments for n parameters. be == NULL selects the CPU backend.
int mm_adamw_init(mm_adamw *o, size_t n, float beta1, float beta2, float eps, float weight_decay,
                  const mm_backend *be);
void mm_adamw_free(mm_adamw *o);
// One update of params (n) with grads (n) at learning rate lr (increments o->step first).
void mm_adamw_step(mm_adamw *o, float *params, const float *grads, float lr);

// MiniMind's get_lr: lr/10 + 0.5*lr*(1 + cos(pi*step/total)), step counted in micro-steps
// (epoch*iters_per_epoch + iter) over total = epochs*iters_per_epoch. With warmup > 0, the value is
// scaled by (step+1)/warmup while step < warmup (linear warm-up). total <= 0 returns lr.
float mm_lr_schedule(long step, long total, float lr, long warmup);

// Global L2 norm of grads (n); scales them by min(1, max_norm/(norm+1e-6)) when max_norm > 0.
// Returns the norm before clipping. be == NULL selects the CPU backend.
float mm_grad_clip(const mm_backend *be, float *grads, size_t n, float max_norm);

#endif
