// Standard error, Wilson interval, McNemar's exact test (minimind/stats.h).
#include "minimind/stats.h"

#include <math.h>

double mm_mean_stderr(const double *x, size_t n, double *stderr_out) {
    *stderr_out = NAN;
    if (n == 0) return NAN;
    double mean = 0.0;
    for (size_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    if (n > 1) {
        double ss = 0.0;  // two passes: no cancellation when the values are large and close
        for (size_t i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
        *stderr_out = sqrt(ss / (double)(n - 1) / (double)n);
    }
    return mean;
}

void mm_wilson_interval(long k, long n, double z, double *lo, double *hi) {
    if (n <= 0) {
        *lo = 0.0, *hi = 1.0;
        return;
    }
    const double p = (double)k / (double)n, z2 = z * z, nn = (double)n;
    const double centre = p + z2 / (2.0 * nn), half = z * sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn));
    const double d = 1.0 + z2 / nn;
    *lo = fmax(0.0, (centre - half) / d);
    *hi = fmin(1.0, (centre + half) / d);
}

double mm_mcnemar_exact_p(long b, long c) {
    const long n = b + c, m = b < c ? b : c;
    if (n <= 0) return 1.0;
    // P(X ≤ m) = Σ_{i ≤ m} C(n, i) / 2^n, each term through lgamma (n may be in the thousands).
    double tail = 0.0;
    for (long i = 0; i <= m; i++)
        tail += exp(lgamma((double)n + 1) - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) -
                    (double)n * log(2.0));
    const double p = 2.0 * tail;
    return p < 1.0 ? p : 1.0;
}
