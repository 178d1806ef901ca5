// The timed backend of minimind/profile.h: one wrapper per op of minimind/backend.h, each
// `begin; inner op; end` (MM_TIMED: device timer marks around the op when the backend has them,
// else the host clock with the device waited for) and the op's work from its arguments (flops, bytes: see
// profile.h; the formulas sit in the wrappers). set_threads, set_precision, ffn_bf16, attention_bf16, alloc,
// free and check pass through untimed.
#include "minimind/profile.h"

#include <time.h>

enum {
    OP_MATMUL_FWD,
    OP_MATMUL_BWD,
    OP_MATMUL_RES,
    OP_EMBED_FWD,
    OP_EMBED_BWD,
    OP_RMSNORM_FWD,
    OP_RMSNORM_BWD,
    OP_ROPE_FWD,
    OP_ROPE_BWD,
    OP_ATT_FWD,
    OP_ATT_BWD,
    OP_SWIGLU_FWD,
    OP_SWIGLU_BWD,
    OP_CE_FWD,
    OP_CE_BWD,
    OP_ADAMW,
    OP_GRADNORM,
    OP_SCALE,
    OP_TOPK,
    OP_TOPK_BWD,
    OP_WEIGHTS_FWD,
    OP_WEIGHTS_BWD,
    OP_READ_FWD,
    OP_READ_BWD,
    OP_TO_BF16,
    OP_TO_BF16_ROWS,
    OP_RMSNORM_FWD_BF16,
    OP_RMSNORM_BWD_BF16,
    OP_SWIGLU_FWD_BF16,
    OP_SWIGLU_BWD_BF16,
    OP_MATMUL_FWD_BF16,
    OP_MATMUL_RES_BF16,
    OP_MATMUL_BWD_BF16,
    OP_ROPE_FWD_BF16,
    OP_ROPE_BWD_BF16,
    OP_ATT_FWD_BF16,
    OP_ATT_BWD_BF16,
    OP_CE_FWD_BF16,
    OP_CE_BWD_BF16,
    OP_COPY_ROWS,
    OP_EMA_SUMS,
    OP_COPY_H2D,
    OP_COPY_D2H,
    OP_COPY_D2D,
    OP_ZERO,
    OP_COUNT
};

static mm_profile_op g_ops[OP_COUNT] = {
    {"matmul_forward", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"matmul_backward", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"matmul_forward_residual", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"embedding_forward", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"embedding_backward", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"rmsnorm_forward", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"rmsnorm_backward", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"rope_forward", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"rope_backward", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"attention_forward", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"attention_backward", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"swiglu_forward", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"swiglu_backward", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"crossentropy_forward", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"crossentropy_backward", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"adamw_update", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"gradnorm_clip", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"scale", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"memory_topk", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"memory_topk_backward", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"memory_weights_forward", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"memory_weights_backward", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"memory_read_forward", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"memory_read_backward", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"to_bf16", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"to_bf16_rows", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"rmsnorm_forward_bf16", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"rmsnorm_backward_bf16", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"swiglu_forward_bf16", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"swiglu_backward_bf16", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"matmul_forward_bf16", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"matmul_forward_residual_bf16", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"matmul_backward_bf16", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"rope_forward_bf16", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"rope_backward_bf16", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"attention_forward_bf16", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"attention_backward_bf16", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"crossentropy_forward_bf16", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"crossentropy_backward_bf16", MM_RATE_PRODUCTS, 0, 0, 0, 0},
    {"copy_rows", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"memory_ema_accumulate", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"copy_h2d", MM_RATE_HOST, 0, 0, 0, 0},
    {"copy_d2h", MM_RATE_HOST, 0, 0, 0, 0},
    {"copy_d2d", MM_RATE_VECTOR, 0, 0, 0, 0},
    {"zero", MM_RATE_VECTOR, 0, 0, 0, 0},
};
static mm_profile_product g_products[MM_PROFILE_PRODUCTS];
static int g_nproducts;
static const mm_backend *g_in;
static mm_backend g_timed;

