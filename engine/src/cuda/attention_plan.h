// Causal GQA attention as batched GEMMs with pointer arrays: each of the six per-(b, h) products
// is ONE cuBLAS call (cublasGemmBatchedEx) over the B*H members, member i = b*H + h. Index
// arithmetic only (MM_HD: host and device), so engine/src/cuda/attention.cu fills the pointer
// arrays with exactly the offsets that tests/engine/test_cuda_host.c replays with a naive
// column-major gemm against the CPU attention op.
// Dimension names as minimind/backend.h: B batch, Tq queries, Tk keys, H query heads, KV kv heads
// (query head h reads kv head g = h / (H/KV)), rep = H/KV, hs head size, C = H*hs.
//
// Row-major tensors and where the (b, h) block of each starts:
//   q, dq        (B,Tq,ldq)    b*Tq*ldq   + h*hs      rows of stride ldq
//   k, v         (B,Tk,ldkv)   b*Tk*ldkv  + g*hs      rows of stride ldkv
//   out, dout    (B,Tq,C)      b*Tq*C     + h*hs      rows of stride C
//   att, datt    (B,H,Tq,Tk)   b*H*Tq*Tk  + h*Tq*Tk   rows of stride Tk
//   dkh, dvh     (B,H,Tk,hs)   b*H*Tk*hs  + h*Tk*hs   rows of stride hs (scratch: one per query head)
// cuBLAS is column-major: a row-major (R, cols) block with row stride ld is the column-major
// (cols, R) matrix with leading dimension ld, i.e. its transpose. Per (b, h):
//   S  = scale Q K^T  (Tq,Tk):  S^T  = K Q^T    gemm(T,N, m=Tk, n=Tq, k=hs, A=k,    B=q,    C=att)
//   O  = P V          (Tq,hs):  O^T  = V^T P^T  gemm(N,N, m=hs, n=Tq, k=Tk, A=v,    B=att,  C=out)
//   dP = dO V^T       (Tq,Tk):  dP^T = V dO^T   gemm(T,N, m=Tk, n=Tq, k=hs, A=v,    B=dout, C=datt)
//   dQ = dS K         (Tq,hs):  dQ^T = K^T dS^T gemm(N,N, m=hs, n=Tq, k=Tk, A=k,    B=datt, C=dq)
//   dKh = dS^T Q      (Tk,hs):  dKh^T = Q^T dS  gemm(N,T, m=hs, n=Tk, k=Tq, A=q,    B=datt, C=dkh)
//   dVh = P^T dO      (Tk,hs):  dVh^T = dO^T P  gemm(N,T, m=hs, n=Tk, k=Tq, A=dout, B=att,  C=dvh)
// then dk (b, j, g) = sum over r < rep of dkh (b, g*rep + r, j), in r order (one kernel; the same
// for dv): deterministic, and every member of every call writes its own elements. With H == KV
// (no sharing) dKh / dVh are written straight into dk / dv instead (no scratch, no sum).
// The full (Tq,Tk) products are computed; the row kernels mask the entries above the diagonal
// (P and dS are 0 there, so O, dQ, dK, dV only see the visible keys).
// Calls per layer and step: 2 products forward, 4 backward (was one call per query head and
// product: 6 H before), plus one small kernel per direction that fills the pointer arrays.
// (bf16 / fp16 normally take attention_flash.cu instead, which writes its dK, dV per query head
// with the same operand, mm_att_dkv_operand, and the same group sum — for the attention block in
// bf16 from a bf16 scratch into bf16 dk, dv.)
#ifndef MM_CUDA_ATTENTION_PLAN_H
#define MM_CUDA_ATTENTION_PLAN_H

#include "ops_math.h"

// The attention shape the products are planned for.
typedef struct mm_att_shape {
    int B, Tq, Tk, H, KV, hs, ldq, ldkv;
} mm_att_shape;

