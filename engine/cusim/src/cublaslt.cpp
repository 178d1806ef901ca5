// cusim: the cuBLASLt matmul (see include/cublasLt.h here). The product itself is cublas.cpp's
// (cusim_gemm): D is first set to C when they differ, then D = alpha op(A) op(B) + beta D —
// element by element what cuBLASLt's epilogue computes from C. A and B fp32, or bf16 with
// CUBLAS_COMPUTE_32F (exact products, fp32 sums); C and D fp32.
#include "cublasLt.h"

#include <stdio.h>
#include <string.h>

#include "cusim_internal.h"

struct cusim_lt {
    int unused;
};
struct cusim_lt_desc {
    cublasComputeType_t compute;
    cublasOperation_t ta, tb;
};
struct cusim_lt_layout {
    cudaDataType type;
    uint64_t rows, cols;
    int64_t ld;
};
struct cusim_lt_pref {
    size_t workspace;
};

namespace {

cublasStatus_t refuse(const char *fmt, long long a, long long b) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, a, b);
    cusim_fail(cudaErrorInvalidValue, 0, "cublasLtMatmul", "%s", msg);
    return CUBLAS_STATUS_INVALID_VALUE;
}

// The operation's sizes from the layouts, checked against each other: op(A) (m, k), op(B) (k, n), C = D (m,
// n).
cublasStatus_t sizes(const cusim_lt_desc *d, const cusim_lt_layout *a, const cusim_lt_layout *b,
                     const cusim_lt_layout *c, const cusim_lt_layout *dl, int *m, int *n, int *k) {
    // cuBLASLt's table, the part the backend uses: fp32 A, B, C, D with any of the compute types;
    // bf16 A and B with CUBLAS_COMPUTE_32F and fp32 C, D
    const bool f32 = a->type == CUDA_R_32F && b->type == CUDA_R_32F;
    const bool bf16 = a->type == CUDA_R_16BF && b->type == CUDA_R_16BF && d->compute == CUBLAS_COMPUTE_32F;
    if (!(f32 || bf16) || c->type != CUDA_R_32F || dl->type != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
    const uint64_t am = d->ta == CUBLAS_OP_N ? a->rows : a->cols,
                   ak = d->ta == CUBLAS_OP_N ? a->cols : a->rows;
    const uint64_t bk = d->tb == CUBLAS_OP_N ? b->rows : b->cols,
                   bn = d->tb == CUBLAS_OP_N ? b->cols : b->rows;
    if (ak != bk) return refuse("op(A) has %lld columns, op(B) %lld rows", (long long)ak, (long long)bk);
    if (c->rows != am || c->cols != bn)
        return refuse("C is %lld rows x %lld columns, not op(A) op(B)'s", (long long)c->rows,
                      (long long)c->cols);
    if (dl->rows != c->rows || dl->cols != c->cols || dl->ld != c->ld)
        return refuse("D's layout differs from C's (ld %lld vs %lld)", (long long)dl->ld, (long long)c->ld);
    *m = (int)am, *n = (int)bn, *k = (int)ak;
    return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

cublasStatus_t cublasLtCreate(cublasLtHandle_t *h) { return cusim_new(h, 0); }
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) { return cusim_delete(h); }

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t compute,
                                        cudaDataType_t scale) {
    if (scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
    return cusim_new(d, compute, CUBLAS_OP_N, CUBLAS_OP_N);
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) { return cusim_delete(d); }
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr,
                                              const void *buf, size_t bytes) {
    if (!d || !buf || bytes != sizeof(int32_t))
        return CUBLAS_STATUS_INVALID_VALUE;  // cublasOperation_t is 4 bytes
    int32_t v;
    memcpy(&v, buf, sizeof v);
    if (v != CUBLAS_OP_N && v != CUBLAS_OP_T) return CUBLAS_STATUS_INVALID_VALUE;
    if (attr == CUBLASLT_MATMUL_DESC_TRANSA)
        d->ta = (cublasOperation_t)v;
    else if (attr == CUBLASLT_MATMUL_DESC_TRANSB)
        d->tb = (cublasOperation_t)v;
    else
        return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
    if (ld < (int64_t)(rows > 1 ? rows : 1)) return CUBLAS_STATUS_INVALID_VALUE;
    return cusim_new(l, type, rows, cols, ld);
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) { return cusim_delete(l); }

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p) {
    return cusim_new(p, (size_t)0);
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) { return cusim_delete(p); }
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void *buf, size_t bytes) {
    if (!p || !buf || attr != CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES || bytes != sizeof(uint64_t))
        return CUBLAS_STATUS_INVALID_VALUE;
    uint64_t w;
    memcpy(&w, buf, sizeof w);
    p->workspace = (size_t)w;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t d,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dl,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t results[], int *returned) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!d || !a || !b || !c || !dl || !pref || requested <= 0) return CUBLAS_STATUS_INVALID_VALUE;
    int m, n, k;
    const cublasStatus_t st = sizes(d, a, b, c, dl, &m, &n, &k);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
    memset(&results[0], 0, sizeof results[0]);
    results[0].state = CUBLAS_STATUS_SUCCESS;  // one algorithm, no workspace
    results[0].wavesCount = 1.0f;
    *returned = 1;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t d, const void *alpha, const void *A,
                              cublasLtMatrixLayout_t a, const void *B, cublasLtMatrixLayout_t b,
                              const void *beta, const void *C, cublasLtMatrixLayout_t c, void *D,
                              cublasLtMatrixLayout_t dl, const cublasLtMatmulAlgo_t *, void *, size_t,
                              cudaStream_t) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!d || !a || !b || !c || !dl) return CUBLAS_STATUS_INVALID_VALUE;
    int m, n, k;
    cublasStatus_t st = sizes(d, a, b, c, dl, &m, &n, &k);
    if (st != CUBLAS_STATUS_SUCCESS || m == 0 || n == 0) return st;
    const size_t span = 4 * ((size_t)(n - 1) * (size_t)c->ld + (size_t)m);
    const float zero = 0.0f, b0 = *(const float *)beta;
    if (C != D && b0 != 0.0f) {
        if (!cusim_is_device(C, span) || !cusim_is_device(D, span))
            return refuse("C or D (%lld bytes) is not device memory", (long long)span, 0);
        const char *c0 = (const char *)C, *d0 = (const char *)D;
        if (c0 < d0 + span && d0 < c0 + span)
            return refuse("D overlaps C without being C (%lld bytes apart)", (long long)(d0 - c0), 0);
        for (int j = 0; j < n; j++)  // D's columns = C's, then the product accumulates into D
            memcpy((float *)D + (size_t)j * c->ld, (const float *)C + (size_t)j * c->ld,
                   sizeof(float) * (size_t)m);
    }
    return cusim_gemm("cublasLtMatmul", d->ta, d->tb, m, n, k, (const float *)alpha, A, (int)a->ld, B,
                      (int)b->ld, a->type, b0 != 0.0f ? (const float *)beta : &zero, (float *)D, (int)c->ld,
                      d->compute);
}
