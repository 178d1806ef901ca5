// splitmix64 (Steele, Lea and Flood 2014): the engine's small deterministic generator — weight
// initialisation, the data order, the demo generator's seeding, the bank shuffle — and its
// finaliser, a counter-based hash (the gumbel noise). The same numbers on every machine.
#ifndef MINIMIND_SPLITMIX_H
#define MINIMIND_SPLITMIX_H

#include <stdint.h>

// The splitmix64 finaliser: a bijective 64-bit mix.
static inline uint64_t mm_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// The next value of the splitmix64 stream whose state is *s.
static inline uint64_t mm_splitmix64(uint64_t *s) { return mm_mix64(*s += 0x9E3779B97F4A7C15ull); }

#endif
