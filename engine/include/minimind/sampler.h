// Choosing the next token from logits: greedy, or temperature + nucleus (top-p) sampling as the
// original eval_model.py (temperature 0.85, top_p 0.85). Deterministic for a given RNG state.
#ifndef MINIMIND_SAMPLER_H
#define MINIMIND_SAMPLER_H

#include <stdint.h>

typedef struct mm_sampler {
    float temperature;  // <= 0: greedy (argmax)
    float top_p;        // in (0, 1]; 1 = no nucleus cut
    uint64_t rng;       // xorshift64* state (non-zero)
    float *probs;       // (V) scratch
    int *order;         // (V) scratch
    int V;
} mm_sampler;

int mm_sampler_init(mm_sampler *s, int V, float temperature, float top_p, uint64_t seed);
void mm_sampler_free(mm_sampler *s);
// The next token id for logits (V).
int mm_sampler_next(mm_sampler *s, const float *logits);
// Index of the largest logit (first one on ties).
int mm_argmax(const float *x, int n);

#endif
