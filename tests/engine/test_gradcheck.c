// Finite-difference checks of every CPU backend op's backward, one op at a time, plus a whole-model
// check on a tiny config; forward values of rope, attention and cross-entropy are also compared
// with naive double-precision loops. Each op is treated as a function of its inputs; the scalar
// L = sum(out * R) (R random) is evaluated in double from the fp32 forward, and central differences
// dL/dx_i = (L(x+h) - L(x-h)) / 2h are compared with the analytic backward fed dout = R.
// Error metric per tensor: max_i |fd_i - an_i| / max_i |an_i|.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/backend.h"
#include "minimind/error.h"
#include "minimind/model.h"
#include "test_rand.h"
#include "test_util.h"

static uint64_t rng_state = 88172645463325252ull;
static double urand(void) { return mm_test_urand(&rng_state); }  // [0, 1)
static void fill_rand(float *p, size_t n, float scale) { mm_test_fill_rand(&rng_state, p, n, scale); }
static float *falloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    cr_assert(p != NULL);
    return p;
}
static double dot_d(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

// Compares analytic gradients of x (n values) with central differences at up to `samples`
// indices (all when samples >= n). Returns the relative error.
static double fd_check(const char *what, float *x, const float *an, size_t n, size_t samples, loss_fn f, void *ctx,
                       float h, double tol) {
    double amax = 0.0, emax = 0.0;
    for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs(an[i]));
    size_t step = samples >= n ? 1 : n / samples;
    for (size_t i = 0; i < n; i += step) {
        float orig = x[i];
        float xp = orig + h, xm = orig - h;
        x[i] = xp;
        double lp = f(ctx);
        x[i] = xm;
        double lm = f(ctx);
        x[i] = orig;
        double fd = (lp - lm) / ((double)xp - (double)xm);
        emax = fmax(emax, fabs(fd - an[i]));
    }
    double rel = emax / fmax(amax, 1e-30);
    cr_log_info("gradcheck %-28s rel err %.3e (max |grad| %.3e)", what, rel, amax);
    cr_expect(amax > 0.0, "%s: analytic gradient is all zero", what);
    cr_expect(rel <= tol, "%s: finite-difference rel err %.3e > %.1e", what, rel, tol);
    return rel;
}

static const mm_backend *be(void) { return mm_backend_cpu(); }

// ---------------------------------------------------------------- matmul
typedef struct {
    int M, K, N;
    float *inp, *w, *out, *R;
} mm_ctx;
static double matmul_loss(void *c) {
    mm_ctx *x = c;
    be()->matmul_forward(x->out, x->inp, x->w, x->M, x->K, x->N, 0);
    return dot_d(x->out, x->R, (size_t)x->M * x->N);
}
Test(gradcheck, matmul) {
    mm_ctx c = {.M = 7, .K = 13, .N = 5};
    c.inp = falloc(7 * 13), c.w = falloc(5 * 13), c.out = falloc(7 * 5), c.R = falloc(7 * 5);
    fill_rand(c.inp, 7 * 13, 1), fill_rand(c.w, 5 * 13, 1), fill_rand(c.R, 7 * 5, 1);
    float *dinp = falloc(7 * 13), *dw = falloc(5 * 13);
    // accumulate semantics: dinp starts at 1 with accumulate=1, dw always accumulates.
    for (int i = 0; i < 7 * 13; i++) dinp[i] = 1.0f;
    for (int i = 0; i < 5 * 13; i++) dw[i] = 1.0f;
    be()->matmul_backward(dinp, dw, c.R, c.inp, c.w, 7, 13, 5, 1);
    for (int i = 0; i < 7 * 13; i++) dinp[i] -= 1.0f;
    for (int i = 0; i < 5 * 13; i++) dw[i] -= 1.0f;
    fd_check("matmul dinp", c.inp, dinp, 7 * 13, 1000, matmul_loss, &c, 1e-2f, 1e-3);
    fd_check("matmul dw", c.w, dw, 5 * 13, 1000, matmul_loss, &c, 1e-2f, 1e-3);
    // accumulate=0 overwrites dinp
    float *d2 = falloc(7 * 13);
    for (int i = 0; i < 7 * 13; i++) d2[i] = 123.0f;
    be()->matmul_backward(d2, dw, c.R, c.inp, c.w, 7, 13, 5, 0);
    for (int i = 0; i < 7 * 13; i++) cr_assert_float_eq(d2[i], dinp[i], 1e-5);
    free(c.inp), free(c.w), free(c.out), free(c.R), free(dinp), free(dw), free(d2);
}