// Where the (b, h) block of a tensor starts: b*batch_stride + x*head_stride, x = h, or the kv
// head h / (H/KV) when per_kv.
typedef struct mm_att_operand {
    long long batch_stride, head_stride;
    int per_kv;
} mm_att_operand;

// One product per (b, h), in cuBLAS terms (ta/tb: 0 = N, 1 = T), with its three operands.
typedef struct mm_att_product {
    int ta, tb, m, n, k, lda, ldb, ldc;
    float alpha;
    mm_att_operand a, b, c;
} mm_att_product;

MM_HD int mm_att_members(const mm_att_shape *s) { return s->B * s->H; }

// 1 when the key/value gradients are written per kv head directly (H == KV), 0 when they go
// through the per-query-head scratch and the group sum.
MM_HD int mm_att_dkv_direct(const mm_att_shape *s) { return s->H == s->KV; }

// Offset of member i's (b = i / H, h = i % H) block of operand o.
MM_HD long long mm_att_member_offset(const mm_att_operand *o, const mm_att_shape *s, int i) {
    const int b = i / s->H, h = i % s->H;
    const int x = o->per_kv ? h / (s->H / s->KV) : h;
    return (long long)b * o->batch_stride + (long long)x * o->head_stride;
}

MM_HD mm_att_operand mm_att_make_operand(long long batch_stride, long long head_stride, int per_kv) {
    mm_att_operand o;
    o.batch_stride = batch_stride, o.head_stride = head_stride, o.per_kv = per_kv;
    return o;
}
MM_HD mm_att_operand mm_att_q_operand(const mm_att_shape *s) {
    return mm_att_make_operand((long long)s->Tq * s->ldq, s->hs, 0);
}
MM_HD mm_att_operand mm_att_kv_operand(const mm_att_shape *s) {
    return mm_att_make_operand((long long)s->Tk * s->ldkv, s->hs, 1);
}
MM_HD mm_att_operand mm_att_out_operand(const mm_att_shape *s) {
    return mm_att_make_operand((long long)s->Tq * s->H * s->hs, s->hs, 0);
}
MM_HD mm_att_operand mm_att_att_operand(const mm_att_shape *s) {
    return mm_att_make_operand((long long)s->H * s->Tq * s->Tk, (long long)s->Tq * s->Tk, 0);
}
// dK / dV per member: into the kv tensor itself (direct), or the per-query-head scratch (B,H,Tk,hs).
MM_HD mm_att_operand mm_att_dkv_operand(const mm_att_shape *s) {
    if (mm_att_dkv_direct(s)) return mm_att_kv_operand(s);
    return mm_att_make_operand((long long)s->H * s->Tk * s->hs, (long long)s->Tk * s->hs, 0);
}
MM_HD int mm_att_dkv_ld(const mm_att_shape *s) { return mm_att_dkv_direct(s) ? s->ldkv : s->hs; }
// Floats of one of the two scratch tensors dkh, dvh (0 when direct).
MM_HD size_t mm_att_dkv_scratch_len(const mm_att_shape *s) {
    return mm_att_dkv_direct(s) ? 0 : (size_t)s->B * s->H * s->Tk * s->hs;
}

MM_HD mm_att_product mm_att_make_product(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc, float alpha,
                                         mm_att_operand a, mm_att_operand b, mm_att_operand c) {
    mm_att_product p;
    p.ta = ta, p.tb = tb, p.m = m, p.n = n, p.k = k, p.lda = lda, p.ldb = ldb, p.ldc = ldc, p.alpha = alpha;
    p.a = a, p.b = b, p.c = c;
    return p;
}

