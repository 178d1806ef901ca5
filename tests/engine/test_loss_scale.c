// The fp16 loss scaler (minimind/loss_scale.h) against a hand-computed torch.cuda.amp.GradScaler
// trace (init 2^16, backoff 0.5, growth 2.0 after 2000 good steps), its resume-state JSON, and one
// optimizer-step boundary replayed with the CPU backend's ops: an overflow injected into the
// gradients makes the step skipped (weights and moments untouched) and halves the scale.
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "minimind/backend.h"
#include "minimind/device.h"
#include "minimind/error.h"
#include "minimind/loss_scale.h"
#include "minimind/optim.h"

// n finite steps; each must be taken.
static void good(mm_loss_scaler *s, int n) {
    for (int i = 0; i < n; i++) cr_assert_eq(mm_loss_scaler_update(s, 1), 1);
}

Test(loss_scale, gradscaler_trace) {
    mm_loss_scaler s;
    mm_loss_scaler_init(&s);
    cr_assert_eq(s.scale, 65536.0f);
    cr_assert_eq(s.good_steps, 0);
    // GradScaler, step by step (scale, growth tracker after each update):
    //   inf            -> 32768, 0   (skipped)
    //   1999 x finite  -> 32768, 1999
    //   finite         -> 65536, 0   (2000 consecutive good steps: growth)
    //   inf, inf       -> 16384, 0
    //   1500 x finite, inf -> 8192, 0 (the tracker restarts)
    //   2000 x finite  -> 16384, 0
    //   finite         -> 16384, 1
    cr_assert_eq(mm_loss_scaler_update(&s, 0), 0);
    cr_expect(s.scale == 32768.0f && s.good_steps == 0);
    good(&s, 1999);
    cr_expect(s.scale == 32768.0f && s.good_steps == 1999, "%g %ld", s.scale, s.good_steps);
    good(&s, 1);
    cr_expect(s.scale == 65536.0f && s.good_steps == 0, "%g %ld", s.scale, s.good_steps);
    cr_assert_eq(mm_loss_scaler_update(&s, 0), 0);
    cr_assert_eq(mm_loss_scaler_update(&s, 0), 0);
    cr_expect(s.scale == 16384.0f && s.good_steps == 0);
    good(&s, 1500);
    cr_assert_eq(mm_loss_scaler_update(&s, 0), 0);
    cr_expect(s.scale == 8192.0f && s.good_steps == 0);
    good(&s, 2000);
    cr_expect(s.scale == 16384.0f && s.good_steps == 0);
    good(&s, 1);
    cr_expect(s.scale == 16384.0f && s.good_steps == 1);
    // the unscale factor is exact (power of two)
    cr_expect_eq(mm_loss_scaler_inv(&s) * s.scale, 1.0f);
    cr_expect_eq(mm_loss_scaler_inv(&s), 1.0f / 16384.0f);
}

Test(loss_scale, growth_that_would_overflow_is_not_applied) {
    mm_loss_scaler s = {ldexpf(1.0f, 127), MM_LOSS_SCALE_INTERVAL - 1};
    good(&s, 1);
    cr_expect_eq(s.scale, ldexpf(1.0f, 127));  // 2^128 is inf in float: kept, tracker reset
    cr_expect_eq(s.good_steps, 0);
}

Test(loss_scale, collapse_after_thirty_consecutive_overflows) {
    mm_loss_scaler s;
    mm_loss_scaler_init(&s);
    for (int i = 0; i < 29; i++) {
        cr_assert_eq(mm_loss_scaler_update(&s, 0), 0);
        cr_assert(!mm_loss_scaler_collapsed(&s), "collapsed after %d overflows (scale %g)", i + 1, s.scale);
    }
    cr_assert_eq(mm_loss_scaler_update(&s, 0), 0);  // 2^16 * 2^-30 = 2^-14 < 1e-4
    cr_expect(mm_loss_scaler_collapsed(&s), "scale %g", s.scale);
}

