// Private to the CUDA backend (engine/src/cuda/*.cu, CUDA C++): the kernels behind
// mm_backend_cuda() (one file per op), error recording, scratch buffers and deterministic block
// reductions. See minimind/backend.h for the op contracts and ops_math.h for the shared math.
#ifndef MM_CUDA_COMMON_H
#define MM_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mma.h"
#include "ops_math.h"

extern "C" {
#include "minimind/backend.h"
}

// ---- context: one device per process (set by mm_backend_cuda).
cublasHandle_t mm_cuda_blas(void);

// Records the first failure (file:line: what) — reported by the backend's `check` op.
void mm_cuda_note(cudaError_t err, const char *file, int line);
void mm_cuda_note_blas(cublasStatus_t st, const char *file, int line);
#define MM_CU(call) mm_cuda_note((call), __FILE__, __LINE__)
#define MM_CUBLAS(call) mm_cuda_note_blas((call), __FILE__, __LINE__)
#define MM_CU_LAUNCHED() mm_cuda_note(cudaGetLastError(), __FILE__, __LINE__)
// Records a failure an op found itself (a call it cannot run), unless one is recorded already.
void mm_cuda_notef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// An environment switch of two values, read when the backend starts: *is_first = 1 for `first`
// (also NULL or empty, the default), 0 for `second`; anything else leaves it and returns -1 with
// the message "VAR=VALUE: expected FIRST or SECOND".
int mm_cuda_switch(const char *var, const char *env, const char *first, const char *second, int *is_first);

// Scratch buffers that grow on demand; one per slot, kept until the process ends.
enum {
    MM_SCRATCH_RMSNORM,
    MM_SCRATCH_CE,
    MM_SCRATCH_GRADNORM,
    MM_SCRATCH_MEMTOPK,   // memory_topk: the (rows, S) score blocks / their dense gradients
    MM_SCRATCH_MEMREAD,   // memory_read_backward: the dense (rows, V) coefficients
    MM_SCRATCH_ATT_PTRS,  // attention: the batched GEMMs' pointer arrays
    MM_SCRATCH_ATT_DKV,   // attention_backward: the per-query-head dK, dV before the group sums
    MM_SCRATCH_LT,        // gemm.cu: the cuBLASLt workspace
    MM_SCRATCH_N
};
void *mm_cuda_scratch(int slot, size_t bytes);

static inline unsigned mm_cdiv(size_t a, size_t b) { return (unsigned)((a + b - 1) / b); }

