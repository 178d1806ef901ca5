// Per-element math and index arithmetic of the CUDA kernels (engine/src/cuda/*.cu), written once
// as MM_HD functions: __host__ __device__ under nvcc, plain `static inline` C elsewhere, so
// tests/engine/test_cuda_host.c checks them on the CPU against the CPU backend's kernels.
// Dimension names as minimind/backend.h: B batch, Tq queries, Tk keys, H query heads, KV kv heads,
// hs head size, C = H*hs, N rows, F SwiGLU hidden, V vocabulary.
#ifndef MM_CUDA_OPS_MATH_H
#define MM_CUDA_OPS_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define MM_HD __host__ __device__ __forceinline__
#else
#define MM_HD static inline
#endif

#if defined(__CUDACC__) && !defined(CUSIM_SIMULATED)
#include <cuda_bf16.h>
#endif

// ---- bf16 (minimind/backend.h mm_bf16: the top half of an fp32)
MM_HD uint32_t mm_float_bits(float x) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(x);
#else
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
#endif
}

// fp32 -> bf16 bits, round to nearest even (NaN stays NaN). On the GPU one cvt.rn.bf16.f32.
MM_HD uint32_t mm_bf16_bits(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    return __bfloat16_as_ushort(__float2bfloat16_rn(x));
#else
    const uint32_t u = mm_float_bits(x);
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu)) return 0x7FC0u;
    return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
#endif
}

// bf16 bits -> fp32 (exact).
MM_HD float mm_bf16_float(uint32_t b) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(b << 16);
#else
    const uint32_t u = b << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
#endif
}

// ---- RoPE: rotate the interleaved pair (a, b) by angle with cos c and sin s; sign -1 = inverse.
MM_HD void mm_rope_rotate(float *a, float *b, float c, float s, float sign) {
    float x = *a, y = *b, si = sign * s;
    *a = x * c - y * si;
    *b = x * si + y * c;
}

// Pair j in [0, NH*half) of row `row` (= b*T + t) of a RoPE input with rows of stride ld: head
// j / half, pair j % half, so it sits at row*ld + 2j (heads of 2*half floats start each row);
// *table: its entry in the (max_pos, half) cos/sin tables, position pos0 + t.
MM_HD void mm_rope_pair_at(int row, int j, int T, int half, int ld, int pos0, size_t *at, size_t *table) {
    *at = (size_t)row * ld + 2 * (size_t)j;
    *table = (size_t)(pos0 + row % T) * half + (size_t)(j % half);
}

// ---- RMSNorm
MM_HD float mm_rmsnorm_rstd(float sum_sq, int C, float eps) { return 1.0f / sqrtf(sum_sq / (float)C + eps); }
// dx contribution of column c: r*w*dy - x * r^3 * dot / C, with dot = sum_c w*dy*x of the row.
MM_HD float mm_rmsnorm_dx(float r, float w, float dy, float x, float dot, int C) {
    float k = r * r * r * dot / (float)C;
    return r * w * dy - x * k;
}

// ---- SwiGLU: g = silu(h1) * h3
MM_HD float mm_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
MM_HD float mm_swiglu(float h1, float h3) { return h1 * mm_sigmoid(h1) * h3; }
MM_HD void mm_swiglu_grad(float dg, float h1, float h3, float *d1, float *d3) {
    float s = mm_sigmoid(h1);
    *d1 = dg * h3 * s * (1.0f + h1 * (1.0f - s));
    *d3 = dg * h1 * s;
}

// ---- log-sum-exp, online: a running (max m, sum s of exp(x - m)) pair. Start with (-INFINITY, 0).
MM_HD void mm_lse_push(float *m, float *s, float x) {
    if (x > *m) {
        *s = *s * expf(*m - x) + 1.0f;  // exp(-inf) = 0 on the first push
        *m = x;
    } else {
        *s += expf(x - *m);
    }
}
// Merges (m2, s2) into (m1, s1); either may be the empty pair (-INFINITY, 0).
MM_HD void mm_lse_merge(float *m1, float *s1, float m2, float s2) {
    if (m2 == -INFINITY) return;
    if (*m1 == -INFINITY) {
        *m1 = m2;
        *s1 = s2;
        return;
    }
    if (m2 > *m1) {
        *s1 = *s1 * expf(*m1 - m2) + s2;
        *m1 = m2;
    } else {
        *s1 += s2 * expf(m2 - *m1);
    }
}
MM_HD float mm_lse_value(float m, float s) { return m + logf(s); }

