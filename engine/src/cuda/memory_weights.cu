// Read-out weights of the memory layer's candidates (minimind/memory.h; CPU: cpu/memory_weights.c).
//   N rows, K candidates (<= MM_MEMORY_MAX_CANDIDATES); one warp per row, lane l holds the
//   candidates l, l + 32, ... (in that order)
//   forward:  y = score + noise (noise NULL = 0); the maximum and its first candidate (the CPU's
//             sequential `y > max` scan, see mm_argmax_* in memory_math.h) and sum exp(y - max) by
//             xor-shuffle trees; ysoft = exp(y - max) / sum; w = ysoft, or (hard) the one-hot of
//             the argmax (straight-through Gumbel)
//   backward: dscore = ysoft * (dw - sum_k ysoft * dw), the sum by a shuffle tree
// Deterministic: fixed reduction trees, no atomics.
#include "cuda_common.h"
#include "memory_math.h"

enum { WARPS = 8 };  // rows per block
#define MM_FULL 0xffffffffu

__global__ static void mm_weights_forward_kernel(float *w, float *ysoft, const float *score, const float *noise, int N,
                                                 int K, int hard) {
    const int lane = threadIdx.x & 31;
    const size_t n = (size_t)blockIdx.x * WARPS + (threadIdx.x >> 5);
    if (n >= (size_t)N) return;  // whole warps
    const float *s = score + n * K, *g = noise ? noise + n * K : NULL;
    float *y = ysoft + n * K, *o = w + n * K;
    float mx = -INFINITY;
    int arg = MM_ARGMAX_NONE;
    for (int k = lane; k < K; k += 32) {
        const float v = s[k] + (g ? g[k] : 0.0f);
        y[k] = v;
        mm_argmax_push(&mx, &arg, v, k);
    }
    for (int off = 16; off > 0; off >>= 1) {
        const float m2 = __shfl_xor_sync(MM_FULL, mx, off);
        const int a2 = __shfl_xor_sync(MM_FULL, arg, off);
        mm_argmax_merge(&mx, &arg, m2, a2);
    }
    float sum = 0.0f;
    for (int k = lane; k < K; k += 32) {
        const float e = expf(y[k] - mx);
        y[k] = e;
        sum += e;
    }
    sum = mm_warp_sum(sum);
    const int best = mm_argmax_final(arg);
    for (int k = lane; k < K; k += 32) {
        const float p = y[k] / sum;
        y[k] = p;
        o[k] = hard ? (k == best ? 1.0f : 0.0f) : p;
    }
}

__global__ static void mm_weights_backward_kernel(float *dscore, const float *dw, const float *ysoft, int N, int K) {
    const int lane = threadIdx.x & 31;
    const size_t n = (size_t)blockIdx.x * WARPS + (threadIdx.x >> 5);
    if (n >= (size_t)N) return;
    const float *y = ysoft + n * K, *d = dw + n * K;
    float *o = dscore + n * K;
    float dot = 0.0f;
    for (int k = lane; k < K; k += 32) dot += y[k] * d[k];
    dot = mm_warp_sum(dot);
    for (int k = lane; k < K; k += 32) o[k] = y[k] * (d[k] - dot);
}

void mm_cuda_memory_weights_forward(float *w, float *ysoft, const float *score, const float *noise, int N, int K,
                                    int hard) {
    if (N <= 0 || K <= 0) return;
    mm_weights_forward_kernel<<<mm_cdiv((size_t)N, WARPS), WARPS * 32>>>(w, ysoft, score, noise, N, K, hard);
    MM_CU_LAUNCHED();
}

void mm_cuda_memory_weights_backward(float *dscore, const float *dw, const float *ysoft, int N, int K) {
    if (N <= 0 || K <= 0) return;
    mm_weights_backward_kernel<<<mm_cdiv((size_t)N, WARPS), WARPS * 32>>>(dscore, dw, ysoft, N, K);
    MM_CU_LAUNCHED();
}
