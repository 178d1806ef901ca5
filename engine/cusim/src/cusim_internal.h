// cusim internals shared by its files: the sticky launch error and the device-memory registry.
#ifndef CUSIM_INTERNAL_H
#define CUSIM_INTERNAL_H

#include <stddef.h>

#include "cuda_runtime.h"

// Records a failure of `what` (printed once to stderr with the reason). A launch failure is
// sticky: every later synchronising call returns it, as a faulted CUDA context does.
void cusim_fail(cudaError_t err, int sticky, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
// 1 when [p, p + bytes) lies inside one cudaMalloc allocation; p may be one past its end when bytes is 0.
int cusim_is_device(const void *p, size_t bytes);
// Counts one call of `name` of `kind` (launch, cublas, copy, wait) when MM_CUSIM_STATS is set (stats.cpp).
void cusim_count(const char *kind, const char *name);
void cusim_count_n(const char *kind, const char *name, unsigned long n);

// One product with fp32 C as cublasGemmEx computes it (cublas.cpp), counted as `fn`: for
// cublasLt.cpp. A and B stored as ab: CUDA_R_32F, or CUDA_R_16BF / CUDA_R_16F with
// CUBLAS_COMPUTE_32F (else CUBLAS_STATUS_NOT_SUPPORTED).
#include "cublas_v2.h"
// The cuBLAS / cuBLASLt objects: created with `new (std::nothrow) T{args...}`, deleted.
#include <new>
template <typename T, typename... A>
cublasStatus_t cusim_new(T **p, A... args) {
    *p = new (std::nothrow) T{args...};
    return *p ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_ALLOC_FAILED;
}
template <typename T>
cublasStatus_t cusim_delete(T *p) {
    delete p;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cusim_gemm(const char *fn, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                          const float *alpha, const void *A, int lda, const void *B, int ldb, cudaDataType ab,
                          const float *beta, float *C, int ldc, cublasComputeType_t compute);

#endif