// ---------------------------------------------------------------- embedding
typedef struct {
    int N, C;
    int32_t *tok;
    float *wte, *out, *R;
} emb_ctx;
static double emb_loss(void *c) {
    emb_ctx *x = c;
    be()->embedding_forward(x->out, x->tok, x->wte, x->N, x->C);
    return dot_d(x->out, x->R, (size_t)x->N * x->C);
}
Test(gradcheck, embedding) {
    int32_t tok[9] = {3, 0, 3, 7, 1, 3, 0, 5, 7};  // repeats must accumulate
    emb_ctx c = {.N = 9, .C = 70, .tok = tok};       // C > 64 spans two column blocks
    c.wte = falloc(8 * 70), c.out = falloc(9 * 70), c.R = falloc(9 * 70);
    fill_rand(c.wte, 8 * 70, 1), fill_rand(c.R, 9 * 70, 1);
    float *dwte = falloc(8 * 70);
    be()->embedding_backward(dwte, c.R, tok, 9, 70);
    fd_check("embedding dwte", c.wte, dwte, 8 * 70, 1000, emb_loss, &c, 1e-2f, 1e-3);
    free(c.wte), free(c.out), free(c.R), free(dwte);
}

// ---------------------------------------------------------------- rmsnorm
typedef struct {
    int N, C;
    float *inp, *w, *out, *rstd, *R;
} rms_ctx;
static double rms_loss(void *c) {
    rms_ctx *x = c;
    be()->rmsnorm_forward(x->out, x->rstd, x->inp, x->w, x->N, x->C, 1e-5f);
    return dot_d(x->out, x->R, (size_t)x->N * x->C);
}
Test(gradcheck, rmsnorm) {
    enum { N = 6, C = 40 };
    rms_ctx c = {.N = N, .C = C};
    c.inp = falloc(N * C), c.w = falloc(C), c.out = falloc(N * C), c.rstd = falloc(N), c.R = falloc(N * C);
    fill_rand(c.inp, N * C, 2), fill_rand(c.w, C, 1), fill_rand(c.R, N * C, 1);
    rms_loss(&c);
    // forward against the formula in double
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int j = 0; j < C; j++) ss += (double)c.inp[n * C + j] * c.inp[n * C + j];
        double r = 1.0 / sqrt(ss / C + 1e-5);
        for (int j = 0; j < C; j++)
            cr_assert(fabs(c.out[n * C + j] - c.inp[n * C + j] * r * c.w[j]) < 1e-5, "rmsnorm forward");
    }
    float *dinp = falloc(N * C), *dw = falloc(C);
    be()->rmsnorm_backward(dinp, dw, c.R, c.inp, c.w, c.rstd, N, C);
    fd_check("rmsnorm dinp", c.inp, dinp, N * C, 1000, rms_loss, &c, 1e-2f, 2e-3);
    fd_check("rmsnorm dw", c.w, dw, C, 1000, rms_loss, &c, 1e-2f, 2e-3);
    free(c.inp), free(c.w), free(c.out), free(c.rstd), free(c.R), free(dinp), free(dw);
}

