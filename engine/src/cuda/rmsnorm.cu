// RMSNorm as MiniMind: y = x * rsqrt(mean(x^2) + eps) * w (fused: one block per row).
//   N rows (B*T), C model dim
//   forward:  out (N,C), rstd (N)
//   backward: dx (N,C) += r*w*dy - x*r^3*mean(w*dy*x) (one block per row);
//             dw (C) += sum_rows dy*x*r in two deterministic passes: partial sums over NCHUNK fixed
//             row chunks (NCHUNK, C), then the chunks summed in order.
#include "cuda_common.h"

enum { TPB = 256, NCHUNK = 64 };

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

__global__ static void mm_rmsnorm_dx_kernel(float *dinp, const float *dout, const float *inp, const float *w,
                                            const float *rstd, int C) {
    const size_t row = blockIdx.x;
    const float *x = inp + row * C, *dy = dout + row * C;
    float *dx = dinp + row * C;
    float r = rstd[row], dot = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dot += w[c] * dy[c] * x[c];
    dot = mm_block_sum(dot);
    for (int c = threadIdx.x; c < C; c += blockDim.x) dx[c] += mm_rmsnorm_dx(r, w[c], dy[c], x[c], dot, C);
}

__global__ static void mm_rmsnorm_dw_partial_kernel(float *part, const float *dout, const float *inp,
                                                    const float *rstd, int N, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (c >= C) return;
    int rows = (N + NCHUNK - 1) / NCHUNK, n0 = chunk * rows, n1 = n0 + rows < N ? n0 + rows : N;
    float acc = 0.0f;
    for (int n = n0; n < n1; n++) acc += dout[(size_t)n * C + c] * inp[(size_t)n * C + c] * rstd[n];
    part[(size_t)chunk * C + c] = acc;
}

__global__ static void mm_rmsnorm_dw_sum_kernel(float *dw, const float *part, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float acc = 0.0f;
    for (int k = 0; k < NCHUNK; k++) acc += part[(size_t)k * C + c];
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
    mm_rmsnorm_dx_kernel<<<N, TPB>>>(dinp, dout, inp, w, rstd, C);
    MM_CU_LAUNCHED();
    float *part = (float *)mm_cuda_scratch(MM_SCRATCH_RMSNORM, sizeof(float) * NCHUNK * (size_t)C);
    if (!part) return;
    dim3 grid(mm_cdiv((size_t)C, TPB), NCHUNK);
    mm_rmsnorm_dw_partial_kernel<<<grid, TPB>>>(part, dout, inp, rstd, N, C);
    MM_CU_LAUNCHED();
    mm_rmsnorm_dw_sum_kernel<<<mm_cdiv((size_t)C, TPB), TPB>>>(dw, part, C);
    MM_CU_LAUNCHED();
}
