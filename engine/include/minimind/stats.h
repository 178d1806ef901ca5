// The uncertainty of an evaluation's numbers, so that two experiments (or a model and its ablation)
// are compared against their noise: the standard error of a mean, the Wilson score interval of a
// proportion, and McNemar's exact test for paired right/wrong outcomes. Used by `minimind eval`
// (eval.json) and by `expt` (records, `expt diff`), which computes them from eval.json itself.
#ifndef MINIMIND_STATS_H
#define MINIMIND_STATS_H

#include <stddef.h>

// z of a two-sided 95 % normal interval.
#define MM_Z95 1.959963984540054

// The mean of x[0..n) and its standard error s/√n (s: the sample standard deviation, n − 1 in its
// denominator). n = 0: both NaN; n = 1: the standard error is NaN. Returns the mean.
double mm_mean_stderr(const double *x, size_t n, double *stderr_out);

// The Wilson score interval of k successes in n trials at normal quantile z (MM_Z95 for 95 %):
// (p̂ + z²/2n ∓ z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n), clamped to [0, 1]. n = 0: [0, 1].
void mm_wilson_interval(long k, long n, double z, double *lo, double *hi);

// McNemar's exact test of paired outcomes: b pairs right only in the first, c right only in the
// second; the two-sided p-value 2·P(X ≤ min(b, c)), X ~ Binomial(b + c, 1/2), at most 1 (1 when
// b + c = 0). A small p: the two disagree more one way than chance allows.
double mm_mcnemar_exact_p(long b, long c);

#endif