Test(loss_scale, resume_state_round_trip_and_errors) {
    mm_loss_scaler s = {1024.0f, 1234}, r;
    json_t *o = json_object();
    cr_assert_eq(mm_loss_scaler_to_json(&s, o), 0);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    o = json_loads(text, 0, NULL);
    free(text);
    mm_loss_scaler_init(&r);
    cr_assert_eq(mm_loss_scaler_from_json(&r, o, "ckpt"), 0, "%s", mm_error_message());
    cr_expect(r.scale == 1024.0f && r.good_steps == 1234);
    json_object_set_new(o, "loss_scale_good_steps", json_integer(MM_LOSS_SCALE_INTERVAL));
    cr_expect_eq(mm_loss_scaler_from_json(&r, o, "ckpt"), -1);
    cr_expect(strstr(mm_error_message(), "ckpt: resume state: loss_scale") != NULL, "%s", mm_error_message());
    json_object_set_new(o, "loss_scale_good_steps", json_integer(3));
    json_object_set_new(o, "loss_scale", json_real(-1.0));
    cr_expect_eq(mm_loss_scaler_from_json(&r, o, "ckpt"), -1);
    json_object_del(o, "loss_scale");
    cr_expect_eq(mm_loss_scaler_from_json(&r, o, "ckpt"), -1);
    cr_expect(strstr(mm_error_message(), "no fp16 loss scale") != NULL, "%s", mm_error_message());
    json_decref(o);
}

// One optimizer-step boundary as the trainer runs it (engine/src/trainer.c): unscale with the
// backend's `scale` op, norm + clip, update the scaler, AdamW only when the step is taken.
static int boundary(const mm_backend *be, mm_loss_scaler *s, mm_adamw *o, float *p, float *g, size_t n) {
    be->scale(g, n, mm_loss_scaler_inv(s));
    float norm = be->gradnorm_clip(g, n, 1.0f);
    int take = mm_loss_scaler_update(s, isfinite(norm));
    if (take) mm_adamw_step(o, p, g, 1e-3f);
    return take;
}

Test(loss_scale, injected_overflow_skips_the_step_on_the_cpu_backend) {
    const mm_backend *be = mm_backend_cpu();
    const size_t n = 1000;
    float p[1000], g[1000], g0[1000], p_ref[1000];
    for (size_t i = 0; i < n; i++) p[i] = sinf((float)i), g0[i] = 1e-3f * cosf(0.37f * (float)i);
    mm_adamw o;
    cr_assert_eq(mm_adamw_init(&o, n, 0.9f, 0.999f, 1e-8f, 0.01f, be), 0);
    mm_loss_scaler s;
    mm_loss_scaler_init(&s);
    // a good step: the scaled gradients unscale exactly to g0
    for (size_t i = 0; i < n; i++) g[i] = g0[i] * s.scale;
    cr_assert_eq(boundary(be, &s, &o, p, g, n), 1);
    for (size_t i = 0; i < n; i++) cr_assert_eq(g[i], g0[i], "unscaled gradient %zu: %.9g vs %.9g", i, g[i], g0[i]);
    cr_expect_eq(o.step, 1);
    cr_expect(s.scale == 65536.0f && s.good_steps == 1);
    // an overflow in one gradient: skipped, nothing changes but the scale
    memcpy(p_ref, p, sizeof p);
    float m0 = o.m[5], v0 = o.v[5];
    for (size_t i = 0; i < n; i++) g[i] = g0[i] * s.scale;
    g[17] = INFINITY;
    cr_assert_eq(boundary(be, &s, &o, p, g, n), 0);
    cr_expect_eq(memcmp(p, p_ref, sizeof p), 0, "the weights changed on a skipped step");
    cr_expect(o.step == 1 && o.m[5] == m0 && o.v[5] == v0, "the optimizer state changed on a skipped step");
    cr_expect(s.scale == 32768.0f && s.good_steps == 0);
    // a NaN does the same
    for (size_t i = 0; i < n; i++) g[i] = g0[i] * s.scale;
    g[3] = NAN;
    cr_assert_eq(boundary(be, &s, &o, p, g, n), 0);
    cr_expect(s.scale == 16384.0f);
    // and the next good step goes through at the lower scale
    for (size_t i = 0; i < n; i++) g[i] = g0[i] * s.scale;
    cr_assert_eq(boundary(be, &s, &o, p, g, n), 1);
    cr_expect_eq(o.step, 2);
    cr_expect(memcmp(p, p_ref, sizeof p) != 0);
    mm_adamw_free(&o);
}

Test(loss_scale, cpu_accepts_every_precision_and_unknown_names_the_key) {
    const mm_backend *be = mm_backend_cpu();
    cr_expect_eq(be->set_precision(MM_PRECISION_BF16), 0);
    cr_expect_eq(mm_backend_check_precision(be, "fp16"), 0);
    cr_expect_eq(mm_backend_check_precision(be, "bf16"), 0);
    cr_expect_eq(mm_backend_check_precision(be, "fp32"), 0);
    cr_expect_eq(mm_backend_check_precision(be, "fp8"), -1);
    cr_expect(strstr(mm_error_message(), "mixed_precision = 'fp8'") != NULL, "%s", mm_error_message());
}
