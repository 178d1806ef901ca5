// The sampler (minimind/sampler.h) on hand-made distributions: greedy is the argmax; top-p keeps
// the smallest prefix (by descending probability) whose mass reaches p and samples the kept tokens
// in proportion to their renormalised probabilities; temperature 1 / top_p 1 samples the softmax
// itself (empirical frequencies within a few sigma over many draws); temperature T samples
// softmax(logits / T); a seed fixes the sequence.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "minimind/sampler.h"

#define N_DRAWS 200000

// Logits with the given probabilities (log p), placed at a scrambled position so that order in
// the vocabulary is not order by probability. pos[i] receives the index of probability i.
static void mm_logits_of(const double *p, int V, float *logits, int *pos) {
    for (int i = 0; i < V; i++) pos[i] = (2 * V - 1 - i + 2) % V;          // reversed, rotated
    for (int i = 0; i < V; i++) logits[pos[i]] = (float)log(p[i]) + 2.5f;  // any shift: softmax-invariant
}

// Draws N_DRAWS samples and checks each token's frequency against want[] (probability per index
// of p) within 5 sigma; tokens with want 0 must never be drawn.
static void mm_check_frequencies(mm_sampler *s, const float *logits, const int *pos, const double *want,
                                 int V) {
    long *count = calloc((size_t)V, sizeof *count);
    for (int n = 0; n < N_DRAWS; n++) {
        int t = mm_sampler_next(s, logits);
        cr_assert(t >= 0 && t < V);
        count[t]++;
    }
    for (int i = 0; i < V; i++) {
        double f = (double)count[pos[i]] / N_DRAWS, p = want[i];
        if (p == 0) {
            cr_assert_eq(count[pos[i]], 0,
                         "token with probability %d of the list was drawn %ld times (cut by top-p)", i,
                         count[pos[i]]);
            continue;
        }
        double sigma = sqrt(p * (1 - p) / N_DRAWS);
        cr_assert(fabs(f - p) <= 5 * sigma + 1e-9, "token %d: frequency %.5f, expected %.5f (5 sigma = %.5f)",
                  i, f, p, 5 * sigma);
    }
    free(count);
}

Test(sampler, greedy_is_the_argmax) {
    enum { V = 1000 };
    float logits[V];
    srand(1);
    mm_sampler s;
    cr_assert_eq(mm_sampler_init(&s, V, 0.0f, 0.85f, 42), 0);
    for (int trial = 0; trial < 50; trial++) {
        int best = 0;
        for (int i = 0; i < V; i++) {
            logits[i] = (float)rand() / (float)RAND_MAX * 20.0f - 10.0f;
            if (logits[i] > logits[best]) best = i;
        }
        cr_assert_eq(mm_sampler_next(&s, logits), best);
        cr_assert_eq(mm_argmax(logits, V), best);
    }
    // Ties: the first index; negative logits only; a single token.
    for (int i = 0; i < V; i++) logits[i] = -5.0f;
    logits[17] = logits[400] = -1.0f;
    cr_assert_eq(mm_sampler_next(&s, logits), 17);
    mm_sampler_free(&s);
    cr_assert_eq(mm_sampler_init(&s, 1, 0.0f, 1.0f, 1), 0);
    cr_assert_eq(mm_sampler_next(&s, logits), 0);
    mm_sampler_free(&s);
}

Test(sampler, temperature_one_top_p_one_samples_the_softmax, .timeout = 60) {
    enum { V = 7 };
    const double p[V] = {0.30, 0.22, 0.18, 0.12, 0.10, 0.06, 0.02};
    float logits[V];
    int pos[V];
    mm_logits_of(p, V, logits, pos);
    mm_sampler s;
    cr_assert_eq(mm_sampler_init(&s, V, 1.0f, 1.0f, 12345), 0);
    mm_check_frequencies(&s, logits, pos, p, V);
    mm_sampler_free(&s);
}

