// cusim: the cuBLAS products (see include/cublas_v2.h here). Column-major, as cuBLAS:
// C (m, n) = alpha op(A) op(B) + beta C with op(A) (m, k), op(B) (k, n); beta == 0 does not read C.
// op(A) and op(B) are packed (rounded to the compute type's input precision) into rows of k, then
// each C element is one fp32 dot product in k order. A bf16 C (bf16 A and B, CUBLAS_COMPUTE_32F) is
// widened, alpha s + beta C computed in fp32 and rounded to nearest even as it is stored.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unordered_set>
#include <vector>

#include "cublas_v2.h"
#include "cusim_internal.h"

struct cusim_blas {
    cublasMath_t mode;
};

namespace {

enum rounding { EXACT, BF16, FP16, TF32 };

float round_bits(float x, int drop) {  // round-to-nearest-even to 23 - drop mantissa bits
    uint32_t b;
    memcpy(&b, &x, 4);
    if ((b & 0x7F800000u) == 0x7F800000u) return x;  // inf, NaN
    const uint32_t half = 1u << (drop - 1), lsb = (b >> drop) & 1u;
    b = (b + half - 1 + lsb) & ~((1u << drop) - 1);
    memcpy(&x, &b, 4);
    return x;
}

float round_input(float x, rounding r) {
    switch (r) {
    case BF16: return round_bits(x, 16);
    case TF32: return round_bits(x, 13);
    case FP16: return (float)(_Float16)x;  // overflow to inf, subnormals as fp16 has them
    case EXACT: break;
    }
    return x;
}

// Elements a column-major operand spans: rows x cols with leading dimension ld.
size_t extent(int rows, int cols, int ld) { return rows <= 0 || cols <= 0 ? 0 : (size_t)(cols - 1) * ld + rows; }

struct product {
    cublasOperation_t ta, tb;
    int m, n, k, lda, ldb, ldc;
    long long sa, sb, sc;
    int batch;
    rounding r;
    cudaDataType ab = CUDA_R_32F;  // storage of A and B
    cudaDataType c = CUDA_R_32F;   // storage of C: fp32, or bf16 with bf16 A and B
};

size_t element_bytes(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }

// Element i of an operand stored as t, as a float.
float load(const void *p, size_t i, cudaDataType t) {
    if (t == CUDA_R_32F) return ((const float *)p)[i];
    uint16_t h;
    memcpy(&h, (const uint16_t *)p + i, 2);
    if (t == CUDA_R_16F) {
        _Float16 f;
        memcpy(&f, &h, 2);
        return (float)f;
    }
    const uint32_t b = (uint32_t)h << 16;  // bf16: the top half of an fp32
    float f;
    memcpy(&f, &b, 4);
    return f;
}

// x as bf16 bits, rounded to nearest even (overflow to inf); NaN stays NaN.
uint16_t bf16_bits(float x) {
    if (x != x) return 0x7FC0;
    const float r = round_bits(x, 16);
    uint32_t b;
    memcpy(&b, &r, 4);
    return (uint16_t)(b >> 16);
}

cublasStatus_t refuse(const char *fn, const char *fmt, int a, int b) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, a, b);
    cusim_fail(cudaErrorInvalidValue, 0, fn, "%s", msg);
    return CUBLAS_STATUS_INVALID_VALUE;
}

