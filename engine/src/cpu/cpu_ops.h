// Private to the CPU backend: the kernel functions behind mm_backend_cpu() (one file per op) and
// small shared helpers (a vectorisable expf). See minimind/backend.h for the contracts.
#ifndef MM_CPU_OPS_H
#define MM_CPU_OPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "minimind/backend.h"

// The kernels never rely on floating-point exceptions or errno; without this GCC refuses to if-convert the
// compares in mm_fast_expf's clamp (and sqrtf), and no loop calling them vectorises.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "no-math-errno")
#endif

void mm_cpu_set_threads(int n);

void mm_cpu_matmul_forward(float *out, const float *inp, const float *w, int M, int K, int N, int accumulate);
void mm_cpu_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int M,
                            int K, int N, int accumulate_dinp);
void mm_cpu_embedding_forward(float *out, const int32_t *tokens, const float *wte, int N, int C);
void mm_cpu_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int N, int C);
void mm_cpu_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps);
void mm_cpu_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                             const float *rstd, int N, int C);
void mm_cpu_rope_forward(float *x, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                         int pos0);
void mm_cpu_rope_backward(float *dx, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                          int pos0);
void mm_cpu_attention_forward(float *out, float *att, const float *q, int ldq, const float *k, const float *v,
                              int ldkv, int B, int Tq, int Tk, int H, int KV, int hs);
void mm_cpu_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                               const float *q, int ldq, const float *k, const float *v, int ldkv, int B, int Tq,
                               int Tk, int H, int KV, int hs);
void mm_cpu_swiglu_forward(float *g, const float *h13, int N, int F);
void mm_cpu_swiglu_backward(float *dh13, const float *dg, const float *h13, int N, int F);
float mm_cpu_crossentropy_forward(float *logits, float *lse, const float *x, const float *wte,
                                  const int32_t *targets, const float *mask, int N, int C, int V);
void mm_cpu_crossentropy_backward(float *dx, float *dwte, float *logits, const float *lse, const float *x,
                                  const float *wte, const int32_t *targets, const float *mask, float dloss, int N,
                                  int C, int V);
void mm_cpu_adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                         float beta2, float eps, float weight_decay, long step);
float mm_cpu_gradnorm_clip(float *g, size_t n, float max_norm);
void mm_cpu_scale(float *x, size_t n, float s);
void mm_cpu_memory_topk(int32_t *idx, float *score, const float *q, const float *keys, int N, int D, int S, int K,
                        float *scratch);
void mm_cpu_memory_topk_backward(float *dq, float *dkeys, const float *dscore, const int32_t *idx, const float *q,
                                 const float *keys, int N, int D, int S, int K);
void mm_cpu_memory_weights_forward(float *w, float *ysoft, const float *score, const float *noise, int N, int K,
                                   int hard);
void mm_cpu_memory_weights_backward(float *dscore, const float *dw, const float *ysoft, int N, int K);
void mm_cpu_memory_read_forward(float *m, const int32_t *idx, const float *w, const uint16_t *bank, int LK,
                                const float *wte, int N, int K, int C, int V);
void mm_cpu_memory_read_backward(float *dw, float *dwte, const float *dm, const int32_t *idx, const float *w,
                                 const uint16_t *bank, int LK, const float *wte, int N, int K, int C, int V);
void mm_cpu_copy_rows(float *dst, int ldd, const float *src, int lds, int rows, int cols, int accumulate);
// The bf16 feed-forward ops' reference (ffn_bf16.c; not in the CPU table).
void mm_cpu_to_bf16(mm_bf16 *dst, const float *src, size_t n);
void mm_cpu_to_bf16_rows(mm_bf16 *dst, int ldd, const float *src, int lds, int rows, int cols);
void mm_cpu_rmsnorm_forward_bf16(mm_bf16 *out, float *rstd, const float *inp, const float *w, int N, int C,
                                 float eps);
void mm_cpu_rmsnorm_backward_bf16(float *dinp, mm_bf16 *dinp16, float *dw, const void *dout,
                                  mm_storage dout_type, const float *inp, const float *w, const float *rstd,
                                  int N, int C);