// Cross-entropy gradient of one logit: (softmax - onehot) * coef.
MM_HD float mm_ce_dlogit(float logit, float lse, float coef, int is_target) {
    return expf(logit - lse) * coef - (is_target ? coef : 0.0f);
}

// ---- AdamW (torch.optim.AdamW): coefficients per step on the host, exactly as the CPU kernel.
typedef struct mm_adamw_coef {
    float beta1, beta2, ob1, ob2, eps, step_size, bc2_sqrt, decay;
} mm_adamw_coef;

MM_HD mm_adamw_coef mm_adamw_coefs(float lr, float beta1, float beta2, float eps, float weight_decay, long step) {
    double bc1 = 1.0 - pow((double)beta1, (double)step), bc2 = 1.0 - pow((double)beta2, (double)step);
    mm_adamw_coef k;
    k.beta1 = beta1;
    k.beta2 = beta2;
    k.ob1 = 1.0f - beta1;
    k.ob2 = 1.0f - beta2;
    k.eps = eps;
    k.step_size = (float)(lr / bc1);
    k.bc2_sqrt = (float)sqrt(bc2);
    k.decay = 1.0f - lr * weight_decay;
    return k;
}

MM_HD void mm_adamw_elem(float *p, float g, float *m, float *v, const mm_adamw_coef *k) {
    float mi = *m * k->beta1 + k->ob1 * g;
    float vi = *v * k->beta2 + k->ob2 * g * g;
    *m = mi;
    *v = vi;
    float denom = sqrtf(vi) / k->bc2_sqrt + k->eps;
    *p = *p * k->decay - k->step_size * (mi / denom);
}

// ---- gradient clipping (torch clip_grad_norm_): the factor applied, 1 when no clipping happens.
MM_HD float mm_clip_coef(float norm, float max_norm) {
    if (!(max_norm > 0.0f)) return 1.0f;
    float c = max_norm / (norm + 1e-6f);
    return c < 1.0f ? c : 1.0f;
}

// ---- causal GQA attention index arithmetic
// kv head read by query head h.
MM_HD int mm_gqa_kv_head(int h, int H, int KV) { return h / (H / KV); }
// Keys visible to query i (position Tk - Tq + i): 0 .. mm_att_nkeys - 1.
MM_HD int mm_att_nkeys(int i, int Tq, int Tk) { return i + (Tk - Tq) + 1; }
// First query that sees key j (queries first_query .. Tq-1 do).
MM_HD int mm_att_first_query(int j, int Tq, int Tk) {
    int i = j - (Tk - Tq);
    return i > 0 ? i : 0;
}
// One attention row = (b, h, i): row index r in [0, B*H*Tq) (the layout of att (B,H,Tq,Tk)).
MM_HD void mm_att_row_index(long r, int H, int Tq, int *b, int *h, int *i) {
    *i = (int)(r % Tq);
    *h = (int)((r / Tq) % H);
    *b = (int)(r / ((long)Tq * H));
}
// Softmax backward of one visible attention entry: dS = P (dP - sum_j P dP) * scale.
MM_HD float mm_att_dscore(float p, float dp, float dot, float scale) { return p * (dp - dot) * scale; }
// Offset of head h of row t of batch b in a (B, T, ld) tensor whose heads have size hs.
MM_HD size_t mm_head_offset(int b, int t, int T, int ld, int h, int hs) {
    return ((size_t)b * T + t) * (size_t)ld + (size_t)h * hs;
}

// ---- deterministic embedding backward: the thread block (column c, bucket) owns vocabulary rows
// v with v % nbuckets == bucket, and walks the tokens in order (same summation order as the CPU).
MM_HD int mm_embed_bucket(int token, int nbuckets) { return token % nbuckets; }

#endif
