// The CPU kernels' inline math (engine/src/cpu/cpu_ops.h): mm_fast_expf against libm's expf
// over its whole clamped range, its clamping, and NaN in -> NaN out (a forward overflow in fp16
// training feeds NaN through SiLU and softmax; the sanitizer build checks the bit tricks stay
// defined behaviour).
#include <criterion/criterion.h>
#include <math.h>

#include "cpu/cpu_ops.h"

Test(cpu_math, fast_expf_matches_libm) {
    double worst = 0.0;
    for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
        const double want = exp((double)x), got = mm_fast_expf(x);
        const double rel = fabs(got - want) / want;
        if (rel > worst) worst = rel;
    }
    cr_expect_lt(worst, 1e-6, "worst relative error %g", worst);
    cr_expect_eq(mm_fast_expf(0.0f), 1.0f);
}

// Inputs through volatile: computed at run time (a constant-folded call would not be checked).
static volatile float v_nan = NAN, v_inf = INFINITY;

Test(cpu_math, fast_expf_clamps_and_keeps_nan) {
    const float nan_in = v_nan, inf_in = v_inf;
    cr_expect(isnan(mm_fast_expf(nan_in)), "exp(NaN) must be NaN, got %g", mm_fast_expf(nan_in));
    cr_expect(isnan(mm_fast_expf(-nan_in)));
    const float hi = mm_fast_expf(inf_in), lo = mm_fast_expf(-inf_in);
    cr_expect(isfinite(hi) && hi > 1e38f, "exp(+inf) clamps to exp(88.3), got %g", hi);
    cr_expect(lo >= 0.0f && lo < 1e-37f, "exp(-inf) clamps to exp(-87.3), got %g", lo);
    cr_expect(isnan(mm_sigmoidf(nan_in)));
}