// ---- deterministic block reductions (fixed shuffle tree; blockDim.x a multiple of 32, <= 1024).
// Every thread returns the result. Safe to call repeatedly (leading barrier protects the buffer).
template <typename T, typename Op>
__device__ __forceinline__ T mm_block_reduce(T v, Op op, T identity) {
    __shared__ T sh[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
struct mm_op_add {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct mm_op_max {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
__device__ __forceinline__ float mm_block_sum(float v) { return mm_block_reduce(v, mm_op_add(), 0.0f); }
__device__ __forceinline__ double mm_block_sum_d(double v) { return mm_block_reduce(v, mm_op_add(), 0.0); }
__device__ __forceinline__ float mm_block_max(float v) { return mm_block_reduce(v, mm_op_max(), -INFINITY); }

// ---- precision and cuBLAS products (gemm.cu): the one place that maps mm_precision to a cuBLAS
// compute type. Operands fp32, column-major; ta/tb: 0 = N, 1 = T. A zero-sized product is a no-op.
int mm_cuda_set_precision(mm_precision p);
mm_precision mm_cuda_precision(void);
void mm_cuda_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc);
// The same with the operands' storage named: A and B of type ab, C of type ct — fp32 A, B, C (as
// mm_cuda_gemm), or bf16 A and B (CUBLAS_COMPUTE_32F: exact products, fp32 sums) with an fp32 or
// a bf16 C (rounded to nearest even). cuBLAS refuses other combinations (the op's failure).
void mm_cuda_gemm_typed(int ta, int tb, int m, int n, int k, float alpha, const void *A, int lda,
                        const void *B, int ldb, cudaDataType ab, float beta, void *C, cudaDataType ct,
                        int ldc);
// batch products through device arrays of member pointers (A[i], B[i], C[i]; the members' C disjoint).
void mm_cuda_gemm_batched(int ta, int tb, int m, int n, int k, float alpha, const float *const *A, int lda,
                          const float *const *B, int ldb, float beta, float *const *C, int ldc, int batch);
// D (m, n) = op(A) op(B) + C, C and D contiguous (leading dimension m); distinct: cuBLASLt reads C
// and writes D, no copy (gemm.cu).
void mm_cuda_gemm_add(int ta, int tb, int m, int n, int k, const float *A, int lda, const float *B, int ldb,
                      const float *C, float *D);
// The same with A and B stored as ab (CUDA_R_32F or CUDA_R_16BF); C and D fp32.
void mm_cuda_gemm_add_typed(int ta, int tb, int m, int n, int k, const void *A, int lda, const void *B,
                            int ldb, cudaDataType ab, const float *C, float *D);
// MM_CUDA_RESIDUAL: "lt" (default, NULL or empty) or "copy" (copy C into D, then cublasGemmEx);
// anything else: -1 with the message naming the variable.
int mm_cuda_residual_configure(const char *env);

// ---- the op kernels (contracts: minimind/backend.h)
void mm_cuda_matmul_forward(float *out, const float *inp, const float *w, int M, int K, int N, int accumulate);
void mm_cuda_matmul_forward_residual(float *out, const float *res, const float *inp, const float *w, int M,
                                     int K, int N);
void mm_cuda_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int M,
                             int K, int N, int accumulate_dinp);
void mm_cuda_embedding_forward(float *out, const int32_t *tokens, const float *wte, int N, int C);
void mm_cuda_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int N, int C);
void mm_cuda_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps);
void mm_cuda_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                              const float *rstd, int N, int C);
void mm_cuda_rope_forward(float *x, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                          int pos0);
void mm_cuda_rope_backward(float *dx, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                           int pos0);
void mm_cuda_attention_forward(float *out, float *att, const float *q, int ldq, const float *k, const float *v,
                               int ldkv, int B, int Tq, int Tk, int H, int KV, int hs);
void mm_cuda_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                                const float *q, int ldq, const float *k, const float *v, int ldkv, int B, int Tq,
                                int Tk, int H, int KV, int hs);
// The attention's two implementations (attention.cu picks one per shape; the backward always
// takes the forward's): MM_CUDA_ATTENTION=flash (default) or gemm, read when the backend starts.
int mm_cuda_attention_configure(const char *env);
// backend.h attention_state_floats: (B,H,Tq)*(1+hs) on the flash path, else B*H*Tq*Tk.
size_t mm_cuda_attention_state_floats(int B, int Tq, int Tk, int H, int hs);
// backend.h attention_implementation: "flash" or "gemm".
const char *mm_cuda_attention_implementation(int B, int Tq, int Tk, int H, int hs);
// FlashAttention-style tensor-core kernels (attention_flash.cu): bf16 / fp16, hs 16, 32 or 64,
// Tq <= Tk, Tk >= hs + 1 (their state, lse and a copy of out, fits the att buffer), ceil(Tk / 64) <= 65535.
// The backward reads that state and keeps rowsum(dO o O) in `work` (the op's datt buffer); dk, dv
// are where attention_plan.h's mm_att_dkv_operand puts them (per query head unless H == KV).
int mm_cuda_flash_ok(int B, int Tq, int Tk, int H, int hs, mm_precision p);
void mm_cuda_flash_forward(float *out, float *state, const float *q, int ldq, const float *k, const float *v,
                           int ldkv, int B, int Tq, int Tk, int H, int KV, int hs);
void mm_cuda_flash_backward(float *dq, float *dk, float *dv, float *work, const float *state, const float *dout,
                            const float *q, int ldq, const float *k, const float *v, int ldkv, int B, int Tq, int Tk,
                            int H, int KV, int hs);