// Host clock: the op's start (each op waits for the device before and after).
static double g_t0;
// Device clock (the backend's timer ops): ops whose marks 2i, 2i + 1 are not read yet (the op and
// its product shape, -1 for none).
static struct {
    int op, product;
} g_pending[MM_TIMER_SLOTS / 2];
static int g_npending;
static int g_timer_failed;  // a read of the marks failed (the message is set): reported by the next flush

static double mm_prof_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
// Waits for the device (a failure stays recorded for the caller's own check).
static void mm_prof_sync(void) {
    if (g_in->check) g_in->check();
}

static void mm_prof_add_seconds(int op, int product, double s) {
    g_ops[op].seconds += s;
    if (product >= 0) g_products[product].op.seconds += s;
}

int mm_profile_flush(void) {
    for (int i = 0; i < g_npending; i++) {
        const double ms = g_in->timer_elapsed_ms(2 * i, 2 * i + 1);
        if (ms < 0)
            g_timer_failed = 1;
        else
            mm_prof_add_seconds(g_pending[i].op, g_pending[i].product, 1e-3 * ms);
    }
    g_npending = 0;
    const int rc = g_timer_failed ? -1 : 0;
    g_timer_failed = 0;
    return rc;
}

// The marks read in the middle of the steps (the slots are full); a failure waits for the next flush.
static void mm_prof_flush_full(void) {
    const int failed = mm_profile_flush() != 0;
    g_timer_failed = g_timer_failed || failed;
}

static void mm_prof_begin(void) {
    if (!g_in->timer_mark) {
        mm_prof_sync();
        g_t0 = mm_prof_now();
        return;
    }
    if (g_npending == MM_TIMER_SLOTS / 2) mm_prof_flush_full();  // waits once per 1024 ops
    g_in->timer_mark(2 * g_npending);
}
static void mm_prof_count(mm_profile_op *o, double flops, double bytes) {
    o->calls++;
    o->flops += flops;
    o->bytes += bytes;
}
// product: the call's entry in g_products, or -1.
static void mm_prof_end(int op, int product, double flops, double bytes) {
    if (g_in->timer_mark) {
        g_in->timer_mark(2 * g_npending + 1);
        g_pending[g_npending].op = op;
        g_pending[g_npending++].product = product;
    } else {
        mm_prof_sync();
        mm_prof_add_seconds(op, product, mm_prof_now() - g_t0);
    }
    mm_prof_count(&g_ops[op], flops, bytes);
    if (product >= 0) mm_prof_count(&g_products[product].op, flops, bytes);
}
// op: the table index; flops, bytes: the call's work (profile.h); call: the inner op.
#define MM_TIMED(op, flops, bytes, call) MM_TIMED_PRODUCT(op, -1, flops, bytes, call)
// The same for a linear layer's product: product = mm_prof_product(...), its shape's entry.
#define MM_TIMED_PRODUCT(op, product, flops, bytes, call) \
    do {                                                  \
        const int mm_prod_ = (product);                   \
        mm_prof_begin();                                  \
        call;                                             \
        mm_prof_end(op, mm_prod_, (flops), (bytes));      \
    } while (0)

// The entry of a product's shape (added at its first call), or -1 when the table is full.
static int mm_prof_product(int op, int M, int K, int N, int dinp) {
    for (int i = 0; i < g_nproducts; i++) {
        const mm_profile_product *p = &g_products[i];
        if (p->op.name == g_ops[op].name && p->M == M && p->K == K && p->N == N && p->dinp == dinp) return i;
    }
    if (g_nproducts == MM_PROFILE_PRODUCTS) return -1;
    mm_profile_product *p = &g_products[g_nproducts];
    *p = (mm_profile_product){{g_ops[op].name, g_ops[op].rate, 0, 0, 0, 0}, M, K, N, dinp};
    return g_nproducts++;
}
#define F4 4.0  // bytes of an fp32 (and of an int32 index)
#define B2 2.0  // bytes of a bf16