void mm_cpu_swiglu_forward_bf16(mm_bf16 *g, const mm_bf16 *h13, int N, int F);
void mm_cpu_swiglu_backward_bf16(mm_bf16 *dh13, const mm_bf16 *dg, const mm_bf16 *h13, int N, int F);
void mm_cpu_matmul_forward_bf16(mm_bf16 *out, const mm_bf16 *inp, const mm_bf16 *w, int M, int K, int N);
void mm_cpu_matmul_forward_residual_bf16(float *out, const float *res, const mm_bf16 *inp, const mm_bf16 *w, int M,
                                         int K, int N);
void mm_cpu_matmul_backward_bf16(void *dinp, mm_storage dinp_type, float *dw, const mm_bf16 *dout,
                                 const mm_bf16 *inp, const mm_bf16 *w, int M, int K, int N);
// The cross-entropy's two passes over given logits (crossentropy.c; the fp32 op and the bf16
// reference share them): lse (N) and the masked mean loss; dlogits over logits.
float mm_cpu_crossentropy_rows(const float *logits, float *lse, const int32_t *targets, const float *mask,
                               int N, int V);
void mm_cpu_crossentropy_dlogits(float *logits, const float *lse, const int32_t *targets, const float *mask,
                                 float dloss, int N, int V);
// The bf16 head's reference (crossentropy_bf16.c; not in the CPU table).
float mm_cpu_crossentropy_forward_bf16(mm_bf16 *logits, float *lse, const mm_bf16 *x, const mm_bf16 *wte,
                                       const int32_t *targets, const float *mask, int N, int C, int V);
void mm_cpu_crossentropy_backward_bf16(float *dx, float *dwte, mm_bf16 *logits, const float *lse,
                                       const mm_bf16 *x, const mm_bf16 *wte, const int32_t *targets,
                                       const float *mask, float dloss, int N, int C, int V);
// The bf16 attention ops' reference (attention_bf16.c; not in the CPU table).
void mm_cpu_rope_forward_bf16(mm_bf16 *x, int ld, const float *cos, const float *sin, int B, int T, int NH,
                              int hs, int pos0);
void mm_cpu_rope_backward_bf16(mm_bf16 *dx, int ld, const float *cos, const float *sin, int B, int T, int NH,
                               int hs, int pos0);
void mm_cpu_attention_forward_bf16(mm_bf16 *out, float *att, const mm_bf16 *q, int ldq, const mm_bf16 *k,
                                   const mm_bf16 *v, int ldkv, int B, int Tq, int Tk, int H, int KV, int hs);
void mm_cpu_attention_backward_bf16(mm_bf16 *dq, mm_bf16 *dk, mm_bf16 *dv, float *datt, const mm_bf16 *dout,
                                    const mm_bf16 *out, const float *att, const mm_bf16 *q, int ldq,
                                    const mm_bf16 *k, const mm_bf16 *v, int ldkv, int B, int Tq, int Tk,
                                    int H, int KV, int hs);
void mm_cpu_memory_ema_accumulate(float *hsum, const int32_t *slot, const int32_t *start, int nseg,
                                  const int32_t *rows, const float *ws, const float *h, int C);

// exp(x) for float, branch-free so loops using it vectorise (Cephes expf: range reduction by
// ln 2 and a degree-6 polynomial; relative error ~2 ulp). Inputs are clamped to [-87.3, 88.3];
// NaN gives NaN.
static inline float mm_fast_expf(float x) {
    x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } s;
    // 2^n from the exponent bits; a NaN x gives a NaN p (and any n): n is zeroed first so that the
    // conversion and the shift stay defined.
    const float nk = n == n ? n : 0.0f;
    s.i = (int32_t)(((uint32_t)(int32_t)nk + 127u) << 23);
    return p * s.f;
}

// silu(x) = x * sigmoid(x).
static inline float mm_sigmoidf(float x) { return 1.0f / (1.0f + mm_fast_expf(-x)); }

#endif
