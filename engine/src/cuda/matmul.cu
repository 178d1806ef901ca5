// Linear layers without bias with cuBLAS (gemm.cu: fp32 storage, compute type from the precision).
//   M rows, K in_features, N out_features; row-major out (M,N) = inp (M,K) @ w^T, w (N,K)
// cuBLAS is column-major: a row-major (R,C) matrix is its column-major transpose (C,R), so
//   out^T (N,M) = w^T^T inp^T      -> gemm(T, N, N, M, K, w, K, inp, K, out, N)
//   dinp^T (K,M) = w^T dout^T      -> gemm(N, N, K, M, N, w, K, dout, N, dinp, K)
//   dw^T (K,N) += inp^T dout       -> gemm(N, T, K, N, M, inp, K, dout, N, dw, K)
#include "cuda_common.h"

void mm_cuda_matmul_forward(float *out, const float *inp, const float *w, int M, int K, int N, int accumulate) {
    mm_cuda_gemm(1, 0, N, M, K, 1.0f, w, K, inp, K, accumulate ? 1.0f : 0.0f, out, N);
}

// out = res + inp @ w^T: the same product with res as C and out as D (gemm.cu, cuBLASLt).
void mm_cuda_matmul_forward_residual(float *out, const float *res, const float *inp, const float *w, int M,
                                     int K, int N) {
    mm_cuda_gemm_add(1, 0, N, M, K, w, K, inp, K, res, out);
}

void mm_cuda_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int M,
                             int K, int N, int accumulate_dinp) {
    if (dinp) mm_cuda_gemm(0, 0, K, M, N, 1.0f, w, K, dout, N, accumulate_dinp ? 1.0f : 0.0f, dinp, K);
    mm_cuda_gemm(0, 1, K, N, M, 1.0f, inp, K, dout, N, 1.0f, dw, K);
}