// Query-key pairs a causal attention computes: query i (of Tq) sits at Tk-Tq+i and sees keys 0..Tk-Tq+i.
static double mm_prof_causal_pairs(int B, int Tq, int Tk, int H) {
    return (double)B * H * ((double)Tq * (Tk - Tq) + (double)Tq * (Tq + 1) / 2.0);
}
// Floats of the attention state (att; datt the same) for this shape, as the model allocates them.
static double mm_prof_att_state(int B, int Tq, int Tk, int H, int hs) {
    return g_in->attention_state_floats ? (double)g_in->attention_state_floats(B, Tq, Tk, H, hs)
                                        : (double)B * H * Tq * Tk;
}
// Embedding rows a read-out touches: every candidate's tokens, at most the vocabulary.
static double mm_prof_rows_read(int N, int K, int LK, int V) {
    const double rows = (double)N * K * LK;
    return rows < V ? rows : (double)V;
}

static void t_matmul_forward(float *out, const float *inp, const float *w, int M, int K, int N, int acc) {
    MM_TIMED_PRODUCT(OP_MATMUL_FWD, mm_prof_product(OP_MATMUL_FWD, M, K, N, 0), 2.0 * M * K * N, F4 * ((double)M * K + (double)N * K + (acc ? 2.0 : 1.0) * M * N),
             g_in->matmul_forward(out, inp, w, M, K, N, acc));
}
static void t_matmul_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int M,
                              int K, int N, int acc) {
    MM_TIMED_PRODUCT(OP_MATMUL_BWD, mm_prof_product(OP_MATMUL_BWD, M, K, N, dinp != NULL),
                     (dinp ? 4.0 : 2.0) * M * K * N,
             F4 * ((double)M * N + (double)M * K + 2.0 * N * K +
                   (dinp ? (double)N * K + (acc ? 2.0 : 1.0) * M * K : 0.0)),
             g_in->matmul_backward(dinp, dw, dout, inp, w, M, K, N, acc));
}
static void t_matmul_forward_residual(float *out, const float *res, const float *inp, const float *w, int M,
                                      int K, int N) {
    MM_TIMED_PRODUCT(OP_MATMUL_RES, mm_prof_product(OP_MATMUL_RES, M, K, N, 0), 2.0 * M * K * N, F4 * ((double)M * K + (double)N * K + 2.0 * M * N),
             g_in->matmul_forward_residual(out, res, inp, w, M, K, N));
}
static void t_embedding_forward(float *out, const int32_t *tokens, const float *wte, int N, int C) {
    MM_TIMED(OP_EMBED_FWD, 0.0, F4 * N * (1.0 + 2.0 * C), g_in->embedding_forward(out, tokens, wte, N, C));
}
static void t_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int N, int C) {
    MM_TIMED(OP_EMBED_BWD, (double)N * C, F4 * N * (1.0 + 3.0 * C),
             g_in->embedding_backward(dwte, dout, tokens, N, C));
}
static void t_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps) {
    MM_TIMED(OP_RMSNORM_FWD, 4.0 * N * C, F4 * (2.0 * N * C + C + N),
             g_in->rmsnorm_forward(out, rstd, inp, w, N, C, eps));
}
static void t_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                               const float *rstd, int N, int C) {
    MM_TIMED(OP_RMSNORM_BWD, 8.0 * N * C, F4 * (4.0 * N * C + 3.0 * C + N),
             g_in->rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C));
}
static void t_rope_forward(float *x, int ld, const float *cs, const float *sn, int B, int T, int NH, int hs, int p0) {
    MM_TIMED(OP_ROPE_FWD, 3.0 * B * T * NH * hs, F4 * (2.0 * B * T * NH * hs + (double)T * hs),
             g_in->rope_forward(x, ld, cs, sn, B, T, NH, hs, p0));
}
static void t_rope_backward(float *dx, int ld, const float *cs, const float *sn, int B, int T, int NH, int hs,
                            int p0) {
    MM_TIMED(OP_ROPE_BWD, 3.0 * B * T * NH * hs, F4 * (2.0 * B * T * NH * hs + (double)T * hs),
             g_in->rope_backward(dx, ld, cs, sn, B, T, NH, hs, p0));
}
static void t_attention_forward(float *out, float *att, const float *q, int ldq, const float *k, const float *v,
                                int ldkv, int B, int Tq, int Tk, int H, int KV, int hs) {
    MM_TIMED(OP_ATT_FWD, 4.0 * hs * mm_prof_causal_pairs(B, Tq, Tk, H),
             F4 * (2.0 * B * Tq * H * hs + 2.0 * B * Tk * KV * hs + mm_prof_att_state(B, Tq, Tk, H, hs)),
             g_in->attention_forward(out, att, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs));
}
static void t_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                                 const float *q, int ldq, const float *k, const float *v, int ldkv, int B, int Tq,
                                 int Tk, int H, int KV, int hs) {
    MM_TIMED(
        OP_ATT_BWD, 8.0 * hs * mm_prof_causal_pairs(B, Tq, Tk, H),
        F4 * (3.0 * B * Tq * H * hs + 4.0 * B * Tk * KV * hs + 2.0 * mm_prof_att_state(B, Tq, Tk, H, hs)),
        g_in->attention_backward(dq, dk, dv, datt, dout, att, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs));
}
static void t_swiglu_forward(float *g, const float *h13, int N, int F) {
    MM_TIMED(OP_SWIGLU_FWD, 5.0 * N * F, F4 * 3.0 * N * F, g_in->swiglu_forward(g, h13, N, F));
}
static void t_swiglu_backward(float *dh13, const float *dg, const float *h13, int N, int F) {
    MM_TIMED(OP_SWIGLU_BWD, 10.0 * N * F, F4 * 5.0 * N * F, g_in->swiglu_backward(dh13, dg, h13, N, F));
}
static float t_crossentropy_forward(float *logits, float *lse, const float *x, const float *wte,
                                    const int32_t *targets, const float *mask, int N, int C, int V) {
    float loss = 0.0f;
    MM_TIMED(OP_CE_FWD, 2.0 * N * C * V,
             F4 * ((double)N * C + (double)V * C + (double)N * V + (mask ? 3.0 : 2.0) * N),
             loss = g_in->crossentropy_forward(logits, lse, x, wte, targets, mask, N, C, V));
    return loss;
}
static void t_crossentropy_backward(float *dx, float *dwte, float *logits, const float *lse, const float *x,
                                    const float *wte, const int32_t *targets, const float *mask, float dloss, int N,
                                    int C, int V) {
    MM_TIMED(OP_CE_BWD, 4.0 * N * C * V,
             F4 * (2.0 * N * V + 2.0 * N * C + 3.0 * V * C + (mask ? 3.0 : 2.0) * N),
             g_in->crossentropy_backward(dx, dwte, logits, lse, x, wte, targets, mask, dloss, N, C, V));
}
static void t_adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1, float b2,
                           float eps, float wd, long step) {
    MM_TIMED(OP_ADAMW, 15.0 * (double)n, F4 * 7.0 * (double)n,
             g_in->adamw_update(p, g, m, v, n, lr, b1, b2, eps, wd, step));
}
static float t_gradnorm_clip(float *g, size_t n, float max_norm) {
    float norm = 0.0f;
    MM_TIMED(OP_GRADNORM, 2.0 * (double)n, F4 * (double)n, norm = g_in->gradnorm_clip(g, n, max_norm));
    return norm;
}
static void t_scale(float *x, size_t n, float s) {
    MM_TIMED(OP_SCALE, (double)n, F4 * 2.0 * (double)n, g_in->scale(x, n, s));
}
static void t_memory_topk(int32_t *idx, float *score, const float *q, const float *keys, int N, int D, int S, int K,
                          float *scratch) {
    MM_TIMED(OP_TOPK, 2.0 * N * D * S, F4 * ((double)N * D + (double)S * D + 2.0 * N * K),
             g_in->memory_topk(idx, score, q, keys, N, D, S, K, scratch));
}
static void t_memory_topk_backward(float *dq, float *dkeys, const float *dscore, const int32_t *idx, const float *q,
                                   const float *keys, int N, int D, int S, int K) {
    MM_TIMED(OP_TOPK_BWD, 4.0 * N * D * S, F4 * (2.0 * N * K + 2.0 * N * D + 3.0 * S * D),
             g_in->memory_topk_backward(dq, dkeys, dscore, idx, q, keys, N, D, S, K));
}
static void t_memory_weights_forward(float *w, float *ysoft, const float *score, const float *noise, int N, int K,
                                     int hard) {
    MM_TIMED(OP_WEIGHTS_FWD, 5.0 * N * K, F4 * (noise ? 4.0 : 3.0) * N * K,
             g_in->memory_weights_forward(w, ysoft, score, noise, N, K, hard));
}
static void t_memory_weights_backward(float *dscore, const float *dw, const float *ysoft, int N, int K) {
    MM_TIMED(OP_WEIGHTS_BWD, 4.0 * N * K, F4 * 3.0 * N * K,
             g_in->memory_weights_backward(dscore, dw, ysoft, N, K));
}
static void t_memory_read_forward(float *m, const int32_t *idx, const float *w, const uint16_t *bank, int LK,
                                  const float *wte, int N, int K, int C, int V) {
    MM_TIMED(OP_READ_FWD, 2.0 * N * K * LK * C,
             F4 * (2.0 * N * K + (double)N * C + mm_prof_rows_read(N, K, LK, V) * C) + 2.0 * N * K * LK,
             g_in->memory_read_forward(m, idx, w, bank, LK, wte, N, K, C, V));
}
static void t_memory_read_backward(float *dw, float *dwte, const float *dm, const int32_t *idx, const float *w,
                                   const uint16_t *bank, int LK, const float *wte, int N, int K, int C, int V) {
    MM_TIMED(OP_READ_BWD, 4.0 * N * K * LK * C,
             F4 * (3.0 * N * K + (double)N * C + 3.0 * mm_prof_rows_read(N, K, LK, V) * C) + 2.0 * N * K * LK,
             g_in->memory_read_backward(dw, dwte, dm, idx, w, bank, LK, wte, N, K, C, V));
}
static void t_rope_forward_bf16(mm_bf16 *x, int ld, const float *cs, const float *sn, int B, int T, int NH,
                                int hs, int p0) {
    MM_TIMED(OP_ROPE_FWD_BF16, 3.0 * B * T * NH * hs, B2 * 2.0 * B * T * NH * hs + F4 * (double)T * hs,
             g_in->rope_forward_bf16(x, ld, cs, sn, B, T, NH, hs, p0));
}
static void t_rope_backward_bf16(mm_bf16 *dx, int ld, const float *cs, const float *sn, int B, int T, int NH,
                                 int hs, int p0) {
    MM_TIMED(OP_ROPE_BWD_BF16, 3.0 * B * T * NH * hs, B2 * 2.0 * B * T * NH * hs + F4 * (double)T * hs,
             g_in->rope_backward_bf16(dx, ld, cs, sn, B, T, NH, hs, p0));
}
// The bf16 attention's bytes: q, k, v, out (and their gradients) in bf16; of the state only the
// rows' log-sum-exp (B,H,Tq) in fp32, and in the backward D = rowsum(dO o O) written and read.
static void t_attention_forward_bf16(mm_bf16 *out, float *att, const mm_bf16 *q, int ldq, const mm_bf16 *k,
                                     const mm_bf16 *v, int ldkv, int B, int Tq, int Tk, int H, int KV,
                                     int hs) {
    MM_TIMED(OP_ATT_FWD_BF16, 4.0 * hs * mm_prof_causal_pairs(B, Tq, Tk, H),
             B2 * (2.0 * B * Tq * H * hs + 2.0 * B * Tk * KV * hs) + F4 * (double)B * H * Tq,
             g_in->attention_forward_bf16(out, att, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs));
}
static void t_attention_backward_bf16(mm_bf16 *dq, mm_bf16 *dk, mm_bf16 *dv, float *datt, const mm_bf16 *dout,
                                      const mm_bf16 *out, const float *att, const mm_bf16 *q, int ldq,
                                      const mm_bf16 *k, const mm_bf16 *v, int ldkv, int B, int Tq, int Tk,
                                      int H, int KV, int hs) {
    MM_TIMED(OP_ATT_BWD_BF16, 8.0 * hs * mm_prof_causal_pairs(B, Tq, Tk, H),
             B2 * (4.0 * B * Tq * H * hs + 4.0 * B * Tk * KV * hs) + F4 * 3.0 * B * H * Tq,
             g_in->attention_backward_bf16(dq, dk, dv, datt, dout, out, att, q, ldq, k, v, ldkv, B, Tq, Tk, H,
                                           KV, hs));
}
static void t_copy_rows(float *dst, int ldd, const float *src, int lds, int rows, int cols, int acc) {
    MM_TIMED(OP_COPY_ROWS, acc ? (double)rows * cols : 0.0, F4 * (acc ? 3.0 : 2.0) * rows * cols,
             g_in->copy_rows(dst, ldd, src, lds, rows, cols, acc));
}
static void t_memory_ema_accumulate(float *hsum, const int32_t *slot, const int32_t *start, int nseg,
                                    const int32_t *rows, const float *ws, const float *h, int C) {
    MM_TIMED(OP_EMA_SUMS, 0.0, F4 * 2.0 * nseg * C,  // a lower bound: the rows per slot are on the device
             g_in->memory_ema_accumulate(hsum, slot, start, nseg, rows, ws, h, C));
}
static void t_to_bf16(mm_bf16 *dst, const float *src, size_t n) {
    MM_TIMED(OP_TO_BF16, (double)n, (F4 + B2) * (double)n, g_in->to_bf16(dst, src, n));
}
static void t_to_bf16_rows(mm_bf16 *dst, int ldd, const float *src, int lds, int rows, int cols) {
    const double n = (double)rows * cols;
    MM_TIMED(OP_TO_BF16_ROWS, n, (F4 + B2) * n, g_in->to_bf16_rows(dst, ldd, src, lds, rows, cols));
}
static void t_rmsnorm_forward_bf16(mm_bf16 *out, float *rstd, const float *inp, const float *w, int N, int C,
                                   float eps) {
    MM_TIMED(OP_RMSNORM_FWD_BF16, 4.0 * N * C, (F4 + B2) * N * C + F4 * ((double)C + N),
             g_in->rmsnorm_forward_bf16(out, rstd, inp, w, N, C, eps));
}
static void t_rmsnorm_backward_bf16(float *dinp, mm_bf16 *dinp16, float *dw, const void *dout, mm_storage dt,
                                    const float *inp, const float *w, const float *rstd, int N, int C) {
    MM_TIMED(OP_RMSNORM_BWD_BF16, 8.0 * N * C,
             (dt == MM_STORE_BF16 ? B2 : F4) * N * C + F4 * (3.0 * N * C + 3.0 * C + N) +
                 (dinp16 ? B2 * N * C : 0.0),
             g_in->rmsnorm_backward_bf16(dinp, dinp16, dw, dout, dt, inp, w, rstd, N, C));
}
static void t_swiglu_forward_bf16(mm_bf16 *g, const mm_bf16 *h13, int N, int F) {
    MM_TIMED(OP_SWIGLU_FWD_BF16, 5.0 * N * F, B2 * 3.0 * N * F, g_in->swiglu_forward_bf16(g, h13, N, F));
}
static void t_swiglu_backward_bf16(mm_bf16 *dh13, const mm_bf16 *dg, const mm_bf16 *h13, int N, int F) {
    MM_TIMED(OP_SWIGLU_BWD_BF16, 10.0 * N * F, B2 * 5.0 * N * F, g_in->swiglu_backward_bf16(dh13, dg, h13, N, F));
}
static void t_matmul_forward_bf16(mm_bf16 *out, const mm_bf16 *inp, const mm_bf16 *w, int M, int K, int N) {
    MM_TIMED_PRODUCT(OP_MATMUL_FWD_BF16, mm_prof_product(OP_MATMUL_FWD_BF16, M, K, N, 0), 2.0 * M * K * N,
                     B2 * ((double)M * K + (double)N * K + (double)M * N),
                     g_in->matmul_forward_bf16(out, inp, w, M, K, N));
}
static void t_matmul_forward_residual_bf16(float *out, const float *res, const mm_bf16 *inp, const mm_bf16 *w,
                                           int M, int K, int N) {
    MM_TIMED_PRODUCT(OP_MATMUL_RES_BF16, mm_prof_product(OP_MATMUL_RES_BF16, M, K, N, 0), 2.0 * M * K * N,
                     B2 * ((double)M * K + (double)N * K) + F4 * 2.0 * M * N,
                     g_in->matmul_forward_residual_bf16(out, res, inp, w, M, K, N));
}
static void t_matmul_backward_bf16(void *dinp, mm_storage dinp_type, float *dw, const mm_bf16 *dout,
                                   const mm_bf16 *inp, const mm_bf16 *w, int M, int K, int N) {
    MM_TIMED_PRODUCT(OP_MATMUL_BWD_BF16, mm_prof_product(OP_MATMUL_BWD_BF16, M, K, N, 1), 4.0 * M * K * N,
                     B2 * ((double)M * N + (double)M * K + (double)N * K) + F4 * 2.0 * N * K +
                         (dinp_type == MM_STORE_BF16 ? B2 : F4) * M * K,
                     g_in->matmul_backward_bf16(dinp, dinp_type, dw, dout, inp, w, M, K, N));
}
static void t_copy_h2d(void *dst, const void *src, size_t bytes) {
    MM_TIMED(OP_COPY_H2D, 0.0, (double)bytes, g_in->copy_h2d(dst, src, bytes));
}
static void t_copy_d2h(void *dst, const void *src, size_t bytes) {
    MM_TIMED(OP_COPY_D2H, 0.0, (double)bytes, g_in->copy_d2h(dst, src, bytes));
}
static void t_copy_d2d(void *dst, const void *src, size_t bytes) {
    MM_TIMED(OP_COPY_D2D, 0.0, 2.0 * (double)bytes, g_in->copy_d2d(dst, src, bytes));
}
static void t_zero(void *p, size_t bytes) { MM_TIMED(OP_ZERO, 0.0, (double)bytes, g_in->zero(p, bytes)); }