void mm_cuda_swiglu_forward(float *g, const float *h13, int N, int F);
void mm_cuda_swiglu_backward(float *dh13, const float *dg, const float *h13, int N, int F);
float mm_cuda_crossentropy_forward(float *logits, float *lse, const float *x, const float *wte,
                                   const int32_t *targets, const float *mask, int N, int C, int V);
void mm_cuda_crossentropy_backward(float *dx, float *dwte, float *logits, const float *lse, const float *x,
                                   const float *wte, const int32_t *targets, const float *mask, float dloss, int N,
                                   int C, int V);
// The head in bf16 (backend.h): crossentropy.cu. MM_CUDA_HEAD: "bf16" (default, NULL or empty: the
// head in bf16 in the bf16 precision) or "fp32" (head_bf16() returns 0: the head stays fp32, for
// A/B benchmarks), read when the backend starts; anything else: -1 with the message naming the
// variable.
int mm_cuda_head_configure(const char *env);
int mm_cuda_head_bf16(void);
float mm_cuda_crossentropy_forward_bf16(mm_bf16 *logits, float *lse, const mm_bf16 *x, const mm_bf16 *wte,
                                        const int32_t *targets, const float *mask, int N, int C, int V);
void mm_cuda_crossentropy_backward_bf16(float *dx, float *dwte, mm_bf16 *logits, const float *lse,
                                        const mm_bf16 *x, const mm_bf16 *wte, const int32_t *targets,
                                        const float *mask, float dloss, int N, int C, int V);
void mm_cuda_adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1, float beta2,
                          float eps, float weight_decay, long step);
float mm_cuda_gradnorm_clip(float *g, size_t n, float max_norm);
void mm_cuda_scale(float *x, size_t n, float s);
void mm_cuda_memory_topk(int32_t *idx, float *score, const float *q, const float *keys, int N, int D, int S, int K,
                         float *scratch);
void mm_cuda_memory_topk_backward(float *dq, float *dkeys, const float *dscore, const int32_t *idx, const float *q,
                                  const float *keys, int N, int D, int S, int K);
void mm_cuda_memory_weights_forward(float *w, float *ysoft, const float *score, const float *noise, int N, int K,
                                    int hard);
void mm_cuda_memory_weights_backward(float *dscore, const float *dw, const float *ysoft, int N, int K);
void mm_cuda_memory_read_forward(float *m, const int32_t *idx, const float *w, const uint16_t *bank, int LK,
                                 const float *wte, int N, int K, int C, int V);
void mm_cuda_memory_read_backward(float *dw, float *dwte, const float *dm, const int32_t *idx, const float *w,
                                  const uint16_t *bank, int LK, const float *wte, int N, int K, int C, int V);
void mm_cuda_copy_rows(float *dst, int ldd, const float *src, int lds, int rows, int cols, int accumulate);
// The feed-forward block in bf16 (backend.h): ffn_bf16.cu (ffn_bf16, to_bf16), rmsnorm.cu,
// swiglu.cu (the bf16 instances of their kernels) and matmul.cu (bf16 operands through gemm.cu).
// MM_CUDA_FFN: "bf16" (default, NULL or empty: the bf16 block in the bf16 precision) or "fp32"
// (ffn_bf16() returns 0: the block stays fp32, for A/B benchmarks), read when the backend starts;
// anything else: -1 with the message naming the variable.
int mm_cuda_ffn_configure(const char *env);
int mm_cuda_ffn_bf16(void);
void mm_cuda_to_bf16(mm_bf16 *dst, const float *src, size_t n);
void mm_cuda_to_bf16_rows(mm_bf16 *dst, int ldd, const float *src, int lds, int rows, int cols);
void mm_cuda_rmsnorm_forward_bf16(mm_bf16 *out, float *rstd, const float *inp, const float *w, int N, int C,
                                  float eps);
void mm_cuda_rmsnorm_backward_bf16(float *dinp, mm_bf16 *dinp16, float *dw, const void *dout,
                                   mm_storage dout_type, const float *inp, const float *w, const float *rstd,
                                   int N, int C);
