// Causal GQA attention as strided-batched GEMMs: which cuBLAS calls compute a per-(b, h) product
// for every batch item b and query head h. Host-side planning only (plain C, static inline), so
// engine/src/cuda/attention.cu issues exactly the calls that tests/engine/test_cuda_host.c
// replays with a naive column-major gemm against the CPU attention op.
// Dimension names as minimind/backend.h: B batch, Tq queries, Tk keys, H query heads, KV kv heads
// (query head h reads kv head h / (H/KV)), hs head size, C = H*hs.
//
// Row-major tensors and where their (b, h) block starts (g = h / (H/KV) for the kv tensors):
//   q, dq        (B,Tq,ldq)    b*Tq*ldq   + h*hs      rows of stride ldq
//   k, v, dk, dv (B,Tk,ldkv)   b*Tk*ldkv  + g*hs      rows of stride ldkv
//   out, dout    (B,Tq,C)      b*Tq*C     + h*hs      rows of stride C
//   att, datt    (B,H,Tq,Tk)   b*H*Tq*Tk  + h*Tq*Tk   rows of stride Tk
// cuBLAS is column-major: a row-major (R, cols) block with row stride ld is the column-major
// (cols, R) matrix with leading dimension ld, i.e. its transpose. Per (b, h):
//   S  = scale Q K^T  (Tq,Tk):  S^T  = K Q^T    gemm(T,N, m=Tk, n=Tq, k=hs, A=k,    B=q,    C=att)
//   O  = P V          (Tq,hs):  O^T  = V^T P^T  gemm(N,N, m=hs, n=Tq, k=Tk, A=v,    B=att,  C=out)
//   dP = dO V^T       (Tq,Tk):  dP^T = V dO^T   gemm(T,N, m=Tk, n=Tq, k=hs, A=v,    B=dout, C=datt)
//   dQ = dS K         (Tq,hs):  dQ^T = K^T dS^T gemm(N,N, m=hs, n=Tq, k=Tk, A=k,    B=datt, C=dq)
//   dK = sum dS^T Q   (Tk,hs):  dK^T = Q^T dS   gemm(N,T, m=hs, n=Tk, k=Tq, A=q,    B=datt, C=dk)
//   dV = sum P^T dO   (Tk,hs):  dV^T = dO^T P   gemm(N,T, m=hs, n=Tk, k=Tq, A=dout, B=att,  C=dv)
// The full (Tq,Tk) products are computed; the row kernels mask the entries above the diagonal
// (P and dS are 0 there, so O, dQ, dK, dV only see the visible keys). dK and dV sum over the
// query heads of a group: the group's first head writes (beta 0), the others add (beta 1), in
// head order, on one stream (deterministic).
//
// Two ways to batch (strided batches need one constant stride per operand):
//   MM_ATT_PER_HEAD   one call per query head h, batch over b (B members)            H calls
//   MM_ATT_PER_GROUP  one call per (b, r), r = h % (H/KV), batch over the kv groups g
//                     (member g is head g*(H/KV) + r; KV members)                 B*(H/KV) calls
// The kernels use MM_ATT_PER_HEAD (mm_att_plan_mode): its members are whole (T, hs) blocks of
// different sequences, disjoint in memory. MM_ATT_PER_GROUP's members interleave in one row
// (member stride hs < ldc): disjoint elements but overlapping ranges, which cuBLAS does not
// document for strided batches. It needs fewer calls when B*(H/KV) < H (decoding one sequence),
// so it stays in the plan, replayed on the host like the other mode, for a GPU session to measure
// (mm_att_plan_fewest) before switching to it.
#ifndef MM_CUDA_ATTENTION_PLAN_H
#define MM_CUDA_ATTENTION_PLAN_H

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

// One strided-batched call: member i reads A + a_off + i*sa, B + b_off + i*sb, writes C + c_off + i*sc.
typedef struct mm_gemm_call {
    int ta, tb, m, n, k, lda, ldb, ldc, batch;
    float alpha, beta;
    long long a_off, b_off, c_off, sa, sb, sc;
} mm_gemm_call;

enum { MM_ATT_PER_HEAD, MM_ATT_PER_GROUP };

// The attention shape the products are planned for.
typedef struct mm_att_shape {
    int B, Tq, Tk, H, KV, hs, ldq, ldkv;
} mm_att_shape;

static inline mm_att_operand mm_att_q_operand(const mm_att_shape *s) {
    mm_att_operand o = {(long long)s->Tq * s->ldq, s->hs, 0};
    return o;
}
static inline mm_att_operand mm_att_kv_operand(const mm_att_shape *s) {
    mm_att_operand o = {(long long)s->Tk * s->ldkv, s->hs, 1};
    return o;
}
static inline mm_att_operand mm_att_out_operand(const mm_att_shape *s) {
    mm_att_operand o = {(long long)s->Tq * s->H * s->hs, s->hs, 0};
    return o;
}
static inline mm_att_operand mm_att_att_operand(const mm_att_shape *s) {
    mm_att_operand o = {(long long)s->H * s->Tq * s->Tk, (long long)s->Tq * s->Tk, 0};
    return o;
}

static inline mm_att_product mm_att_make_product(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc,
                                                 float alpha, mm_att_operand a, mm_att_operand b, mm_att_operand c) {
    mm_att_product p;
    p.ta = ta, p.tb = tb, p.m = m, p.n = n, p.k = k, p.lda = lda, p.ldb = ldb, p.ldc = ldc, p.alpha = alpha;
    p.a = a, p.b = b, p.c = c;
    return p;
}