// The head in bf16: x, wte, the logits and dlogits 2 bytes a value; dx, dwte fp32.
static float t_crossentropy_forward_bf16(mm_bf16 *logits, float *lse, const mm_bf16 *x, const mm_bf16 *wte,
                                         const int32_t *targets, const float *mask, int N, int C, int V) {
    float loss = 0.0f;
    MM_TIMED(OP_CE_FWD_BF16, 2.0 * N * C * V,
             B2 * ((double)N * C + (double)V * C + (double)N * V) + F4 * (mask ? 3.0 : 2.0) * N,
             loss = g_in->crossentropy_forward_bf16(logits, lse, x, wte, targets, mask, N, C, V));
    return loss;
}
static void t_crossentropy_backward_bf16(float *dx, float *dwte, mm_bf16 *logits, const float *lse,
                                         const mm_bf16 *x, const mm_bf16 *wte, const int32_t *targets,
                                         const float *mask, float dloss, int N, int C, int V) {
    MM_TIMED(OP_CE_BWD_BF16, 4.0 * N * C * V,
             B2 * (2.0 * N * V + (double)N * C + (double)V * C) + F4 * ((double)N * C + 2.0 * V * C) +
                 F4 * (mask ? 3.0 : 2.0) * N,
             g_in->crossentropy_backward_bf16(dx, dwte, logits, lse, x, wte, targets, mask, dloss, N, C, V));
}

