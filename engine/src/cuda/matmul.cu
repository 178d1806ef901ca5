// Linear layers without bias with cuBLAS sgemm (fp32, default math mode: no TF32).
//   M rows, K in_features, N out_features; row-major out (M,N) = inp (M,K) @ w^T, w (N,K)
// cuBLAS is column-major: a row-major (R,C) matrix is its column-major transpose (C,R), so
//   out^T (N,M) = w^T^T inp^T      -> gemm(T, N, N, M, K, w, K, inp, K, out, N)
//   dinp^T (K,M) = w^T dout^T      -> gemm(N, N, K, M, N, w, K, dout, N, dinp, K)
//   dw^T (K,N) += inp^T dout       -> gemm(N, T, K, N, M, inp, K, dout, N, dw, K)
#include "cuda_common.h"

void mm_cuda_matmul_forward(float *out, const float *inp, const float *w, int M, int K, int N, int accumulate) {
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    MM_CUBLAS(cublasSgemm(mm_cuda_blas(), CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, w, K, inp, K, &beta, out, N));
}

void mm_cuda_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int M,
                             int K, int N, int accumulate_dinp) {
    const float one = 1.0f, beta = accumulate_dinp ? 1.0f : 0.0f;
    if (dinp)
        MM_CUBLAS(cublasSgemm(mm_cuda_blas(), CUBLAS_OP_N, CUBLAS_OP_N, K, M, N, &one, w, K, dout, N, &beta, dinp, K));
    MM_CUBLAS(cublasSgemm(mm_cuda_blas(), CUBLAS_OP_N, CUBLAS_OP_T, K, N, M, &one, inp, K, dout, N, &one, dw, K));
}