// ---------------------------------------------------------------- rope
enum { RB = 2, RT = 5, RNH = 3, RHS = 8, RLD = 30, RPOS = 4, RMAXP = 16 };
typedef struct {
    float *x, *work, *cos, *sin, *R;
} rope_ctx;
static double rope_loss(void *c) {
    rope_ctx *x = c;
    memcpy(x->work, x->x, sizeof(float) * RB * RT * RLD);
    be()->rope_forward(x->work, RLD, x->cos, x->sin, RB, RT, RNH, RHS, RPOS);
    return dot_d(x->work, x->R, (size_t)RB * RT * RLD);
}
Test(gradcheck, rope) {
    rope_ctx c;
    c.x = falloc(RB * RT * RLD), c.work = falloc(RB * RT * RLD), c.R = falloc(RB * RT * RLD);
    c.cos = falloc(RMAXP * RHS / 2), c.sin = falloc(RMAXP * RHS / 2);
    for (int t = 0; t < RMAXP; t++)
        for (int i = 0; i < RHS / 2; i++) {
            double ang = t * pow(1e6, -2.0 * i / RHS);
            c.cos[t * RHS / 2 + i] = (float)cos(ang), c.sin[t * RHS / 2 + i] = (float)sin(ang);
        }
    fill_rand(c.x, RB * RT * RLD, 1), fill_rand(c.R, RB * RT * RLD, 1);
    rope_loss(&c);
    // forward: complex multiply of interleaved pairs at position RPOS + t; columns past NH*hs untouched
    for (int b = 0; b < RB; b++)
        for (int t = 0; t < RT; t++)
            for (int col = 0; col < RLD; col++) {
                size_t o = ((size_t)b * RT + t) * RLD + col;
                double want = c.x[o];
                if (col < RNH * RHS) {
                    int i = (col % RHS) / 2;
                    double ang = (RPOS + t) * pow(1e6, -2.0 * i / RHS);
                    double a = c.x[o - (col % 2)], bb = c.x[o - (col % 2) + 1];
                    want = col % 2 == 0 ? a * cos(ang) - bb * sin(ang) : a * sin(ang) + bb * cos(ang);
                }
                cr_assert(fabs(c.work[o] - want) < 1e-5, "rope forward at b=%d t=%d col=%d: %g vs %g", b, t, col,
                          c.work[o], want);
            }
    float *dx = falloc(RB * RT * RLD);
    memcpy(dx, c.R, sizeof(float) * RB * RT * RLD);
    be()->rope_backward(dx, RLD, c.cos, c.sin, RB, RT, RNH, RHS, RPOS);
    fd_check("rope dx", c.x, dx, RB * RT * RLD, 1000, rope_loss, &c, 1e-2f, 1e-3);
    free(c.x), free(c.work), free(c.R), free(c.cos), free(c.sin), free(dx);
}

// ---------------------------------------------------------------- attention
typedef struct {
    int B, Tq, Tk, H, KV, hs, ldq, ldkv;
    float *q, *k, *v, *out, *att, *R;
} att_ctx;
static double att_loss(void *c) {
    att_ctx *x = c;
    be()->attention_forward(x->out, x->att, x->q, x->ldq, x->k, x->v, x->ldkv, x->B, x->Tq, x->Tk, x->H, x->KV,
                            x->hs);
    return dot_d(x->out, x->R, (size_t)x->B * x->Tq * x->H * x->hs);
}
// Naive causal GQA attention in double.
static void att_naive(const att_ctx *c, double *out) {
    int C = c->H * c->hs, rep = c->H / c->KV, off = c->Tk - c->Tq;
    double *s = malloc(sizeof(double) * c->Tk);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->H; h++)
            for (int i = 0; i < c->Tq; i++) {
                const float *qi = c->q + ((size_t)b * c->Tq + i) * c->ldq + h * c->hs;
                double mx = -1e300, sum = 0;
                for (int j = 0; j <= i + off; j++) {
                    const float *kj = c->k + ((size_t)b * c->Tk + j) * c->ldkv + (h / rep) * c->hs;
                    double d = 0;
                    for (int e = 0; e < c->hs; e++) d += (double)qi[e] * kj[e];
                    s[j] = d / sqrt((double)c->hs);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j <= i + off; j++) sum += (s[j] = exp(s[j] - mx));
                for (int e = 0; e < c->hs; e++) {
                    double o = 0;
                    for (int j = 0; j <= i + off; j++)
                        o += s[j] / sum * c->v[((size_t)b * c->Tk + j) * c->ldkv + (h / rep) * c->hs + e];
                    out[((size_t)b * c->Tq + i) * C + h * c->hs + e] = o;
                }
            }
    free(s);
}
static void attention_case(int B, int Tq, int Tk, int H, int KV, int hs, size_t samples) {
    att_ctx c = {.B = B, .Tq = Tq, .Tk = Tk, .H = H, .KV = KV, .hs = hs};
    int C = H * hs, KVd = KV * hs;
    // q lives in a fused row [q | pad] and k, v in [k | v | pad], as in the model's qkv buffer.
    c.ldq = C + 3;
    c.ldkv = 2 * KVd + 1;
    size_t nq = (size_t)B * Tq * c.ldq, nkv = (size_t)B * Tk * c.ldkv, no = (size_t)B * Tq * C;
    c.q = falloc(nq), c.k = falloc(nkv), c.out = falloc(no), c.R = falloc(no);
    c.v = c.k + KVd;
    c.att = falloc((size_t)B * H * Tq * Tk);
    fill_rand(c.q, nq, 1.5f), fill_rand(c.k, nkv, 1.5f), fill_rand(c.R, no, 1);
    att_loss(&c);
    double *want = malloc(sizeof(double) * no);
    att_naive(&c, want);
    double emax = 0;
    for (size_t i = 0; i < no; i++) emax = fmax(emax, fabs(c.out[i] - want[i]));
    cr_assert(emax < 1e-5, "attention forward vs naive: max abs err %g (B=%d Tq=%d Tk=%d)", emax, B, Tq, Tk);
    float *dq = falloc(nq), *dkv = falloc(nkv), *datt = falloc((size_t)B * H * Tq * Tk);
    be()->attention_backward(dq, dkv, dkv + KVd, datt, c.R, c.att, c.q, c.ldq, c.k, c.v, c.ldkv, B, Tq, Tk, H, KV,
                             hs);
    char name[64];
    snprintf(name, sizeof name, "attention dq T=%d/%d", Tq, Tk);
    fd_check(name, c.q, dq, nq, samples, att_loss, &c, 1e-2f, 3e-3);
    snprintf(name, sizeof name, "attention dk,dv T=%d/%d", Tq, Tk);
    fd_check(name, c.k, dkv, nkv, samples, att_loss, &c, 1e-2f, 3e-3);
    free(c.q), free(c.k), free(c.out), free(c.R), free(c.att), free(want), free(dq), free(dkv), free(datt);
}
Test(gradcheck, attention_gqa) { attention_case(2, 7, 7, 4, 2, 4, 100000); }
Test(gradcheck, attention_cached_queries) { attention_case(1, 3, 8, 4, 1, 4, 100000); }
Test(gradcheck, attention_multiblock) { attention_case(1, 150, 150, 2, 1, 4, 400); }