const mm_backend *mm_backend_profiled(const mm_backend *inner) {
    g_in = inner;
    g_timed = *inner;  // name, memory model, set_threads, set_precision, alloc, free, check
#define MM_WRAP(field, fn) g_timed.field = inner->field ? fn : NULL  // an op the backend lacks stays absent
    MM_WRAP(matmul_forward, t_matmul_forward);
    MM_WRAP(matmul_backward, t_matmul_backward);
    MM_WRAP(matmul_forward_residual, t_matmul_forward_residual);
    MM_WRAP(embedding_forward, t_embedding_forward);
    MM_WRAP(embedding_backward, t_embedding_backward);
    MM_WRAP(rmsnorm_forward, t_rmsnorm_forward);
    MM_WRAP(rmsnorm_backward, t_rmsnorm_backward);
    MM_WRAP(rope_forward, t_rope_forward);
    MM_WRAP(rope_backward, t_rope_backward);
    MM_WRAP(attention_forward, t_attention_forward);
    MM_WRAP(attention_backward, t_attention_backward);
    MM_WRAP(swiglu_forward, t_swiglu_forward);
    MM_WRAP(swiglu_backward, t_swiglu_backward);
    MM_WRAP(crossentropy_forward, t_crossentropy_forward);
    MM_WRAP(crossentropy_backward, t_crossentropy_backward);
    MM_WRAP(adamw_update, t_adamw_update);
    MM_WRAP(gradnorm_clip, t_gradnorm_clip);
    MM_WRAP(scale, t_scale);
    MM_WRAP(memory_topk, t_memory_topk);
    MM_WRAP(memory_topk_backward, t_memory_topk_backward);
    MM_WRAP(memory_weights_forward, t_memory_weights_forward);
    MM_WRAP(memory_weights_backward, t_memory_weights_backward);
    MM_WRAP(memory_read_forward, t_memory_read_forward);
    MM_WRAP(memory_read_backward, t_memory_read_backward);
    MM_WRAP(to_bf16, t_to_bf16);
    MM_WRAP(to_bf16_rows, t_to_bf16_rows);
    MM_WRAP(rmsnorm_forward_bf16, t_rmsnorm_forward_bf16);
    MM_WRAP(rmsnorm_backward_bf16, t_rmsnorm_backward_bf16);
    MM_WRAP(swiglu_forward_bf16, t_swiglu_forward_bf16);
    MM_WRAP(swiglu_backward_bf16, t_swiglu_backward_bf16);
    MM_WRAP(matmul_forward_bf16, t_matmul_forward_bf16);
    MM_WRAP(matmul_forward_residual_bf16, t_matmul_forward_residual_bf16);
    MM_WRAP(matmul_backward_bf16, t_matmul_backward_bf16);
    MM_WRAP(rope_forward_bf16, t_rope_forward_bf16);
    MM_WRAP(rope_backward_bf16, t_rope_backward_bf16);
    MM_WRAP(attention_forward_bf16, t_attention_forward_bf16);
    MM_WRAP(attention_backward_bf16, t_attention_backward_bf16);
    MM_WRAP(crossentropy_forward_bf16, t_crossentropy_forward_bf16);
    MM_WRAP(crossentropy_backward_bf16, t_crossentropy_backward_bf16);
    MM_WRAP(copy_rows, t_copy_rows);
    MM_WRAP(memory_ema_accumulate, t_memory_ema_accumulate);
    MM_WRAP(copy_h2d, t_copy_h2d);
    MM_WRAP(copy_d2h, t_copy_d2h);
    MM_WRAP(copy_d2d, t_copy_d2d);
    MM_WRAP(zero, t_zero);
#undef MM_WRAP
    mm_profile_reset();
    return &g_timed;
}

const char *mm_profile_clock(void) { return g_in && g_in->timer_mark ? "device" : "host"; }

void mm_profile_reset(void) {
    g_npending = 0, g_timer_failed = 0;
    for (int i = 0; i < OP_COUNT; i++)
        g_ops[i].calls = 0, g_ops[i].seconds = g_ops[i].flops = g_ops[i].bytes = 0.0;
    g_nproducts = 0;
}

const mm_profile_product *mm_profile_products(int *n) {
    *n = g_nproducts;
    return g_products;
}

const mm_profile_op *mm_profile_ops(int *n) {
    *n = OP_COUNT;
    return g_ops;
}
