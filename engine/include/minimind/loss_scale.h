// Dynamic loss scaling for [train] mixed_precision = fp16, with the semantics and defaults of
// torch.cuda.amp.GradScaler (the original MiniMind recipe):
//   - every micro-step's backward starts from dloss * scale (scale = 2^16 at the start);
//   - at an optimizer step the gradients are unscaled (times 1/scale, exact: the scale is a power
//     of two) before clipping; when they are not all finite (their norm is NaN/Inf) the optimizer
//     step is SKIPPED and the scale is halved;
//   - after 2000 consecutive optimizer steps with finite gradients the scale doubles.
// The scale and the count of good steps are part of the resume state. The trainer stops a run
// whose scale falls below MM_LOSS_SCALE_MIN (the gradients overflow even unscaled).
// Host-side bookkeeping only; the unscaling itself is the backend's `scale` op.
#ifndef MINIMIND_LOSS_SCALE_H
#define MINIMIND_LOSS_SCALE_H

#include <jansson.h>

#define MM_LOSS_SCALE_INIT 65536.0f     // GradScaler init_scale 2^16
#define MM_LOSS_SCALE_GROWTH 2.0f       // growth_factor
#define MM_LOSS_SCALE_BACKOFF 0.5f      // backoff_factor
#define MM_LOSS_SCALE_INTERVAL 2000     // growth_interval (optimizer steps)
#define MM_LOSS_SCALE_MIN 1e-4f         // below this the trainer stops (2^16 halved 30 times)

typedef struct mm_loss_scaler {
    float scale;      // the loss gradient of every micro-step is multiplied by this
    long good_steps;  // consecutive optimizer steps with finite gradients since the scale last
                      // changed, in [0, MM_LOSS_SCALE_INTERVAL) (GradScaler's growth tracker)
} mm_loss_scaler;

void mm_loss_scaler_init(mm_loss_scaler *s);

// 1/scale: the factor that unscales the gradients.
float mm_loss_scaler_inv(const mm_loss_scaler *s);

// One optimizer step's outcome: finite = the unscaled gradients are all finite. Updates the scale
// (backoff on a non-finite step, growth after MM_LOSS_SCALE_INTERVAL finite ones; a growth that
// would overflow float is not applied, as GradScaler). Returns 1 when the optimizer step is
// taken, 0 when it must be skipped.
int mm_loss_scaler_update(mm_loss_scaler *s, int finite);

// 1 when the scale has fallen below MM_LOSS_SCALE_MIN.
int mm_loss_scaler_collapsed(const mm_loss_scaler *s);

// Resume state: sets "loss_scale" and "loss_scale_good_steps" in obj (0, or -1 out of memory);
// reads them back (-1 with a message naming `where` when absent or out of range).
int mm_loss_scaler_to_json(const mm_loss_scaler *s, json_t *obj);
int mm_loss_scaler_from_json(mm_loss_scaler *s, const json_t *obj, const char *where);

#endif
