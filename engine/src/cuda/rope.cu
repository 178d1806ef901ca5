// Rotary position embedding on interleaved pairs, in place (fused: one thread per pair).
//   B batch, T positions, NH heads, hs head size (half = hs/2 pairs); rows of stride ld;
//   cos/sin (max_pos, half). Backward = the inverse rotation (sign -1).
// Rows (b, t) on blockIdx.x, the row's NH*half pairs on blockIdx.y / threadIdx.x: pair j of a row
// is at 2j (mm_rope_pair_at), so a thread does two 32-bit remainders and no 64-bit division; with
// an even stride and 8-byte aligned rows the pair moves as one 8-byte access.
#include "cuda_common.h"

enum { TPB = 128 };

template <int VEC2>
__global__ static void mm_rope_kernel(float *x, int ld, const float *cos, const float *sin, int T, int npairs,
                                      int half, int pos0, float sign) {
    const int j = blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= npairs) return;
    size_t at, ti;
    mm_rope_pair_at(blockIdx.x, j, T, half, ld, pos0, &at, &ti);
    float *v = x + at;
    if (VEC2) {
        float2 p = mm_ldv<float2>(v);
        mm_rope_rotate(&p.x, &p.y, cos[ti], sin[ti], sign);
        mm_stv<float2>(v, p);
    } else {
        mm_rope_rotate(&v[0], &v[1], cos[ti], sin[ti], sign);
    }
}

static void mm_rope(float *x, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs, int pos0,
                    float sign) {
    const int half = hs / 2, npairs = NH * half;
    if ((long)B * T == 0 || npairs == 0) return;
    const dim3 grid((unsigned)(B * T), mm_cdiv((size_t)npairs, TPB));
    if (ld % 2 == 0 && mm_aligned(x, 8))
        mm_rope_kernel<1><<<grid, TPB>>>(x, ld, cos, sin, T, npairs, half, pos0, sign);
    else
        mm_rope_kernel<0><<<grid, TPB>>>(x, ld, cos, sin, T, npairs, half, pos0, sign);
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
