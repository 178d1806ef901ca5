// Every cuBLAS product of the backend goes through here, so [train] mixed_precision is decided in
// one place. Storage is fp32 throughout (A, B, C are CUDA_R_32F, alpha/beta float); the precision
// picks the cuBLAS compute type:
//   fp32  CUBLAS_COMPUTE_32F            fp32 products (the handle's default math mode: no TF32)
//   bf16  CUBLAS_COMPUTE_32F_FAST_16BF  inputs rounded to bf16 (or TF32), tensor cores, fp32 sums
//   fp16  CUBLAS_COMPUTE_32F_FAST_16F   inputs rounded to fp16 (or TF32), tensor cores, fp32 sums
// Master weights, gradients and AdamW moments stay fp32; only the products round their inputs.
// Column-major as cuBLAS: op(A) (m,k), op(B) (k,n), C (m,n) = alpha op(A) op(B) + beta C.
#include "cuda_common.h"

extern "C" {
#include "minimind/error.h"
}

static mm_precision g_precision = MM_PRECISION_FP32;

static cublasComputeType_t mm_cuda_compute_type(mm_precision p) {
    switch (p) {
    case MM_PRECISION_BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    case MM_PRECISION_FP16: return CUBLAS_COMPUTE_32F_FAST_16F;
    case MM_PRECISION_FP32: break;
    }
    return CUBLAS_COMPUTE_32F;
}

int mm_cuda_set_precision(mm_precision p) {
    if (p != MM_PRECISION_FP32 && p != MM_PRECISION_BF16 && p != MM_PRECISION_FP16)
        return mm_errorf("cuda: unknown precision %d", (int)p);
    g_precision = p;
    return 0;
}

mm_precision mm_cuda_precision(void) { return g_precision; }

static cublasOperation_t mm_op(int trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

void mm_cuda_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc) {
    if (m <= 0 || n <= 0) return;
    MM_CUBLAS(cublasGemmEx(mm_cuda_blas(), mm_op(ta), mm_op(tb), m, n, k, &alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F,
                           ldb, &beta, C, CUDA_R_32F, ldc, mm_cuda_compute_type(g_precision), CUBLAS_GEMM_DEFAULT));
}

void mm_cuda_gemm_batched(int ta, int tb, int m, int n, int k, float alpha, const float *const *A, int lda,
                          const float *const *B, int ldb, float beta, float *const *C, int ldc, int batch) {
    if (m <= 0 || n <= 0 || batch <= 0) return;
    MM_CUBLAS(cublasGemmBatchedEx(mm_cuda_blas(), mm_op(ta), mm_op(tb), m, n, k, &alpha, (const void *const *)A,
                                  CUDA_R_32F, lda, (const void *const *)B, CUDA_R_32F, ldb, &beta,
                                  (void *const *)C, CUDA_R_32F, ldc, batch, mm_cuda_compute_type(g_precision),
                                  CUBLAS_GEMM_DEFAULT));
}
