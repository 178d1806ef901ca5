// Rotary position embedding on interleaved pairs, in place (fused: one thread per pair).
//   B batch, T positions, NH heads, hs head size (half = hs/2 pairs); rows of stride ld;
//   cos/sin (max_pos, half). Backward = the inverse rotation (sign -1).
#include "cuda_common.h"

__global__ static void mm_rope_kernel(float *x, int ld, const float *cos, const float *sin, int T, int NH, int hs,
                                      int pos0, long npairs, float sign) {
    long e = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= npairs) return;
    const int half = hs / 2;
    long bt;
    int h, i;
    mm_rope_pair_index(e, NH, half, &bt, &h, &i);
    int t = (int)(bt % T);
    float *v = x + (size_t)bt * ld + (size_t)h * hs + 2 * i;
    size_t ti = (size_t)(pos0 + t) * half + i;
    mm_rope_rotate(&v[0], &v[1], cos[ti], sin[ti], sign);
}

static void mm_rope(float *x, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs, int pos0,
                    float sign) {
    long npairs = (long)B * T * NH * (hs / 2);
    if (npairs == 0) return;
    mm_rope_kernel<<<mm_cdiv((size_t)npairs, 256), 256>>>(x, ld, cos, sin, T, NH, hs, pos0, npairs, sign);
    MM_CU_LAUNCHED();
}

void mm_cuda_rope_forward(float *x, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                          int pos0) {
    mm_rope(x, ld, cos, sin, B, T, NH, hs, pos0, 1.0f);
}

void mm_cuda_rope_backward(float *dx, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                           int pos0) {
    mm_rope(dx, ld, cos, sin, B, T, NH, hs, pos0, -1.0f);
}
