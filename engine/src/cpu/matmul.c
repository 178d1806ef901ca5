// Linear layer without bias (PyTorch weight layout), via OpenBLAS sgemm (pthread build: its own
// threads; never call it from inside an OpenMP parallel region).
//   M rows (B*T), K in_features, N out_features
//   forward:  out (M,N) [+]= inp (M,K) @ w^T        w (N,K)
//   backward: dinp (M,K) [+]= dout (M,N) @ w         dw (N,K) += dout^T @ inp
#include <cblas.h>

#include "cpu_ops.h"

void mm_cpu_matmul_forward(float *out, const float *inp, const float *w, int M, int K, int N, int accumulate) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp, K, w, K, accumulate ? 1.0f : 0.0f,
                out, N);
}

void mm_cpu_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int M,
                            int K, int N, int accumulate_dinp) {
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dout, N, w, K,
                    accumulate_dinp ? 1.0f : 0.0f, dinp, K);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dout, N, inp, K, 1.0f, dw, K);
}
