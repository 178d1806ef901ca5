// RMSNorm as MiniMind: y = x * rsqrt(mean(x^2) + eps) * w (fused).
//   N rows (B*T), C model dim
//   forward:  one warp per row (4 rows per block): the row's sum of squares by a fixed shuffle
//             tree, then y; with C a multiple of 4 and 16-byte aligned rows in 16-byte accesses
//             (MiniMind: C = 512, 4 per lane). out (N,C), rstd (N). out fp32, or bf16 for the
//             FFN block in bf16 (rmsnorm_forward_bf16: the same kernel, the fp32 values rounded to
//             nearest even as they are stored; 4 values in one 8-byte store)
//   backward: one block per chunk of RB rows: the rows' dots sum_c w*dy*x (one warp per row, one
//             barrier), then per column dx (N,C) += r*w*dy - x*r^3*dot/C and the chunk's partial
//             dw sum_rows dy*x*r (chunk, C); a second kernel adds the chunks to dw (C) in a fixed order.
//             Deterministic; the chunk's dy and x are read twice, the second time from cache.
//             rmsnorm_backward_bf16: the same kernel with dy stored in bf16 (a bf16 block's input
//             gradient) or fp32, and optionally the updated dx also stored in bf16 (dx16: the
//             copy of the residual gradient the next bf16 block reads), in the same pass.
#include "cuda_common.h"

enum { TPB = 256, RB = 16, FWD_WARPS = 4 };

template <typename OT, int VEC>
__global__ static void mm_rmsnorm_forward_kernel(OT *out, float *rstd, const float *inp, const float *w,
                                                 int N, int C, float eps) {
    const int lane = threadIdx.x & 31, row = blockIdx.x * FWD_WARPS + (threadIdx.x >> 5);
    if (row >= N) return;  // a whole warp: only warp collectives below
    const float *x = inp + (size_t)row * C;
    OT *y = out + (size_t)row * C;
    float ss = 0.0f;
    for (int c = lane * VEC; c < C; c += 32 * VEC) {
        if (VEC == 4) {
            const float4 v = mm_ldv<float4>(x + c);
            ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        } else {
            ss += x[c] * x[c];
        }
    }
    const float r = mm_rmsnorm_rstd(mm_warp_sum(ss), C, eps);
    if (lane == 0) rstd[row] = r;
    for (int c = lane * VEC; c < C; c += 32 * VEC) {
        if (VEC == 4) {
            const float4 v = mm_ldv<float4>(x + c), g = mm_ldv<float4>(w + c);
            float4 o;
            o.x = (v.x * r) * g.x, o.y = (v.y * r) * g.y, o.z = (v.z * r) * g.z, o.w = (v.w * r) * g.w;
            mm_st4(y + c, o);
        } else {
            mm_st1(y + c, (x[c] * r) * w[c]);
        }
    }
}

// dy of type DT (float or mm_bf16); dinp16 (bf16) = the updated dinp when non-NULL.
template <typename DT>
__global__ static void mm_rmsnorm_backward_kernel(float *dinp, mm_bf16 *dinp16, float *part, const DT *dout,
                                                  const float *inp, const float *w, const float *rstd, int N,
                                                  int C) {
    __shared__ float dots[RB];
    const int n0 = blockIdx.x * RB, rows = N - n0 < RB ? N - n0 : RB;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    for (int i = warp; i < rows; i += nwarps) {  // row i's dot by warp i % nwarps
        const float *x = inp + (size_t)(n0 + i) * C;
        const DT *dy = dout + (size_t)(n0 + i) * C;
        float dot = 0.0f;
        for (int c = lane; c < C; c += 32) dot += w[c] * mm_ld1(dy + c) * x[c];
        dot = mm_warp_sum(dot);
        if (lane == 0) dots[i] = dot;
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float dw = 0.0f;
        for (int i = 0; i < rows; i++) {
            const size_t at = (size_t)(n0 + i) * C + c;
            const float r = rstd[n0 + i], dy = mm_ld1(dout + at);
            const float dx = dinp[at] + mm_rmsnorm_dx(r, w[c], dy, inp[at], dots[i], C);
            dinp[at] = dx;
            if (dinp16) mm_st1(dinp16 + at, dx);
            dw += dy * inp[at] * r;
        }
        part[(size_t)blockIdx.x * C + c] = dw;
    }
}