// cuBLAS's own argument checks, then the sim's: operands in device memory, members' C disjoint.
cublasStatus_t check(const char *fn, const product &p, const void *A, const void *B, const void *C) {
    const int arows = p.ta == CUBLAS_OP_N ? p.m : p.k, acols = p.ta == CUBLAS_OP_N ? p.k : p.m;
    const int brows = p.tb == CUBLAS_OP_N ? p.k : p.n, bcols = p.tb == CUBLAS_OP_N ? p.n : p.k;
    if (p.m < 0 || p.n < 0 || p.k < 0 || p.batch < 0) return refuse(fn, "negative size (m or n or k %d, batch %d)", p.m < 0 ? p.m : p.n < 0 ? p.n : p.k, p.batch);
    if (p.lda < (arows > 1 ? arows : 1)) return refuse(fn, "lda %d < %d rows of A", p.lda, arows);
    if (p.ldb < (brows > 1 ? brows : 1)) return refuse(fn, "ldb %d < %d rows of B", p.ldb, brows);
    if (p.ldc < (p.m > 1 ? p.m : 1)) return refuse(fn, "ldc %d < m = %d", p.ldc, p.m);
    if (p.m == 0 || p.n == 0 || p.batch == 0) return CUBLAS_STATUS_SUCCESS;
    const size_t last = (size_t)(p.batch - 1);
    const size_t ea = p.k ? extent(arows, acols, p.lda) + last * (size_t)p.sa : 0;
    const size_t eb = p.k ? extent(brows, bcols, p.ldb) + last * (size_t)p.sb : 0;
    const size_t ec = extent(p.m, p.n, p.ldc);
    const size_t es = element_bytes(p.ab), esc = element_bytes(p.c);
    if ((ea && !cusim_is_device(A, es * ea)) || (eb && !cusim_is_device(B, es * eb)) ||
        !cusim_is_device(C, esc * (ec + last * (size_t)p.sc))) {
        cusim_fail(cudaErrorInvalidValue, 0, fn,
                   "m %d n %d k %d lda %d ldb %d ldc %d batch %d: an operand is not device memory or runs past its "
                   "allocation",
                   p.m, p.n, p.k, p.lda, p.ldb, p.ldc, p.batch);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (p.batch > 1 && (p.sc < 0 || (size_t)p.sc < ec))
        return refuse(fn, "batch members' C overlap (stride %d < %d elements spanned)", (int)p.sc, (int)ec);
    return CUBLAS_STATUS_SUCCESS;
}

void gemm_one(const product &p, float alpha, const void *A, const void *B, float beta, void *C) {
    std::vector<float> a((size_t)p.m * p.k), b((size_t)p.n * p.k);  // rows of op(A), columns of op(B)
    for (int i = 0; i < p.m; i++)
        for (int q = 0; q < p.k; q++)
            a[(size_t)i * p.k + q] = round_input(
                load(A, p.ta == CUBLAS_OP_N ? i + (size_t)q * p.lda : q + (size_t)i * p.lda, p.ab), p.r);
    for (int j = 0; j < p.n; j++)
        for (int q = 0; q < p.k; q++)
            b[(size_t)j * p.k + q] = round_input(
                load(B, p.tb == CUBLAS_OP_N ? q + (size_t)j * p.ldb : j + (size_t)q * p.ldb, p.ab), p.r);
    for (int j = 0; j < p.n; j++)
        for (int i = 0; i < p.m; i++) {
            const float *x = a.data() + (size_t)i * p.k, *y = b.data() + (size_t)j * p.k;  // k may be 0
            float s = 0.0f;
            for (int q = 0; q < p.k; q++) s += x[q] * y[q];
            const size_t at = i + (size_t)j * p.ldc;
            const float v = beta == 0.0f ? alpha * s : alpha * s + beta * load(C, at, p.c);
            if (p.c == CUDA_R_32F)
                ((float *)C)[at] = v;
            else
                ((uint16_t *)C)[at] = bf16_bits(v);
        }
}

cublasStatus_t run(cublasHandle_t h, const char *fn, product p, const float *alpha, const void *A,
                   const void *B, const float *beta, void *C) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (p.r == EXACT && h->mode == CUBLAS_TF32_TENSOR_OP_MATH) p.r = TF32;
    const cublasStatus_t st = check(fn, p, A, B, C);
    if (st != CUBLAS_STATUS_SUCCESS || p.m == 0 || p.n == 0) return st;
    cusim_count("cublas", fn);
    const size_t es = element_bytes(p.ab), esc = element_bytes(p.c);
    for (int i = 0; i < p.batch; i++)
        gemm_one(p, *alpha, (const char *)A + es * i * p.sa, (const char *)B + es * i * p.sb, *beta,
                 (char *)C + esc * i * p.sc);
    return CUBLAS_STATUS_SUCCESS;
}

// The pointer-array batch: the arrays in device memory, each member checked as a single product,
// no element of C written by two members (cuBLAS leaves that undefined), then the products.
cublasStatus_t run_batched(cublasHandle_t h, const char *fn, product p, const float *alpha, const float *const *A,
                           const float *const *B, const float *beta, float *const *C) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (p.r == EXACT && h->mode == CUBLAS_TF32_TENSOR_OP_MATH) p.r = TF32;
    if (p.batch < 0) return refuse(fn, "negative batch %d (m %d)", p.batch, p.m);
    const size_t bytes = sizeof(void *) * (size_t)p.batch;
    if (p.batch && (!cusim_is_device(A, bytes) || !cusim_is_device(B, bytes) || !cusim_is_device(C, bytes))) {
        cusim_fail(cudaErrorInvalidValue, 0, fn, "batch %d: a pointer array is not in device memory", p.batch);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    product one = p;
    one.batch = 1;
    std::unordered_set<const float *> written;
    for (int i = 0; i < p.batch; i++) {
        const cublasStatus_t st = check(fn, one, A[i], B[i], C[i]);
        if (st != CUBLAS_STATUS_SUCCESS) return st;
        for (int col = 0; col < p.n; col++)
            for (int row = 0; row < p.m; row++)
                if (!written.insert(C[i] + row + (size_t)col * p.ldc).second)
                    return refuse(fn, "batch member %d writes an element of C another member writes (column %d)", i,
                                  col);
    }
    if (p.m == 0 || p.n == 0 || p.batch == 0) return CUBLAS_STATUS_SUCCESS;
    cusim_count("cublas", fn);
    for (int i = 0; i < p.batch; i++) gemm_one(one, *alpha, A[i], B[i], *beta, C[i]);
    return CUBLAS_STATUS_SUCCESS;
}

