// RMSNorm as MiniMind: y = x * rsqrt(mean(x^2) + eps) * w (fused: one block per row).
//   N rows (B*T), C model dim
//   forward:  out (N,C), rstd (N)
//   backward: one block per chunk of RB rows: the rows' dots sum_c w*dy*x (block reductions),
//             then per column dx (N,C) += r*w*dy - x*r^3*dot/C and the chunk's partial
//             dw sum_rows dy*x*r (chunk, C); a second kernel adds the chunks to dw (C) in a fixed order.
//             Deterministic; the chunk's dy and x are read twice, the second time from cache.
#include "cuda_common.h"

enum { TPB = 256, RB = 16 };

__global__ static void mm_rmsnorm_forward_kernel(float *out, float *rstd, const float *inp, const float *w, int C,
                                                 float eps) {
    const float *x = inp + (size_t)blockIdx.x * C;
    float *y = out + (size_t)blockIdx.x * C;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) ss += x[c] * x[c];
    ss = mm_block_sum(ss);
    float r = mm_rmsnorm_rstd(ss, C, eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
    for (int c = threadIdx.x; c < C; c += blockDim.x) y[c] = (x[c] * r) * w[c];
}

__global__ static void mm_rmsnorm_backward_kernel(float *dinp, float *part, const float *dout, const float *inp,
                                                  const float *w, const float *rstd, int N, int C) {
    __shared__ float dots[RB];
    const int n0 = blockIdx.x * RB, rows = N - n0 < RB ? N - n0 : RB;
    for (int i = 0; i < rows; i++) {
        const float *x = inp + (size_t)(n0 + i) * C, *dy = dout + (size_t)(n0 + i) * C;
        float dot = 0.0f;
        for (int c = threadIdx.x; c < C; c += blockDim.x) dot += w[c] * dy[c] * x[c];
        dot = mm_block_sum(dot);
        if (threadIdx.x == 0) dots[i] = dot;
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float dw = 0.0f;
        for (int i = 0; i < rows; i++) {
            const size_t at = (size_t)(n0 + i) * C + c;
            const float r = rstd[n0 + i];
            dinp[at] += mm_rmsnorm_dx(r, w[c], dout[at], inp[at], dots[i], C);
            dw += dout[at] * inp[at] * r;
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

void mm_cuda_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps) {
    if (N <= 0) return;  // a grid of 0 blocks is an invalid launch
    mm_rmsnorm_forward_kernel<<<N, TPB>>>(out, rstd, inp, w, C, eps);
    MM_CU_LAUNCHED();
}

void mm_cuda_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                              const float *rstd, int N, int C) {
    if (N <= 0 || C <= 0) return;  // nothing to add (dw += a sum over no rows)
    const unsigned nchunks = mm_cdiv((size_t)N, RB);
    float *part = (float *)mm_cuda_scratch(MM_SCRATCH_RMSNORM, sizeof(float) * nchunks * (size_t)C);
    if (!part) return;
    mm_rmsnorm_backward_kernel<<<nchunks, TPB>>>(dinp, part, dout, inp, w, rstd, N, C);
    MM_CU_LAUNCHED();
    mm_rmsnorm_dw_sum_kernel<<<mm_cdiv((size_t)C, 32), dim3(32, 8)>>>(dw, part, (int)nchunks, C);
    MM_CU_LAUNCHED();
}