Test(sampler, temperature_sharpens_and_flattens, .timeout = 60) {
    enum { V = 5 };
    const double p[V] = {0.4, 0.3, 0.15, 0.1, 0.05};
    float logits[V];
    int pos[V];
    mm_logits_of(p, V, logits, pos);
    const float temps[] = {0.5f, 2.0f};
    for (int k = 0; k < 2; k++) {
        double want[V], z = 0;  // softmax(log p / T) = p^(1/T) / sum
        for (int i = 0; i < V; i++) z += want[i] = pow(p[i], 1.0 / temps[k]);
        for (int i = 0; i < V; i++) want[i] /= z;
        mm_sampler s;
        cr_assert_eq(mm_sampler_init(&s, V, temps[k], 1.0f, 99 + (uint64_t)k), 0);
        mm_check_frequencies(&s, logits, pos, want, V);
        mm_sampler_free(&s);
    }
}

Test(sampler, top_p_keeps_the_smallest_prefix_reaching_p, .timeout = 60) {
    enum { V = 6 };
    const double p[V] = {0.45, 0.25, 0.15, 0.08, 0.05, 0.02};
    float logits[V];
    int pos[V];
    mm_logits_of(p, V, logits, pos);
    // cumulative: 0.45 0.70 0.85 0.93 0.98 1.00; each top_p sits strictly between two of them.
    struct {
        float top_p;
        int keep;
    } cases[] = {{0.30f, 1}, {0.60f, 2}, {0.80f, 3}, {0.90f, 4}, {0.95f, 5}, {0.99f, 6}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double want[V], kept = 0;
        for (int i = 0; i < V; i++) kept += i < cases[c].keep ? p[i] : 0;
        for (int i = 0; i < V; i++) want[i] = i < cases[c].keep ? p[i] / kept : 0;
        mm_sampler s;
        cr_assert_eq(mm_sampler_init(&s, V, 1.0f, cases[c].top_p, 7 + c), 0);
        mm_check_frequencies(&s, logits, pos, want, V);
        mm_sampler_free(&s);
    }
}

Test(sampler, small_top_p_only_ever_samples_the_argmax) {
    enum { V = 300 };
    float logits[V];
    srand(5);
    for (int trial = 0; trial < 20; trial++) {
        int best = 0;
        for (int i = 0; i < V; i++) {
            logits[i] = (float)rand() / (float)RAND_MAX * 4.0f;
            if (logits[i] > logits[best]) best = i;
        }
        // A flat-ish distribution: the argmax alone has well under 10% of the mass, yet with
        // top_p 1e-3 it is the whole nucleus.
        mm_sampler s;
        cr_assert_eq(mm_sampler_init(&s, V, 1.0f, 1e-3f, (uint64_t)trial + 1), 0);
        for (int n = 0; n < 500; n++) cr_assert_eq(mm_sampler_next(&s, logits), best);
        mm_sampler_free(&s);
    }
}

Test(sampler, a_seed_fixes_the_sequence) {
    enum { V = 50 };
    float logits[V];
    for (int i = 0; i < V; i++) logits[i] = sinf((float)i) * 2.0f;
    int a[200], b[200], c[200];
    mm_sampler s;
    for (int run = 0; run < 3; run++) {
        cr_assert_eq(mm_sampler_init(&s, V, 0.85f, 0.85f, run == 2 ? 43 : 42), 0);
        int *out = run == 0 ? a : run == 1 ? b : c;
        for (int n = 0; n < 200; n++) out[n] = mm_sampler_next(&s, logits);
        mm_sampler_free(&s);
    }
    cr_assert(memcmp(a, b, sizeof a) == 0, "same seed, different sequences");
    cr_assert(memcmp(a, c, sizeof a) != 0, "different seeds, same sequence");
    // Seed 0 is valid (mapped to a fixed non-zero state) and does not get stuck on one token.
    cr_assert_eq(mm_sampler_init(&s, V, 1.0f, 1.0f, 0), 0);
    int first = mm_sampler_next(&s, logits), differs = 0;
    for (int n = 0; n < 100; n++) differs |= mm_sampler_next(&s, logits) != first;
    cr_assert(differs);
    mm_sampler_free(&s);
}

Test(sampler, top_p_out_of_range_is_an_error) {
    mm_sampler s;
    cr_assert_eq(mm_sampler_init(&s, 10, 1.0f, 0.0f, 1), -1);
    cr_assert(strstr(mm_error_message(), "top_p"), "%s", mm_error_message());
    cr_assert_eq(mm_sampler_init(&s, 10, 1.0f, 1.5f, 1), -1);
    cr_assert_eq(mm_sampler_init(&s, 10, 1.0f, NAN, 1), -1);
}
