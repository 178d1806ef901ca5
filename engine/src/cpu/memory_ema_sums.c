// The EMA sums of the memory layer's reads (minimind/backend.h memory_ema_accumulate; the tracker
// in memory_update.c groups the reads by slot): per segment, hsum[slot] += w * h[row] for its
// reads in order, one read after the other (the same operations in the same order as summing the
// reads one by one). Parallel over segments: their slots are distinct.
#include "cpu_ops.h"

void mm_cpu_memory_ema_accumulate(float *hsum, const int32_t *slot, const int32_t *start, int nseg,
                                  const int32_t *rows, const float *ws, const float *h, int C) {
#pragma omp parallel for schedule(dynamic, 64) if (nseg > 256)
    for (int s = 0; s < nseg; s++) {
        float *dst = hsum + (size_t)slot[s] * C;
        for (int j = start[s]; j < start[s + 1]; j++) {
            const float *src = h + (size_t)rows[j] * C, w = ws[j];
            for (int c = 0; c < C; c++) dst[c] += w * src[c];
        }
    }
}
