// Every cuBLAS product of the backend goes through here, so [train] mixed_precision is decided in
// one place. Storage is fp32 (A, B, C are CUDA_R_32F, alpha/beta float); the precision picks the
// cuBLAS compute type:
//   fp32  CUBLAS_COMPUTE_32F            fp32 products (the handle's default math mode: no TF32)
//   bf16  CUBLAS_COMPUTE_32F_FAST_16BF  inputs rounded to bf16 (or TF32), tensor cores, fp32 sums
//   fp16  CUBLAS_COMPUTE_32F_FAST_16F   inputs rounded to fp16 (or TF32), tensor cores, fp32 sums
// Master weights, gradients and AdamW moments stay fp32; only the products round their inputs.
// The feed-forward block in bf16 (backend.h, matmul.cu) stores its operands as bf16: A and B
// CUDA_R_16BF with CUBLAS_COMPUTE_32F (exact products, fp32 sums, whatever the precision), C
// CUDA_R_32F or CUDA_R_16BF (cublasGemmEx rounds it to nearest even) — cuBLAS's own table.
// Column-major as cuBLAS: op(A) (m,k), op(B) (k,n), C (m,n) = alpha op(A) op(B) + beta C.
#include <cublasLt.h>
#include <stdio.h>
#include <string.h>

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

// The compute type of a product of A, B stored as ab in precision p: fp32 operands follow p, bf16
// operands are multiplied exactly (CUBLAS_COMPUTE_32F: cuBLAS takes no other for them).
static cublasComputeType_t mm_gemm_compute(cudaDataType ab, mm_precision p) {
    return ab == CUDA_R_32F ? mm_cuda_compute_type(p) : CUBLAS_COMPUTE_32F;
}

static cublasOperation_t mm_op(int trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

void mm_cuda_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc) {
    mm_cuda_gemm_typed(ta, tb, m, n, k, alpha, A, lda, B, ldb, CUDA_R_32F, beta, C, CUDA_R_32F, ldc);
}

void mm_cuda_gemm_typed(int ta, int tb, int m, int n, int k, float alpha, const void *A, int lda,
                        const void *B, int ldb, cudaDataType ab, float beta, void *C, cudaDataType ct,
                        int ldc) {
    if (m <= 0 || n <= 0) return;
    MM_CUBLAS(cublasGemmEx(mm_cuda_blas(), mm_op(ta), mm_op(tb), m, n, k, &alpha, A, ab, lda, B, ab, ldb,
                           &beta, C, ct, ldc, mm_gemm_compute(ab, g_precision), CUBLAS_GEMM_DEFAULT));
}

void mm_cuda_gemm_batched(int ta, int tb, int m, int n, int k, float alpha, const float *const *A, int lda,
                          const float *const *B, int ldb, float beta, float *const *C, int ldc, int batch) {
    if (m <= 0 || n <= 0 || batch <= 0) return;
    MM_CUBLAS(cublasGemmBatchedEx(mm_cuda_blas(), mm_op(ta), mm_op(tb), m, n, k, &alpha, (const void *const *)A,
                                  CUDA_R_32F, lda, (const void *const *)B, CUDA_R_32F, ldb, &beta,
                                  (void *const *)C, CUDA_R_32F, ldc, batch, mm_cuda_compute_type(g_precision),
                                  CUBLAS_GEMM_DEFAULT));
}

// ---- D (m, n) = op(A) op(B) + C, C and D contiguous and distinct (cuBLASLt: C is read, D written;
// cublasGemmEx has one C for both, which costs the caller a copy of C into D first); A and B fp32
// or bf16 (the FFN block in bf16), C and D fp32. One plan per shape, precision and operand type
// (descriptors, layouts and the heuristic's first algorithm), kept for the process; the
// workspace is one scratch buffer. If cuBLASLt refuses a shape here (an old library, a missing
// algorithm), that plan is marked unusable, one line says so on stderr, and the caller falls back
// to copy + cublasGemmEx for it: the same function. MM_CUDA_RESIDUAL=copy (read when the backend
// starts) takes that way for every product: the A/B on a GPU, and its test.
enum { MM_LT_PLANS = 32 };
static const size_t MM_LT_WORKSPACE = (size_t)32 << 20;

typedef struct mm_lt_plan {
    int ta, tb, m, n, k, lda, ldb, ldc;
    mm_precision precision;
    cudaDataType ab;  // A and B: CUDA_R_32F or CUDA_R_16BF
    int usable;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
} mm_lt_plan;

static cublasLtHandle_t g_lt;
static int g_lt_off;  // MM_CUDA_RESIDUAL=copy: every residual product copies and uses cublasGemmEx

int mm_cuda_residual_configure(const char *env) {
    int lt;
    if (mm_cuda_switch("MM_CUDA_RESIDUAL", env, "lt", "copy", &lt) != 0) return -1;
    g_lt_off = !lt;
    return 0;
}
static mm_lt_plan g_lt_plans[MM_LT_PLANS];
static int g_lt_nplans;

