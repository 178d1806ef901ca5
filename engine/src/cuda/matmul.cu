// Linear layers without bias with cuBLAS (gemm.cu: fp32 storage, compute type from the precision).
//   M rows, K in_features, N out_features; row-major out (M,N) = inp (M,K) @ w^T, w (N,K)
// cuBLAS is column-major: a row-major (R,C) matrix is its column-major transpose (C,R), so
//   out^T (N,M) = w^T^T inp^T      -> gemm(T, N, N, M, K, w, K, inp, K, out, N)
//   dinp^T (K,M) = w^T dout^T      -> gemm(N, N, K, M, N, w, K, dout, N, dinp, K)
//   dw^T (K,N) += inp^T dout       -> gemm(N, T, K, N, M, inp, K, dout, N, dw, K)
// The FFN block in bf16 (backend.h *_bf16) takes the same products with inp, w and dout stored as
// bf16 (gemm.cu: CUBLAS_COMPUTE_32F, exact products, fp32 sums in any precision); out and dinp are
// stored as the op says (bf16: rounded to nearest even by cuBLAS), dw and the residual stay fp32.
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

// out (M,N) bf16 = inp (M,K) @ w^T, w (N,K): out^T = w^T^T inp^T, every operand bf16.
void mm_cuda_matmul_forward_bf16(mm_bf16 *out, const mm_bf16 *inp, const mm_bf16 *w, int M, int K, int N) {
    mm_cuda_gemm_typed(1, 0, N, M, K, 1.0f, w, K, inp, K, CUDA_R_16BF, 0.0f, out, CUDA_R_16BF, N);
}

// out (M,N) fp32 = res (M,N) + inp (M,K) @ w^T: one cuBLASLt matmul, bf16 A and B, fp32 C and D.
void mm_cuda_matmul_forward_residual_bf16(float *out, const float *res, const mm_bf16 *inp, const mm_bf16 *w,
                                          int M, int K, int N) {
    mm_cuda_gemm_add_typed(1, 0, N, M, K, w, K, inp, K, CUDA_R_16BF, res, out);
}

// dinp (M,K) = dout (M,N) @ w (N,K), OVERWRITTEN, stored as dinp_type (skipped when dinp is NULL,
// as in matmul_backward); dw (N,K) fp32 += dout^T @ inp.
void mm_cuda_matmul_backward_bf16(void *dinp, mm_storage dinp_type, float *dw, const mm_bf16 *dout,
                                  const mm_bf16 *inp, const mm_bf16 *w, int M, int K, int N) {
    const cudaDataType dt = dinp_type == MM_STORE_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    if (dinp) mm_cuda_gemm_typed(0, 0, K, M, N, 1.0f, w, K, dout, N, CUDA_R_16BF, 0.0f, dinp, dt, K);
    mm_cuda_gemm_typed(0, 1, K, N, M, 1.0f, inp, K, dout, N, CUDA_R_16BF, 1.0f, dw, CUDA_R_32F, K);
}
