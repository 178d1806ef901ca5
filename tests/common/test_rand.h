// Deterministic random inputs for the numeric suites: xorshift64, so a seed gives the same values
// on every machine. Each suite keeps its own state (seed) and wraps these.
#ifndef MM_TEST_RAND_H
#define MM_TEST_RAND_H

#include <stddef.h>
#include <stdint.h>

// Uniform in [0, 1) with 53 random bits.
static inline double mm_test_urand(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (double)(*state >> 11) * (1.0 / 9007199254740992.0);
}

// Uniform in [-scale, scale).
static inline float mm_test_frand(uint64_t *state, float scale) {
    return (float)((2.0 * mm_test_urand(state) - 1.0) * scale);
}

static inline void mm_test_fill_rand(uint64_t *state, float *p, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) p[i] = mm_test_frand(state, scale);
}

#endif
