// Rotary position embedding on interleaved pairs, in place (fused: one thread per pair).
//   B batch, T positions, NH heads, hs head size (half = hs/2 pairs); rows of stride ld;
//   cos/sin (max_pos, half). Backward = the inverse rotation (sign -1).
// Rows (b, t) on blockIdx.x, the row's NH*half pairs on blockIdx.y / threadIdx.x: pair j of a row
// is at 2j (mm_rope_pair_at), so a thread does two 32-bit remainders and no 64-bit division; with
// an even stride and rows aligned to a pair (8 bytes of float, 4 of bf16) the pair moves as one
// access.
// Storage ST: float, or mm_bf16 for the attention block in bf16 (rope_*_bf16: the pair widened,
// rotated in fp32, each value rounded to nearest even as it is stored: mm_ld2 / mm_st2).
#include "cuda_common.h"

enum { TPB = 128 };

template <typename ST, int VEC2>
__global__ static void mm_rope_kernel(ST *x, int ld, const float *cos, const float *sin, int T, int npairs,
                                      int half, int pos0, float sign) {
    const int j = blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= npairs) return;
    size_t at, ti;
    mm_rope_pair_at(blockIdx.x, j, T, half, ld, pos0, &at, &ti);
    ST *v = x + at;
    float2 p;
    if (VEC2) {
        p = mm_ld2(v);
    } else {
        p.x = mm_ld1(v), p.y = mm_ld1(v + 1);
    }
    mm_rope_rotate(&p.x, &p.y, cos[ti], sin[ti], sign);
    if (VEC2) {
        mm_st2(v, p);
    } else {
        mm_st1(v, p.x), mm_st1(v + 1, p.y);
    }
}

// x (B*T rows of stride ld) of element type ST (float or mm_bf16).
template <typename ST>
static void mm_rope(ST *x, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs, int pos0,
                    float sign) {
    const int half = hs / 2, npairs = NH * half;
    if ((long)B * T == 0 || npairs == 0) return;
    const dim3 grid((unsigned)(B * T), mm_cdiv((size_t)npairs, TPB));
    if (ld % 2 == 0 && mm_aligned(x, 2 * sizeof(ST)))
        mm_rope_kernel<ST, 1><<<grid, TPB>>>(x, ld, cos, sin, T, npairs, half, pos0, sign);
    else
        mm_rope_kernel<ST, 0><<<grid, TPB>>>(x, ld, cos, sin, T, npairs, half, pos0, sign);
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

void mm_cuda_rope_forward_bf16(mm_bf16 *x, int ld, const float *cos, const float *sin, int B, int T, int NH,
                               int hs, int pos0) {
    mm_rope(x, ld, cos, sin, B, T, NH, hs, pos0, 1.0f);
}

void mm_cuda_rope_backward_bf16(mm_bf16 *dx, int ld, const float *cos, const float *sin, int B, int T, int NH,
                                int hs, int pos0) {
    mm_rope(dx, ld, cos, sin, B, T, NH, hs, pos0, -1.0f);
}
