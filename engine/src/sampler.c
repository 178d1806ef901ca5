// Greedy and temperature/top-p sampling (see minimind/sampler.h).
#include "minimind/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"

int mm_sampler_init(mm_sampler *s, int V, float temperature, float top_p, uint64_t seed) {
    memset(s, 0, sizeof *s);
    if (!(top_p > 0.0f && top_p <= 1.0f)) return mm_errorf("top_p must be in (0, 1] (got %g)", top_p);
    s->V = V;
    s->temperature = temperature;
    s->top_p = top_p;
    s->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    s->probs = mm_malloc(sizeof(float) * (size_t)V);
    s->order = mm_malloc(sizeof(int) * (size_t)V);
    if (!s->probs || !s->order) {
        mm_sampler_free(s);
        return -1;
    }
    return 0;
}

void mm_sampler_free(mm_sampler *s) {
    free(s->probs);
    free(s->order);
    memset(s, 0, sizeof *s);
}

int mm_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static double mm_rand_unit(uint64_t *st) {  // xorshift64*, uniform in [0, 1)
    uint64_t x = *st;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *st = x;
    return (double)((x * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

static int mm_by_prob_desc(const void *a, const void *b, void *probs) {
    const float *p = probs;
    float pa = p[*(const int *)a], pb = p[*(const int *)b];
    if (pa != pb) return pa < pb ? 1 : -1;
    return *(const int *)a - *(const int *)b;
}

int mm_sampler_next(mm_sampler *s, const float *logits) {
    int V = s->V;
    if (s->temperature <= 0.0f) return mm_argmax(logits, V);
    float mx = logits[mm_argmax(logits, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) {
        s->probs[i] = expf((logits[i] - mx) / s->temperature);
        sum += s->probs[i];
    }
    for (int i = 0; i < V; i++) {
        s->probs[i] = (float)(s->probs[i] / sum);
        s->order[i] = i;
    }
    // Nucleus: the smallest prefix of tokens by descending probability whose mass reaches top_p
    // (the token that crosses the threshold is kept, as Hugging Face's TopPLogitsWarper does).
    qsort_r(s->order, (size_t)V, sizeof(int), mm_by_prob_desc, s->probs);
    int keep = V;
    double cum = 0;
    for (int i = 0; i < V; i++) {
        cum += s->probs[s->order[i]];
        if (cum >= s->top_p) {
            keep = i + 1;
            break;
        }
    }
    double r = mm_rand_unit(&s->rng) * cum;  // cum = mass of the kept tokens (renormalised)
    double acc = 0;
    for (int i = 0; i < keep; i++) {
        acc += s->probs[s->order[i]];
        if (r < acc) return s->order[i];
    }
    return s->order[keep - 1];
}