// dw (C) += the sum of the chunks' partials, per column: 32 columns per block, warp y adding the
// chunks y, y + 8, ..., then the 8 warp sums in order. Deterministic.
__global__ static void mm_rmsnorm_dw_sum_kernel(float *dw, const float *part, int nchunks, int C) {
    __shared__ float sums[8 * 32];
    const int c = blockIdx.x * 32 + threadIdx.x, wy = threadIdx.y;
    float acc = 0.0f;
    if (c < C)
        for (int k = wy; k < nchunks; k += 8) acc += part[(size_t)k * C + c];
    sums[wy * 32 + threadIdx.x] = acc;
    __syncthreads();
    if (wy != 0 || c >= C) return;
    for (int y = 1; y < 8; y++) acc += sums[y * 32 + threadIdx.x];
    dw[c] += acc;
}

// out (N,C) of element type OT (float or mm_bf16).
template <typename OT>
static void mm_rmsnorm_forward_as(OT *out, float *rstd, const float *inp, const float *w, int N, int C,
                                  float eps) {
    if (N <= 0) return;  // a grid of 0 blocks is an invalid launch
    const unsigned blocks = mm_cdiv((size_t)N, FWD_WARPS);
    if (C % 4 == 0 && mm_aligned(out, 4 * sizeof(OT)) && mm_aligned(inp, 16) && mm_aligned(w, 16))
        mm_rmsnorm_forward_kernel<OT, 4><<<blocks, 32 * FWD_WARPS>>>(out, rstd, inp, w, N, C, eps);
    else
        mm_rmsnorm_forward_kernel<OT, 1><<<blocks, 32 * FWD_WARPS>>>(out, rstd, inp, w, N, C, eps);
    MM_CU_LAUNCHED();
}

void mm_cuda_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C,
                             float eps) {
    mm_rmsnorm_forward_as(out, rstd, inp, w, N, C, eps);
}

void mm_cuda_rmsnorm_forward_bf16(mm_bf16 *out, float *rstd, const float *inp, const float *w, int N, int C,
                                  float eps) {
    mm_rmsnorm_forward_as(out, rstd, inp, w, N, C, eps);
}

// dout of type DT; dinp16 as in mm_rmsnorm_backward_kernel.
template <typename DT>
static void mm_rmsnorm_backward_as(float *dinp, mm_bf16 *dinp16, float *dw, const DT *dout, const float *inp,
                                   const float *w, const float *rstd, int N, int C) {
    if (N <= 0 || C <= 0) return;  // nothing to add (dw += a sum over no rows)
    const unsigned nchunks = mm_cdiv((size_t)N, RB);
    float *part = (float *)mm_cuda_scratch(MM_SCRATCH_RMSNORM, sizeof(float) * nchunks * (size_t)C);
    if (!part) return;
    mm_rmsnorm_backward_kernel<DT><<<nchunks, TPB>>>(dinp, dinp16, part, dout, inp, w, rstd, N, C);
    MM_CU_LAUNCHED();
    mm_rmsnorm_dw_sum_kernel<<<mm_cdiv((size_t)C, 32), dim3(32, 8)>>>(dw, part, (int)nchunks, C);
    MM_CU_LAUNCHED();
}

void mm_cuda_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                              const float *rstd, int N, int C) {
    mm_rmsnorm_backward_as(dinp, (mm_bf16 *)NULL, dw, dout, inp, w, rstd, N, C);
}

void mm_cuda_rmsnorm_backward_bf16(float *dinp, mm_bf16 *dinp16, float *dw, const void *dout,
                                   mm_storage dout_type, const float *inp, const float *w, const float *rstd,
                                   int N, int C) {
    if (dout_type == MM_STORE_BF16)
        mm_rmsnorm_backward_as(dinp, dinp16, dw, (const mm_bf16 *)dout, inp, w, rstd, N, C);
    else
        mm_rmsnorm_backward_as(dinp, dinp16, dw, (const float *)dout, inp, w, rstd, N, C);
}
