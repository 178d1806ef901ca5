// minimind/stats.h against published values: the Wilson intervals of Newcombe (1998, Statistics in
// Medicine 17:857, Table I, method 3), McNemar's exact p-values worked by hand from the binomial
// distribution, the standard error by hand.
#include <criterion/criterion.h>
#include <math.h>

#include "minimind/stats.h"

Test(stats, standard_error_of_the_mean) {
    const double x[] = {1, 2, 3, 4};
    double se;
    cr_assert_float_eq(mm_mean_stderr(x, 4, &se), 2.5, 1e-15);
    cr_assert_float_eq(se, sqrt(5.0 / 3.0) / 2.0, 1e-15);       // s² = 5/3
    const double big[] = {1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4};  // no cancellation
    mm_mean_stderr(big, 4, &se);
    cr_assert_float_eq(se, sqrt(5.0 / 3.0) / 2.0, 1e-6);
    cr_assert_float_eq(mm_mean_stderr(x, 1, &se), 1.0, 0);
    cr_assert(isnan(se), "one value has no standard error");
    cr_assert(isnan(mm_mean_stderr(x, 0, &se)) && isnan(se));
}

// Newcombe's Table I, the score method without continuity correction, to his 4 decimals.
Test(stats, wilson_interval_matches_newcombe_1998) {
    const struct {
        long k, n;
        double lo, hi;
    } t[] = {
        {81, 263, 0.2553, 0.3662}, {15, 148, 0.0624, 0.1605}, {0, 20, 0.0, 0.1611}, {1, 29, 0.0061, 0.1718}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        double lo, hi;
        mm_wilson_interval(t[i].k, t[i].n, MM_Z95, &lo, &hi);
        cr_assert(fabs(lo - t[i].lo) < 5e-5 && fabs(hi - t[i].hi) < 5e-5,
                  "%ld/%ld: [%.5f, %.5f], published [%.4f, %.4f]", t[i].k, t[i].n, lo, hi, t[i].lo, t[i].hi);
    }
    double lo, hi;
    mm_wilson_interval(20, 20, MM_Z95, &lo, &hi);  // the mirror of 0/20
    cr_assert(fabs(lo - (1 - 0.1611)) < 5e-5 && hi == 1.0, "[%.5f, %.5f]", lo, hi);
    mm_wilson_interval(0, 0, MM_Z95, &lo, &hi);
    cr_assert(lo == 0.0 && hi == 1.0);
}

// p = 2·Σ_{i ≤ min(b,c)} C(b+c, i) / 2^(b+c), at most 1.
Test(stats, mcnemar_exact_p_values) {
    cr_assert_float_eq(mm_mcnemar_exact_p(0, 5), 2.0 / 32, 1e-12);
    cr_assert_float_eq(mm_mcnemar_exact_p(9, 1), 2.0 * (1 + 10) / 1024, 1e-12);
    cr_assert_float_eq(mm_mcnemar_exact_p(2, 10), 2.0 * (1 + 12 + 66) / 4096, 1e-12);
    cr_assert_float_eq(mm_mcnemar_exact_p(3, 3), 1.0, 0);
    cr_assert_float_eq(mm_mcnemar_exact_p(0, 0), 1.0, 0);
    cr_assert_float_eq(mm_mcnemar_exact_p(0, 1), 1.0, 0);
    // Large counts stay finite: 400 vs 600 discordant pairs (normal approximation: z = 6.32, p ≈ 2.6e-10).
    const double p = mm_mcnemar_exact_p(400, 600);
    cr_assert(p > 1e-10 && p < 1e-9, "p = %g", p);
}