void mm_cuda_swiglu_forward_bf16(mm_bf16 *g, const mm_bf16 *h13, int N, int F);
void mm_cuda_swiglu_backward_bf16(mm_bf16 *dh13, const mm_bf16 *dg, const mm_bf16 *h13, int N, int F);
void mm_cuda_matmul_forward_bf16(mm_bf16 *out, const mm_bf16 *inp, const mm_bf16 *w, int M, int K, int N);
void mm_cuda_matmul_forward_residual_bf16(float *out, const float *res, const mm_bf16 *inp, const mm_bf16 *w,
                                          int M, int K, int N);
void mm_cuda_matmul_backward_bf16(void *dinp, mm_storage dinp_type, float *dw, const mm_bf16 *dout,
                                  const mm_bf16 *inp, const mm_bf16 *w, int M, int K, int N);
// The attention block in bf16 (backend.h): attention.cu (attention_bf16, the two attention ops:
// the bf16 instances of the FlashAttention kernels, attention_flash.cu) and rope.cu (the bf16
// instances of its kernel). MM_CUDA_ATTN: "bf16" (default, NULL or empty: the block in bf16 where
// the flash path applies in the bf16 precision) or "fp32" (attention_bf16() returns 0: the block
// stays fp32, for A/B benchmarks), read when the backend starts; anything else: -1 with the
// message naming the variable. The attention ops refuse (the backend's error, naming the op and
// the shape; nothing launched) a shape for which attention_bf16 would be 0.
int mm_cuda_attn_configure(const char *env);
int mm_cuda_attention_bf16(int B, int T, int H, int hs);
// backend.h attention_state_floats_bf16: (B,H,Tq).
size_t mm_cuda_attention_state_floats_bf16(int B, int Tq, int Tk, int H, int hs);
void mm_cuda_rope_forward_bf16(mm_bf16 *x, int ld, const float *cos, const float *sin, int B, int T, int NH,
                               int hs, int pos0);
void mm_cuda_rope_backward_bf16(mm_bf16 *dx, int ld, const float *cos, const float *sin, int B, int T, int NH,
                                int hs, int pos0);
void mm_cuda_attention_forward_bf16(mm_bf16 *out, float *att, const mm_bf16 *q, int ldq, const mm_bf16 *k,
                                    const mm_bf16 *v, int ldkv, int B, int Tq, int Tk, int H, int KV, int hs);
void mm_cuda_attention_backward_bf16(mm_bf16 *dq, mm_bf16 *dk, mm_bf16 *dv, float *datt, const mm_bf16 *dout,
                                     const mm_bf16 *out, const float *att, const mm_bf16 *q, int ldq,
                                     const mm_bf16 *k, const mm_bf16 *v, int ldkv, int B, int Tq, int Tk,
                                     int H, int KV, int hs);
// The FlashAttention kernels on bf16 storage (attention_flash.cu): the state keeps only lse
// (B,H,Tq) (the backward reads `out`); dk, dv written in bf16 when H == KV, else dkh, dvh (bf16,
// per query head: mm_att_dkv_operand's scratch) for attention.cu's group sum.
void mm_cuda_flash_forward_bf16(mm_bf16 *out, float *state, const mm_bf16 *q, int ldq, const mm_bf16 *k,
                                const mm_bf16 *v, int ldkv, int B, int Tq, int Tk, int H, int KV, int hs);
void mm_cuda_flash_backward_bf16(mm_bf16 *dq, mm_bf16 *dk, mm_bf16 *dv, mm_bf16 *dkh, mm_bf16 *dvh,
                                 float *work, const float *state, const mm_bf16 *dout, const mm_bf16 *out,
                                 const mm_bf16 *q, int ldq, const mm_bf16 *k, const mm_bf16 *v, int ldkv,
                                 int B, int Tq, int Tk, int H, int KV, int hs);
void mm_cuda_memory_ema_accumulate(float *hsum, const int32_t *slot, const int32_t *start, int nseg,
                                   const int32_t *rows, const float *ws, const float *h, int C);