// ---------------------------------------------------------------- swiglu
typedef struct {
    int N, F;
    float *h13, *g, *R;
} sw_ctx;
static double sw_loss(void *c) {
    sw_ctx *x = c;
    be()->swiglu_forward(x->g, x->h13, x->N, x->F);
    return dot_d(x->g, x->R, (size_t)x->N * x->F);
}
Test(gradcheck, swiglu) {
    enum { N = 5, F = 37 };
    sw_ctx c = {.N = N, .F = F};
    c.h13 = falloc(N * 2 * F), c.g = falloc(N * F), c.R = falloc(N * F);
    fill_rand(c.h13, N * 2 * F, 4), fill_rand(c.R, N * F, 1);
    sw_loss(&c);
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++) {
            double a = c.h13[n * 2 * F + f], b = c.h13[n * 2 * F + F + f];
            cr_assert(fabs(c.g[n * F + f] - a / (1 + exp(-a)) * b) < 1e-5, "swiglu forward");
        }
    float *dh = falloc(N * 2 * F);
    be()->swiglu_backward(dh, c.R, c.h13, N, F);
    fd_check("swiglu dh13", c.h13, dh, N * 2 * F, 1000, sw_loss, &c, 1e-2f, 1e-3);
    free(c.h13), free(c.g), free(c.R), free(dh);
}

// ---------------------------------------------------------------- cross-entropy with the tied head
typedef struct {
    int N, C, V;
    float *x, *wte, *logits, *lse, *mask;
    int32_t *tgt;
} ce_ctx;
static double ce_loss(void *c) {
    ce_ctx *x = c;
    return be()->crossentropy_forward(x->logits, x->lse, x->x, x->wte, x->tgt, x->mask, x->N, x->C, x->V);
}
Test(gradcheck, crossentropy) {
    enum { N = 6, C = 9, V = 11 };
    int32_t tgt[N] = {3, 10, 0, 3, 7, 1};
    float mask[N] = {1, 0, 1, 1, 0, 1};
    ce_ctx c = {.N = N, .C = C, .V = V, .mask = mask, .tgt = tgt};
    c.x = falloc(N * C), c.wte = falloc(V * C), c.logits = falloc(N * V), c.lse = falloc(N);
    fill_rand(c.x, N * C, 1), fill_rand(c.wte, V * C, 1);
    double loss = ce_loss(&c);
    // value: masked mean of -log softmax in double
    double tot = 0;
    for (int n = 0; n < N; n++) {
        double l[V], mx = -1e300, s = 0;
        for (int v = 0; v < V; v++) {
            l[v] = 0;
            for (int j = 0; j < C; j++) l[v] += (double)c.x[n * C + j] * c.wte[v * C + j];
            mx = fmax(mx, l[v]);
        }
        for (int v = 0; v < V; v++) s += exp(l[v] - mx);
        tot += mask[n] * (mx + log(s) - l[tgt[n]]);
    }
    cr_assert(fabs(loss - tot / 4.0) < 1e-5, "cross-entropy value %g vs %g", loss, tot / 4.0);
    float *dx = falloc(N * C), *dwte = falloc(V * C);
    be()->crossentropy_backward(dx, dwte, c.logits, c.lse, c.x, c.wte, tgt, mask, 1.0f, N, C, V);
    // rows with mask 0 get no gradient
    for (int j = 0; j < C; j++) cr_assert_eq(dx[1 * C + j], 0.0f);
    fd_check("crossentropy dx", c.x, dx, N * C, 1000, ce_loss, &c, 1e-2f, 2e-3);
    fd_check("crossentropy dwte", c.wte, dwte, V * C, 1000, ce_loss, &c, 1e-2f, 2e-3);
    // an all-zero mask gives loss 0 and no gradient
    float zero[N] = {0};
    cr_assert_eq(be()->crossentropy_forward(c.logits, c.lse, c.x, c.wte, tgt, zero, N, C, V), 0.0f);
    free(c.x), free(c.wte), free(c.logits), free(c.lse), free(dx), free(dwte);
}