// The six products (see the table above). scale = 1/sqrt(hs).
MM_HD mm_att_product mm_att_scores_product(const mm_att_shape *s, float scale) {  // att = scale q k^T
    return mm_att_make_product(1, 0, s->Tk, s->Tq, s->hs, s->ldkv, s->ldq, s->Tk, scale, mm_att_kv_operand(s),
                               mm_att_q_operand(s), mm_att_att_operand(s));
}
MM_HD mm_att_product mm_att_pv_product(const mm_att_shape *s) {  // out = att v
    return mm_att_make_product(0, 0, s->hs, s->Tq, s->Tk, s->ldkv, s->Tk, s->H * s->hs, 1.0f, mm_att_kv_operand(s),
                               mm_att_att_operand(s), mm_att_out_operand(s));
}
MM_HD mm_att_product mm_att_dp_product(const mm_att_shape *s) {  // datt = dout v^T
    return mm_att_make_product(1, 0, s->Tk, s->Tq, s->hs, s->ldkv, s->H * s->hs, s->Tk, 1.0f, mm_att_kv_operand(s),
                               mm_att_out_operand(s), mm_att_att_operand(s));
}
MM_HD mm_att_product mm_att_dq_product(const mm_att_shape *s) {  // dq = datt k
    return mm_att_make_product(0, 0, s->hs, s->Tq, s->Tk, s->ldkv, s->Tk, s->ldq, 1.0f, mm_att_kv_operand(s),
                               mm_att_att_operand(s), mm_att_q_operand(s));
}
MM_HD mm_att_product mm_att_dk_product(const mm_att_shape *s) {  // dkh = datt^T q
    return mm_att_make_product(0, 1, s->hs, s->Tk, s->Tq, s->ldq, s->Tk, mm_att_dkv_ld(s), 1.0f, mm_att_q_operand(s),
                               mm_att_att_operand(s), mm_att_dkv_operand(s));
}
MM_HD mm_att_product mm_att_dv_product(const mm_att_shape *s) {  // dvh = att^T dout
    return mm_att_make_product(0, 1, s->hs, s->Tk, s->Tq, s->H * s->hs, s->Tk, mm_att_dkv_ld(s), 1.0f,
                               mm_att_out_operand(s), mm_att_att_operand(s), mm_att_dkv_operand(s));
}

// Element e in [0, B*Tk*KV*hs) of the group sum: dst (b, j, g*hs + d) (rows of stride ldkv) =
// sum over r < rep of src (b, g*rep + r, j, d) (the scratch), in r order. mm_att_group_at returns
// where head g*rep's value is in the scratch (head g*rep + r's: r*Tk*hs further) and sets *at to
// where the sum goes; mm_att_group_value sums a fp32 scratch, mm_att_group_value_bf16 a bf16 one
// (the attention block in bf16: each head's dK, dV rounded as stored, the sum in fp32).
// attention.cu stores the sum as fp32 or bf16.
MM_HD size_t mm_att_group_at(const mm_att_shape *s, long e, size_t *at) {
    const int d = (int)(e % s->hs), g = (int)((e / s->hs) % s->KV);
    const long j = (e / ((long)s->hs * s->KV)) % s->Tk, b = e / ((long)s->hs * s->KV * s->Tk);
    *at = ((size_t)b * s->Tk + j) * s->ldkv + (size_t)g * s->hs + d;
    return (((size_t)b * s->H + (size_t)g * (s->H / s->KV)) * s->Tk + j) * s->hs + d;
}
MM_HD float mm_att_group_value(const float *src, const mm_att_shape *s, long e, size_t *at) {
    const size_t i = mm_att_group_at(s, e, at), head = (size_t)s->Tk * s->hs;
    float acc = 0.0f;
    for (int r = 0; r < s->H / s->KV; r++) acc += src[i + r * head];
    return acc;
}
MM_HD float mm_att_group_value_bf16(const uint16_t *src, const mm_att_shape *s, long e, size_t *at) {
    const size_t i = mm_att_group_at(s, e, at), head = (size_t)s->Tk * s->hs;
    float acc = 0.0f;
    for (int r = 0; r < s->H / s->KV; r++) acc += mm_bf16_float(src[i + r * head]);
    return acc;
}
MM_HD void mm_att_group_sum(float *dst, const float *src, const mm_att_shape *s, long e) {
    size_t at;
    const float v = mm_att_group_value(src, s, e, &at);
    dst[at] = v;
}

#endif
