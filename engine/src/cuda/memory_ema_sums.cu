// The EMA sums of the memory layer's reads (minimind/backend.h memory_ema_accumulate): one thread
// per (segment, column) adds the segment's reads w * h[row] in order to hsum[slot] — the CPU's
// order; no atomics (the segments' slots are distinct): deterministic. Grid: x segments,
// y column blocks.
#include "cuda_common.h"

enum { TPB = 256 };

__global__ static void mm_ema_accumulate_kernel(float *hsum, const int32_t *slot, const int32_t *start,
                                                const int32_t *rows, const float *ws, const float *h, int C) {
    const int s = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float *dst = hsum + (size_t)slot[s] * C + c;
    float acc = *dst;
    for (int j = start[s]; j < start[s + 1]; j++) acc += ws[j] * h[(size_t)rows[j] * C + c];
    *dst = acc;
}

void mm_cuda_memory_ema_accumulate(float *hsum, const int32_t *slot, const int32_t *start, int nseg,
                                   const int32_t *rows, const float *ws, const float *h, int C) {
    if (nseg <= 0 || C <= 0) return;
    const dim3 grid((unsigned)nseg, mm_cdiv((size_t)C, TPB));
    mm_ema_accumulate_kernel<<<grid, TPB>>>(hsum, slot, start, rows, ws, h, C);
    MM_CU_LAUNCHED();
}