// ---------------------------------------------------------------- whole model
typedef struct {
    mm_model *m;
    int B, T;
    int32_t *X, *Y;
    float *mask, *logits;
} model_ctx;
// The masked mean loss recomputed in double from the model's fp32 logits.
static double model_loss(void *c) {
    model_ctx *x = c;
    cr_assert_eq(mm_model_forward(x->m, x->X, NULL, NULL, x->B, x->T, NULL, x->logits), 0, "%s", mm_error_message());
    int V = x->m->V;
    double tot = 0, ms = 0;
    for (int n = 0; n < x->B * x->T; n++) {
        const float *l = x->logits + (size_t)n * V;
        double mx = -1e300, s = 0;
        for (int v = 0; v < V; v++) mx = fmax(mx, l[v]);
        for (int v = 0; v < V; v++) s += exp(l[v] - mx);
        tot += x->mask[n] * (mx + log(s) - l[x->Y[n]]);
        ms += x->mask[n];
    }
    return tot / ms;
}
Test(gradcheck, whole_model_tiny) {
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    cfg.dim = 16, cfg.n_layers = 2, cfg.n_heads = 4, cfg.n_kv_heads = 2, cfg.vocab_size = 32, cfg.multiple_of = 8;
    cfg.max_seq_len = 16;
    mm_model m;
    cr_assert_eq(mm_model_init(&m, &cfg, NULL, 7), 0, "%s", mm_error_message());
    enum { B = 2, T = 6 };
    int32_t X[B * T], Y[B * T];
    float mask[B * T];
    for (int i = 0; i < B * T; i++) X[i] = (int32_t)(urand() * 32), Y[i] = (int32_t)(urand() * 32), mask[i] = i % 5 != 2;
    // perturb the norm weights away from 1 so their gradients are generic
    for (int i = 0; i < m.n_table; i++)
        if (m.table[i].ndim == 1) fill_rand(m.table[i].data, m.table[i].numel, 1.0f);
    for (int i = 0; i < m.n_table; i++)
        if (m.table[i].ndim == 1)
            for (size_t j = 0; j < m.table[i].numel; j++) m.table[i].data[j] += 1.0f;
    float loss;
    mm_model_zero_grad(&m);
    cr_assert_eq(mm_model_forward(&m, X, Y, mask, B, T, &loss, NULL), 0);
    cr_assert_eq(mm_model_backward(&m, 1.0f), 0);
    model_ctx c = {.m = &m, .B = B, .T = T, .X = X, .Y = Y, .mask = mask, .logits = falloc(B * T * 32)};
    cr_assert(fabs(model_loss(&c) - loss) < 1e-5, "loss %g vs recomputed %g", loss, model_loss(&c));
    float *grads = falloc(m.num_params);
    memcpy(grads, m.grads, sizeof(float) * m.num_params);
    double worst = 0;
    for (int i = 0; i < m.n_table; i++) {
        const mm_param *p = &m.table[i];
        if (p->tied) continue;
        double r = fd_check(p->name, p->data, grads + (p->grad - m.grads), p->numel, 40, model_loss, &c, 1e-2f, 1e-2);
        worst = fmax(worst, r);
    }
    cr_log_info("whole model: worst rel err %.3e", worst);
    free(grads), free(c.logits);
    mm_model_free(&m);
}