// Creates the plan's descriptors and asks the heuristic for an algorithm; status of the first failure.
static cublasStatus_t mm_lt_prepare(mm_lt_plan *p) {
    cublasStatus_t st = g_lt ? CUBLAS_STATUS_SUCCESS : cublasLtCreate(&g_lt);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescCreate(&p->desc, mm_gemm_compute(p->ab, p->precision), CUDA_R_32F);
    const cublasOperation_t ta = mm_op(p->ta), tb = mm_op(p->tb);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (st == CUBLAS_STATUS_SUCCESS)  // A as stored: (m, k), or (k, m) transposed; likewise B
        st = cublasLtMatrixLayoutCreate(&p->a, p->ab, p->ta ? p->k : p->m, p->ta ? p->m : p->k, p->lda);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&p->b, p->ab, p->tb ? p->n : p->k, p->tb ? p->k : p->n, p->ldb);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutCreate(&p->c, CUDA_R_32F, p->m, p->n, p->ldc);
    cublasLtMatmulPreference_t pref = NULL;
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceCreate(&pref);
    const uint64_t ws = MM_LT_WORKSPACE;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                  sizeof ws);
    cublasLtMatmulHeuristicResult_t best;
    int found = 0;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(g_lt, p->desc, p->a, p->b, p->c, p->c, pref, 1, &best, &found);
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (st == CUBLAS_STATUS_SUCCESS && (found < 1 || best.state != CUBLAS_STATUS_SUCCESS))
        st = found < 1 ? CUBLAS_STATUS_NOT_SUPPORTED : best.state;
    if (st == CUBLAS_STATUS_SUCCESS) p->algo = best.algo;
    return st;
}

static const char *mm_type_name(cudaDataType t) { return t == CUDA_R_16BF ? "bf16" : "fp32"; }

// The plan of this shape and operand type in the current precision (prepared on first use), or
// NULL when there is no usable one.
static mm_lt_plan *mm_lt_plan_for(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc,
                                  cudaDataType ab) {
    for (int i = 0; i < g_lt_nplans; i++) {
        mm_lt_plan *p = &g_lt_plans[i];
        if (p->ta == ta && p->tb == tb && p->m == m && p->n == n && p->k == k && p->lda == lda &&
            p->ldb == ldb && p->ldc == ldc && p->precision == g_precision && p->ab == ab)
            return p->usable ? p : NULL;
    }
    if (g_lt_nplans == MM_LT_PLANS) return NULL;  // more shapes than a model has: the fallback
    mm_lt_plan *p = &g_lt_plans[g_lt_nplans++];
    memset(p, 0, sizeof *p);
    p->ta = ta, p->tb = tb, p->m = m, p->n = n, p->k = k, p->lda = lda, p->ldb = ldb, p->ldc = ldc;
    p->precision = g_precision;
    p->ab = ab;
    const cublasStatus_t st = mm_lt_prepare(p);
    p->usable = st == CUBLAS_STATUS_SUCCESS;
    if (!p->usable) {  // the shape stays in the table, marked: it is not asked again
        if (p->desc) cublasLtMatmulDescDestroy(p->desc);
        if (p->a) cublasLtMatrixLayoutDestroy(p->a);
        if (p->b) cublasLtMatrixLayoutDestroy(p->b);
        if (p->c) cublasLtMatrixLayoutDestroy(p->c);
        fprintf(
            stderr,
            "cuda: cuBLASLt (m %d n %d k %d, %s operands): %s; this product copies C and uses cublasGemmEx\n",
            m, n, k, mm_type_name(ab), cublasGetStatusString(st));
    }
    return p->usable ? p : NULL;
}

void mm_cuda_gemm_add(int ta, int tb, int m, int n, int k, const float *A, int lda, const float *B, int ldb,
                      const float *C, float *D) {
    mm_cuda_gemm_add_typed(ta, tb, m, n, k, A, lda, B, ldb, CUDA_R_32F, C, D);
}

void mm_cuda_gemm_add_typed(int ta, int tb, int m, int n, int k, const void *A, int lda, const void *B,
                            int ldb, cudaDataType ab, const float *C, float *D) {
    if (m <= 0 || n <= 0) return;
    const int ldc = m;
    mm_lt_plan *p = C != D && !g_lt_off ? mm_lt_plan_for(ta, tb, m, n, k, lda, ldb, ldc, ab) : NULL;
    void *ws = p ? mm_cuda_scratch(MM_SCRATCH_LT, MM_LT_WORKSPACE) : NULL;
    if (p && ws) {
        const float one = 1.0f;
        const cublasStatus_t st = cublasLtMatmul(g_lt, p->desc, &one, A, p->a, B, p->b, &one, C, p->c, D,
                                                 p->c, &p->algo, ws, MM_LT_WORKSPACE, 0);
        if (st == CUBLAS_STATUS_SUCCESS) return;
        p->usable = 0;  // refused at launch (nothing ran): this shape falls back from now on
        fprintf(stderr,
                "cuda: cuBLASLt matmul (m %d n %d k %d, %s operands): %s; this product copies C and uses "
                "cublasGemmEx\n",
                m, n, k, mm_type_name(ab), cublasGetStatusString(st));
    }
    if (C != D) MM_CU(cudaMemcpy(D, C, sizeof(float) * (size_t)m * n, cudaMemcpyDeviceToDevice));
    mm_cuda_gemm_typed(ta, tb, m, n, k, 1.0f, A, lda, B, ldb, ab, 1.0f, D, CUDA_R_32F, ldc);
}