bool compute_rounding(cublasComputeType_t c, rounding *r) {
    switch (c) {
    case CUBLAS_COMPUTE_32F: *r = EXACT; return true;
    case CUBLAS_COMPUTE_32F_FAST_16BF: *r = BF16; return true;
    case CUBLAS_COMPUTE_32F_FAST_16F: *r = FP16; return true;
    case CUBLAS_COMPUTE_32F_FAST_TF32: *r = TF32; return true;
    }
    return false;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t *h) { return cusim_new(h, CUBLAS_DEFAULT_MATH); }
cublasStatus_t cublasDestroy(cublasHandle_t h) { return cusim_delete(h); }

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_TF32_TENSOR_OP_MATH) return CUBLAS_STATUS_INVALID_VALUE;
    h->mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t st) {
    switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "unknown cuBLAS status";
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc) {
    return run(h, "cublasSgemm", {ta, tb, m, n, k, lda, ldb, ldc, 0, 0, 0, 1, EXACT}, alpha, A, B, beta, C);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *A, int lda, long long sa,
                                         const float *B, int ldb, long long sb, const float *beta, float *C, int ldc,
                                         long long sc, int batch) {
    return run(h, "cublasSgemmStridedBatched", {ta, tb, m, n, k, lda, ldb, ldc, sa, sb, sc, batch, EXACT}, alpha, A, B,
               beta, C);
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B,
                            cudaDataType bt, int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t) {
    rounding r;
    // cuBLAS's table: fp32 A, B, C with any of the compute types; bf16 or fp16 A and B (the same
    // type) with CUBLAS_COMPUTE_32F and fp32 C; bf16 A, B and C with CUBLAS_COMPUTE_32F
    const bool half_ab = (at == CUDA_R_16BF || at == CUDA_R_16F) && bt == at && compute == CUBLAS_COMPUTE_32F;
    const bool c_ok = ct == CUDA_R_32F || (ct == CUDA_R_16BF && half_ab && at == CUDA_R_16BF);
    if (!(half_ab || (at == CUDA_R_32F && bt == CUDA_R_32F)) || !c_ok || !compute_rounding(compute, &r))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    product p{ta, tb, m, n, k, lda, ldb, ldc, 0, 0, 0, 1, r};
    p.ab = at;
    p.c = ct;
    return run(h, "cublasGemmEx", p, (const float *)alpha, A, B, (const float *)beta, C);
}

cublasStatus_t cusim_gemm(const char *fn, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                          const float *alpha, const void *A, int lda, const void *B, int ldb, cudaDataType ab,
                          const float *beta, float *C, int ldc, cublasComputeType_t compute) {
    rounding r;
    if (!compute_rounding(compute, &r)) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (ab != CUDA_R_32F && !((ab == CUDA_R_16BF || ab == CUDA_R_16F) && compute == CUBLAS_COMPUTE_32F))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    cusim_blas plain{CUBLAS_DEFAULT_MATH};
    product p{ta, tb, m, n, k, lda, ldb, ldc, 0, 0, 0, 1, r};
    p.ab = ab;
    return run(&plain, fn, p, alpha, A, B, beta, C);
}

cublasStatus_t cublasGemmBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                   const void *alpha, const void *const A[], cudaDataType at, int lda,
                                   const void *const B[], cudaDataType bt, int ldb, const void *beta, void *const C[],
                                   cudaDataType ct, int ldc, int batch, cublasComputeType_t compute,
                                   cublasGemmAlgo_t) {
    rounding r;
    if (at != CUDA_R_32F || bt != CUDA_R_32F || ct != CUDA_R_32F || !compute_rounding(compute, &r))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    return run_batched(h, "cublasGemmBatchedEx", {ta, tb, m, n, k, lda, ldb, ldc, 0, 0, 0, batch, r},
                       (const float *)alpha, (const float *const *)A, (const float *const *)B, (const float *)beta,
                       (float *const *)C);
}