// The six products (see the table above). scale = 1/sqrt(hs).
static inline mm_att_product mm_att_scores_product(const mm_att_shape *s, float scale) {  // att = scale q k^T
    return mm_att_make_product(1, 0, s->Tk, s->Tq, s->hs, s->ldkv, s->ldq, s->Tk, scale, mm_att_kv_operand(s),
                               mm_att_q_operand(s), mm_att_att_operand(s));
}
static inline mm_att_product mm_att_pv_product(const mm_att_shape *s) {  // out = att v
    return mm_att_make_product(0, 0, s->hs, s->Tq, s->Tk, s->ldkv, s->Tk, s->H * s->hs, 1.0f, mm_att_kv_operand(s),
                               mm_att_att_operand(s), mm_att_out_operand(s));
}
static inline mm_att_product mm_att_dp_product(const mm_att_shape *s) {  // datt = dout v^T
    return mm_att_make_product(1, 0, s->Tk, s->Tq, s->hs, s->ldkv, s->H * s->hs, s->Tk, 1.0f, mm_att_kv_operand(s),
                               mm_att_out_operand(s), mm_att_att_operand(s));
}
static inline mm_att_product mm_att_dq_product(const mm_att_shape *s) {  // dq = datt k
    return mm_att_make_product(0, 0, s->hs, s->Tq, s->Tk, s->ldkv, s->Tk, s->ldq, 1.0f, mm_att_kv_operand(s),
                               mm_att_att_operand(s), mm_att_q_operand(s));
}
static inline mm_att_product mm_att_dk_product(const mm_att_shape *s) {  // dk = sum datt^T q
    return mm_att_make_product(0, 1, s->hs, s->Tk, s->Tq, s->ldq, s->Tk, s->ldkv, 1.0f, mm_att_q_operand(s),
                               mm_att_att_operand(s), mm_att_kv_operand(s));
}
static inline mm_att_product mm_att_dv_product(const mm_att_shape *s) {  // dv = sum att^T dout
    return mm_att_make_product(0, 1, s->hs, s->Tk, s->Tq, s->H * s->hs, s->Tk, s->ldkv, 1.0f, mm_att_out_operand(s),
                               mm_att_att_operand(s), mm_att_kv_operand(s));
}

// The batching the kernels use (see the header): per head.
static inline int mm_att_plan_mode(const mm_att_shape *s) {
    (void)s;
    return MM_ATT_PER_HEAD;
}

// The batching with fewer calls (H vs B*(H/KV); per head on a tie).
static inline int mm_att_plan_fewest(const mm_att_shape *s) {
    return s->H <= s->B * (s->H / s->KV) ? MM_ATT_PER_HEAD : MM_ATT_PER_GROUP;
}

static inline int mm_att_plan_ncalls(const mm_att_shape *s, int mode) {
    return mode == MM_ATT_PER_HEAD ? s->H : s->B * (s->H / s->KV);
}

// Offset of the (b, h) block of operand o.
static inline long long mm_att_block_offset(const mm_att_operand *o, const mm_att_shape *s, int b, int h) {
    int x = o->per_kv ? h / (s->H / s->KV) : h;
    return (long long)b * o->batch_stride + (long long)x * o->head_stride;
}

// Stride between the members of one call: consecutive b (per head), or consecutive kv groups g
// (per group: head h + H/KV, kv head g + 1).
static inline long long mm_att_member_stride(const mm_att_operand *o, const mm_att_shape *s, int mode) {
    if (mode == MM_ATT_PER_HEAD) return o->batch_stride;
    return o->per_kv ? o->head_stride : (long long)(s->H / s->KV) * o->head_stride;
}

// Call idx in [0, mm_att_plan_ncalls) of product p: per head idx = h; per group idx = b*(H/KV) + r.
// beta is 1 only where C is a kv tensor and an earlier call of the same group already wrote it.
static inline mm_gemm_call mm_att_plan_call(const mm_att_product *p, const mm_att_shape *s, int mode, int idx) {
    const int rep = s->H / s->KV;
    int b0, h0, first_of_group;
    if (mode == MM_ATT_PER_HEAD) {
        b0 = 0, h0 = idx;
        first_of_group = idx % rep == 0;
    } else {
        b0 = idx / rep, h0 = idx % rep;  // member g = 0 is head r
        first_of_group = h0 == 0;
    }
    mm_gemm_call c;
    c.ta = p->ta, c.tb = p->tb, c.m = p->m, c.n = p->n, c.k = p->k;
    c.lda = p->lda, c.ldb = p->ldb, c.ldc = p->ldc;
    c.batch = mode == MM_ATT_PER_HEAD ? s->B : s->KV;
    c.alpha = p->alpha;
    c.beta = (p->c.per_kv && !first_of_group) ? 1.0f : 0.0f;
    c.a_off = mm_att_block_offset(&p->a, s, b0, h0);
    c.b_off = mm_att_block_offset(&p->b, s, b0, h0);
    c.c_off = mm_att_block_offset(&p->c, s, b0, h0);
    c.sa = mm_att_member_stride(&p->a, s, mode);
    c.sb = mm_att_member_stride(&p->b, s, mode);
    c.sc = mm_att_member_stride(&p->c, s, mode);
    return c;
}

#endif