// ---- vector loads and stores: 4 (2) floats, or 2 packed registers, in one 16 (8)-byte access.
// p must be sizeof(V)-byte aligned: a GPU faults otherwise ("misaligned address"), and so does the
// simulator. Callers take the vector path only when mm_aligned says so for every pointer and the
// row lengths keep the rows aligned.
MM_HD bool mm_aligned(const void *p, size_t bytes) { return ((uintptr_t)p & (bytes - 1)) == 0; }
// V: float4, float2, uint2 or uint32_t; T: the element type p points to.
template <typename V, typename T>
__device__ __forceinline__ V mm_ldv(const T *p) {
#if defined(CUSIM_SIMULATED)
    cusim_check_aligned(p, sizeof(V), "a vector load");
    V v;
    memcpy(&v, p, sizeof v);
    return v;
#else
    return *(const V *)p;
#endif
}
template <typename V, typename T>
__device__ __forceinline__ void mm_stv(T *p, V v) {
#if defined(CUSIM_SIMULATED)
    cusim_check_aligned(p, sizeof(V), "a vector store");
    memcpy(p, &v, sizeof v);
#else
    *(V *)p = v;
#endif
}

// ---- element storage of the elementwise kernels: float, or mm_bf16 (the FFN and attention blocks
// in bf16). Loads widen to fp32 (exact), stores round to nearest even (ops_math.h: the reference's
// rounding). The 4-value forms move 16 bytes of float or 8 of bf16 in one access: p 4 *
// sizeof(T)-byte aligned; the 2-value forms (RoPE's pairs) 8 bytes of float or 4 of bf16: p 2 *
// sizeof(T)-byte aligned.
__device__ __forceinline__ float mm_ld1(const float *p) { return *p; }
__device__ __forceinline__ float mm_ld1(const mm_bf16 *p) { return mm_bf16_float(*p); }
__device__ __forceinline__ void mm_st1(float *p, float v) { *p = v; }
__device__ __forceinline__ void mm_st1(mm_bf16 *p, float v) { *p = (mm_bf16)mm_bf16_bits(v); }
__device__ __forceinline__ float2 mm_ld2(const float *p) { return mm_ldv<float2>(p); }
__device__ __forceinline__ float2 mm_ld2(const mm_bf16 *p) {
    const uint32_t u = mm_ldv<uint32_t>(p);  // little-endian: the lower index in the low half
    float2 v;
    v.x = mm_bf16_float(u & 0xFFFFu), v.y = mm_bf16_float(u >> 16);
    return v;
}
__device__ __forceinline__ void mm_st2(float *p, float2 v) { mm_stv<float2>(p, v); }
__device__ __forceinline__ void mm_st2(mm_bf16 *p, float2 v) {
    mm_stv<uint32_t>(p, mm_pack2<MM_MMA_BF16>(v.x, v.y));
}
__device__ __forceinline__ float4 mm_ld4(const float *p) { return mm_ldv<float4>(p); }
__device__ __forceinline__ float4 mm_ld4(const mm_bf16 *p) {
    const uint2 u = mm_ldv<uint2>(p);  // little-endian: the lower index in the low half
    float4 v;
    v.x = mm_bf16_float(u.x & 0xFFFFu), v.y = mm_bf16_float(u.x >> 16);
    v.z = mm_bf16_float(u.y & 0xFFFFu), v.w = mm_bf16_float(u.y >> 16);
    return v;
}
__device__ __forceinline__ void mm_st4(float *p, float4 v) { mm_stv<float4>(p, v); }
__device__ __forceinline__ void mm_st4(mm_bf16 *p, float4 v) {
    uint2 u;
    u.x = mm_pack2<MM_MMA_BF16>(v.x, v.y), u.y = mm_pack2<MM_MMA_BF16>(v.z, v.w);
    mm_stv<uint2>(p, u);
}

// ---- warp helpers (full warps; fixed xor-shuffle trees: every lane gets the same, deterministic result)
__device__ __forceinline__ float mm_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

#endif
