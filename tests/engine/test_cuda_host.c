// The CUDA kernels' per-element math and index arithmetic (engine/src/cuda/ops_math.h, compiled
// here as plain C) checked on the CPU against the CPU backend's kernels. Where a kernel's loop
// structure matters (attention rows / key rows with GQA, the bucketed embedding backward, the
// online log-sum-exp tree of the cross-entropy), the test replays that structure on the host with
// the same helpers and compares with the CPU op; the attention's cuBLAS calls are replayed from
// their plan (attention_plan.h) with a naive gemm. Runs everywhere: no GPU needed.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "cuda/attention_plan.h"
#include "cuda/ops_math.h"
#include "test_util.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(float scale) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)(((double)(rng_state >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0) * scale);
}
static float *frandv(size_t n, float scale) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    cr_assert(p);
    for (size_t i = 0; i < n; i++) p[i] = frand(scale);
    return p;
}
static float *fcopy(const float *a, size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    cr_assert(p);
    memcpy(p, a, n * sizeof(float));
    return p;
}
// max |a-b| / max(1, max |b|)
static double relerr(const float *a, const float *b, size_t n) {
    double e = 0.0, mb = 1.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        e = d > e ? d : e;
        mb = fabs(b[i]) > mb ? fabs(b[i]) : mb;
    }
    return e / mb;
}

Test(cuda_host, rope_pair_index_and_rotation_match_cpu) {
    const int B = 2, T = 5, NH = 3, hs = 8, half = hs / 2, ld = NH * hs + 4, pos0 = 2, maxpos = 16;
    float *cs = frandv((size_t)maxpos * half, 1.0f), *sn = frandv((size_t)maxpos * half, 1.0f);
    float *x = frandv((size_t)B * T * ld, 1.0f), *ref = fcopy(x, (size_t)B * T * ld), *orig = fcopy(x, (size_t)B * T * ld);
    mm_cpu_rope_forward(ref, ld, cs, sn, B, T, NH, hs, pos0);
    long npairs = (long)B * T * NH * half;
    int *seen = calloc((size_t)npairs, sizeof(int));
    for (long e = 0; e < npairs; e++) {  // one CUDA thread per pair
        long bt;
        int h, i;
        mm_rope_pair_index(e, NH, half, &bt, &h, &i);
        cr_assert(bt >= 0 && bt < B * T && h >= 0 && h < NH && i >= 0 && i < half);
        seen[(bt * NH + h) * half + i]++;
        int t = (int)(bt % T);
        float *v = x + (size_t)bt * ld + (size_t)h * hs + 2 * i;
        size_t ti = (size_t)(pos0 + t) * half + i;
        mm_rope_rotate(&v[0], &v[1], cs[ti], sn[ti], 1.0f);
    }
    for (long e = 0; e < npairs; e++) cr_assert_eq(seen[e], 1, "pair %ld visited %d times", e, seen[e]);
    cr_expect_eq(memcmp(x, ref, sizeof(float) * (size_t)B * T * ld), 0, "rope forward differs from the CPU kernel");
    // inverse rotation (backward) as the CPU's
    mm_cpu_rope_backward(ref, ld, cs, sn, B, T, NH, hs, pos0);
    for (long e = 0; e < npairs; e++) {
        long bt;
        int h, i;
        mm_rope_pair_index(e, NH, half, &bt, &h, &i);
        float *v = x + (size_t)bt * ld + (size_t)h * hs + 2 * i;
        size_t ti = (size_t)(pos0 + bt % T) * half + i;
        mm_rope_rotate(&v[0], &v[1], cs[ti], sn[ti], -1.0f);
    }
    cr_expect_eq(memcmp(x, ref, sizeof(float) * (size_t)B * T * ld), 0, "rope backward differs from the CPU kernel");
    free(cs), free(sn), free(x), free(ref), free(orig), free(seen);
}

Test(cuda_host, rmsnorm_row_math_matches_cpu) {
    const int N = 7, C = 96;
    const float eps = 1e-5f;
    float *x = frandv((size_t)N * C, 2.0f), *w = frandv(C, 1.0f), *dy = frandv((size_t)N * C, 1.0f);
    float *y = calloc((size_t)N * C, 4), *r = calloc(N, 4), *yr = calloc((size_t)N * C, 4), *rr = calloc(N, 4);
    float *dx = calloc((size_t)N * C, 4), *dxr = calloc((size_t)N * C, 4), *dwr = calloc(C, 4);
    mm_cpu_rmsnorm_forward(yr, rr, x, w, N, C, eps);
    mm_cpu_rmsnorm_backward(dxr, dwr, dy, x, w, rr, N, C);
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C, *dyn = dy + (size_t)n * C;
        float ss = 0.0f, dot = 0.0f;
        for (int c = 0; c < C; c++) ss += xn[c] * xn[c];
        r[n] = mm_rmsnorm_rstd(ss, C, eps);
        for (int c = 0; c < C; c++) y[(size_t)n * C + c] = (xn[c] * r[n]) * w[c];
        for (int c = 0; c < C; c++) dot += w[c] * dyn[c] * xn[c];
        for (int c = 0; c < C; c++) dx[(size_t)n * C + c] = mm_rmsnorm_dx(r[n], w[c], dyn[c], xn[c], dot, C);
    }
    cr_expect_lt(relerr(r, rr, N), 1e-6, "rstd");
    cr_expect_lt(relerr(y, yr, (size_t)N * C), 1e-6, "rmsnorm out");
    cr_expect_lt(relerr(dx, dxr, (size_t)N * C), 1e-5, "rmsnorm dx");
    free(x), free(w), free(dy), free(y), free(r), free(yr), free(rr), free(dx), free(dxr), free(dwr);
}

Test(cuda_host, swiglu_math_matches_cpu) {
    const int N = 5, F = 64;
    float *h13 = frandv((size_t)N * 2 * F, 6.0f), *dg = frandv((size_t)N * F, 1.0f);
    float *g = calloc((size_t)N * F, 4), *gr = calloc((size_t)N * F, 4);
    float *d = calloc((size_t)N * 2 * F, 4), *dr = calloc((size_t)N * 2 * F, 4);
    mm_cpu_swiglu_forward(gr, h13, N, F);
    mm_cpu_swiglu_backward(dr, dg, h13, N, F);
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++) {
            const float *h1 = h13 + (size_t)n * 2 * F;
            g[(size_t)n * F + f] = mm_swiglu(h1[f], h1[F + f]);
            float *d1 = d + (size_t)n * 2 * F;
            mm_swiglu_grad(dg[(size_t)n * F + f], h1[f], h1[F + f], &d1[f], &d1[F + f]);
        }
    cr_expect_lt(relerr(g, gr, (size_t)N * F), 1e-5, "swiglu forward");
    cr_expect_lt(relerr(d, dr, (size_t)N * 2 * F), 1e-5, "swiglu backward");
    free(h13), free(dg), free(g), free(gr), free(d), free(dr);
}

// The cross-entropy kernel: each of TPB threads pushes its strided logits into an online (max, sum)
// pair, the pairs merge in a shuffle tree (xor offsets 16..1 within each warp of 32) and then warp
// by warp — replayed here and compared with the CPU kernel's lse, loss and dlogits.
Test(cuda_host, online_logsumexp_tree_and_dlogits_match_cpu) {
    const int N = 6, C = 16, V = 1000, TPB = 256;
    float *x = frandv((size_t)N * C, 3.0f), *wte = frandv((size_t)V * C, 1.0f);
    float *logits = calloc((size_t)N * V, 4), *lse = calloc(N, 4), mask[6] = {1, 0, 1, 0.5f, 1, 1};
    int32_t tgt[6] = {0, 5, 999, 17, 400, 3};
    float loss_ref = mm_cpu_crossentropy_forward(logits, lse, x, wte, tgt, mask, N, C, V);
    float *saved = fcopy(logits, (size_t)N * V);
    double total = 0.0, msum = 0.0;
    float m[256], s[256];
    for (int n = 0; n < N; n++) {
        const float *l = saved + (size_t)n * V;
        for (int t = 0; t < TPB; t++) {
            m[t] = -INFINITY, s[t] = 0.0f;
            for (int j = t; j < V; j += TPB) mm_lse_push(&m[t], &s[t], l[j]);
        }
        for (int o = 16; o > 0; o >>= 1) {  // __shfl_xor_sync: every lane merges with lane ^ o
            float m2[256], s2[256];
            for (int t = 0; t < TPB; t++) m2[t] = m[t ^ o], s2[t] = s[t ^ o];
            for (int t = 0; t < TPB; t++) mm_lse_merge(&m[t], &s[t], m2[t], s2[t]);
        }
        float M = -INFINITY, S = 0.0f;
        for (int w = 0; w < TPB / 32; w++) mm_lse_merge(&M, &S, m[w * 32], s[w * 32]);
        float r = mm_lse_value(M, S);
        cr_expect_lt(fabsf(r - lse[n]), 2e-5f * fmaxf(1.0f, fabsf(lse[n])), "row %d: lse %g vs cpu %g", n, r, lse[n]);
        total += mask[n] != 0.0f ? mask[n] * (r - l[tgt[n]]) : 0.0;
        msum += mask[n];
    }
    cr_expect_lt(fabs(total / msum - loss_ref), 1e-5, "loss %g vs cpu %g", total / msum, loss_ref);
    // dlogits as the kernel computes them vs the CPU backward (which writes them over logits)
    float *dx = calloc((size_t)N * C, 4), *dwte = calloc((size_t)V * C, 4);
    const float dloss = 0.7f, base = (float)(dloss / msum);
    mm_cpu_crossentropy_backward(dx, dwte, logits, lse, x, wte, tgt, mask, dloss, N, C, V);
    float *dl = calloc((size_t)N * V, 4);
    for (int n = 0; n < N; n++) {
        float coef = base * mask[n];
        for (int j = 0; j < V; j++)
            dl[(size_t)n * V + j] = coef == 0.0f ? 0.0f : mm_ce_dlogit(saved[(size_t)n * V + j], lse[n], coef, j == tgt[n]);
    }
    cr_expect_lt(relerr(dl, logits, (size_t)N * V), 1e-5, "dlogits");
    free(x), free(wte), free(logits), free(lse), free(saved), free(dx), free(dwte), free(dl);
}

Test(cuda_host, lse_merge_handles_empty_pairs) {
    float m = -INFINITY, s = 0.0f;
    mm_lse_merge(&m, &s, -INFINITY, 0.0f);
    cr_expect(m == -INFINITY && s == 0.0f);
    mm_lse_push(&m, &s, 2.0f);
    cr_expect(m == 2.0f && s == 1.0f);
    mm_lse_merge(&m, &s, -INFINITY, 0.0f);
    cr_expect(m == 2.0f && s == 1.0f);
    float m2 = -INFINITY, s2 = 0.0f;
    mm_lse_merge(&m2, &s2, m, s);
    cr_expect(m2 == 2.0f && s2 == 1.0f);
    mm_lse_push(&m2, &s2, 2.0f);  // log(2 e^2) = 2 + log 2
    cr_expect_lt(fabsf(mm_lse_value(m2, s2) - (2.0f + logf(2.0f))), 1e-6f);
}

Test(cuda_host, adamw_element_update_matches_cpu) {
    const size_t n = 1000;
    float *p = frandv(n, 1.0f), *pr = fcopy(p, n), *m = calloc(n, 4), *mr = calloc(n, 4), *v = calloc(n, 4),
          *vr = calloc(n, 4);
    for (long step = 1; step <= 5; step++) {
        float *g = frandv(n, 0.1f);
        mm_cpu_adamw_update(pr, g, mr, vr, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
        mm_adamw_coef k = mm_adamw_coefs(1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
        for (size_t i = 0; i < n; i++) mm_adamw_elem(&p[i], g[i], &m[i], &v[i], &k);
        free(g);
    }
    cr_expect_lt(relerr(p, pr, n), 1e-6, "params");
    cr_expect_lt(relerr(m, mr, n), 1e-6, "first moments");
    cr_expect_lt(relerr(v, vr, n), 1e-6, "second moments");
    free(p), free(pr), free(m), free(mr), free(v), free(vr);
}

Test(cuda_host, clip_coefficient_matches_cpu) {
    const size_t n = 500;
    float *g = frandv(n, 1.0f), *gr = fcopy(g, n);
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    float norm = (float)sqrt(ss);
    float normr = mm_cpu_gradnorm_clip(gr, n, 1.0f);
    cr_expect_lt(fabsf(norm - normr), 1e-5f * normr);
    float c = mm_clip_coef(norm, 1.0f);
    for (size_t i = 0; i < n; i++) g[i] *= c;
    cr_expect_lt(relerr(g, gr, n), 1e-6, "clipped gradients");
    cr_expect_eq(mm_clip_coef(0.5f, 1.0f), 1.0f);
    cr_expect_eq(mm_clip_coef(5.0f, 0.0f), 1.0f);
    free(g), free(gr);
}

Test(cuda_host, embedding_bucketed_backward_matches_cpu_exactly) {
    const int N = 40, C = 20, V = 150, NB = 64;
    int32_t tok[40];
    for (int n = 0; n < N; n++) tok[n] = (n * 37 + 11) % V;
    tok[5] = tok[9] = tok[30] = 7;  // repeats accumulate in order
    tok[6] = 7 + NB;                // same bucket, different row
    float *dout = frandv((size_t)N * C, 1.0f), *dw = frandv((size_t)V * C, 1.0f), *dwr = fcopy(dw, (size_t)V * C);
    mm_cpu_embedding_backward(dwr, dout, tok, N, C);
    for (int bucket = 0; bucket < NB; bucket++)  // grid.y
        for (int c = 0; c < C; c++)              // threads
            for (int n = 0; n < N; n++)
                if (mm_embed_bucket(tok[n], NB) == bucket) dw[(size_t)tok[n] * C + c] += dout[(size_t)n * C + c];
    cr_expect_eq(memcmp(dw, dwr, sizeof(float) * (size_t)V * C), 0, "bucketed embedding backward differs");
    free(dout), free(dw), free(dwr);
}

// Attention (engine/src/cuda/attention.cu): the strided-batched GEMM plan (attention_plan.h) is
// replayed with a naive column-major gemm, the row kernels (causal softmax and its backward) with
// the same helpers, in both batching modes, and compared with the CPU attention op. The outputs
// start as NaN: every element the op must write is written, and the padding columns of the strided
// q / k|v buffers (dq and dk|dv share them as in the model) are never touched. Within one call the
// members' C blocks must be disjoint (checked element by element).

// C + c_off + i*sc (member i) = alpha op(A) op(B) + beta C, column-major; beta 0 ignores C (BLAS).
static void replay_call(const mm_gemm_call *c, const float *A, const float *B, float *C, size_t c_len,
                        unsigned char *mark) {
    memset(mark, 0, c_len);
    for (int i = 0; i < c->batch; i++) {
        const float *a = A + c->a_off + (long long)i * c->sa, *b = B + c->b_off + (long long)i * c->sb;
        float *cc = C + c->c_off + (long long)i * c->sc;
        for (int col = 0; col < c->n; col++)
            for (int row = 0; row < c->m; row++) {
                double acc = 0.0;
                for (int l = 0; l < c->k; l++) {
                    float x = c->ta ? a[l + (size_t)row * c->lda] : a[row + (size_t)l * c->lda];
                    float y = c->tb ? b[col + (size_t)l * c->ldb] : b[l + (size_t)col * c->ldb];
                    acc += (double)x * y;
                }
                size_t e = (size_t)(cc - C) + row + (size_t)col * c->ldc;
                cr_assert_lt(e, c_len, "gemm writes past its output");
                cr_assert_eq(mark[e], 0, "two members of one call write element %zu", e);
                mark[e] = 1;
                C[e] = (float)(c->alpha * acc + (c->beta != 0.0f ? c->beta * C[e] : 0.0));
            }
    }
}

static void replay_product(const mm_att_product *p, const mm_att_shape *s, int mode, const float *A, const float *B,
                           float *C, size_t c_len) {
    unsigned char *mark = malloc(c_len);
    cr_assert(mark);
    for (int idx = 0; idx < mm_att_plan_ncalls(s, mode); idx++) {
        mm_gemm_call c = mm_att_plan_call(p, s, mode, idx);
        replay_call(&c, A, B, C, c_len, mark);
    }
    free(mark);
}

// The row kernels, one row at a time (the GPU reduces in a tree; same math).
static void replay_softmax_rows(float *att, const mm_att_shape *s) {
    for (long r = 0; r < (long)s->B * s->H * s->Tq; r++) {
        int b, h, i;
        mm_att_row_index(r, s->H, s->Tq, &b, &h, &i);
        const int n = mm_att_nkeys(i, s->Tq, s->Tk);
        cr_assert(n >= 1 && n <= s->Tk);
        float *a = att + (size_t)r * s->Tk, mx = -INFINITY, sum = 0.0f;
        for (int j = 0; j < n; j++) mx = fmaxf(mx, a[j]);
        for (int j = 0; j < n; j++) sum += (a[j] = expf(a[j] - mx));
        for (int j = 0; j < s->Tk; j++) a[j] = j < n ? a[j] * (1.0f / sum) : 0.0f;
    }
}
static void replay_softmax_backward_rows(float *datt, const float *att, const mm_att_shape *s, float scale) {
    for (long r = 0; r < (long)s->B * s->H * s->Tq; r++) {
        int b, h, i;
        mm_att_row_index(r, s->H, s->Tq, &b, &h, &i);
        const int n = mm_att_nkeys(i, s->Tq, s->Tk);
        const float *p = att + (size_t)r * s->Tk;
        float *d = datt + (size_t)r * s->Tk, dot = 0.0f;
        for (int j = 0; j < n; j++) dot += p[j] * d[j];
        for (int j = 0; j < s->Tk; j++) d[j] = j < n ? mm_att_dscore(p[j], d[j], dot, scale) : 0.0f;
    }
}

static float *nanv(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    cr_assert(p);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

// max relative error over the `cols` first columns of rows of stride ld; the columns [cols, ld)
// of `got` must still be NaN (never written).
static double relerr_cols(const float *got, const float *want, size_t rows, int ld, int cols, const char *what) {
    double e = 0.0, m = 1.0;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < ld; j++) {
            float g = got[r * ld + j];
            if (j >= cols) {
                cr_assert(isnan(g), "%s: row %zu column %d (padding) was written", what, r, j);
                continue;
            }
            double d = fabs((double)g - want[r * ld + j]);
            if (!(d <= e)) e = d;  // NaN propagates
            m = fmax(m, fabs(want[r * ld + j]));
        }
    return e / m;
}

static void attention_case(int B, int Tq, int Tk, int H, int KV, int hs, int mode) {
    const int C = H * hs, ldq = C + 3, ldkv = 2 * KV * hs + 5;
    const float scale = 1.0f / sqrtf((float)hs);
    const mm_att_shape s = {B, Tq, Tk, H, KV, hs, ldq, ldkv};
    const size_t nq = (size_t)B * Tq * ldq, nkv = (size_t)B * Tk * ldkv, na = (size_t)B * H * Tq * Tk;
    const size_t no = (size_t)B * Tq * C;
    float *q = frandv(nq, 1.0f), *kv = frandv(nkv, 1.0f), *dout = frandv(no, 1.0f);
    const float *k = kv, *v = kv + KV * hs;
    // CPU reference
    float *outr = calloc(no, 4), *attr = calloc(na, 4), *dattr = calloc(na, 4);
    float *dqr = nanv(nq), *dkvr = nanv(nkv);
    mm_cpu_attention_forward(outr, attr, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs);
    mm_cpu_attention_backward(dqr, dkvr, dkvr + KV * hs, dattr, dout, attr, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs);
    // the plan, replayed
    float *out = nanv(no), *att = nanv(na), *datt = nanv(na), *dq = nanv(nq), *dkv = nanv(nkv);
    mm_att_product sc = mm_att_scores_product(&s, scale), pv = mm_att_pv_product(&s), dp = mm_att_dp_product(&s);
    mm_att_product dqp = mm_att_dq_product(&s), dkp = mm_att_dk_product(&s), dvp = mm_att_dv_product(&s);
    replay_product(&sc, &s, mode, k, q, att, na);
    replay_softmax_rows(att, &s);
    replay_product(&pv, &s, mode, v, att, out, no);
    cr_expect_lt(relerr(att, attr, na), 1e-5, "att B=%d Tq=%d Tk=%d H=%d KV=%d mode %d", B, Tq, Tk, H, KV, mode);
    cr_expect_lt(relerr(out, outr, no), 1e-5, "out B=%d Tq=%d Tk=%d H=%d KV=%d mode %d", B, Tq, Tk, H, KV, mode);
    replay_product(&dp, &s, mode, v, dout, datt, na);
    replay_softmax_backward_rows(datt, att, &s, scale);
    replay_product(&dqp, &s, mode, k, datt, dq, nq);
    replay_product(&dkp, &s, mode, q, datt, dkv, nkv);
    replay_product(&dvp, &s, mode, dout, att, dkv + KV * hs, nkv - KV * hs);
    cr_expect_lt(relerr_cols(dq, dqr, (size_t)B * Tq, ldq, C, "dq"), 1e-4, "dq B=%d Tq=%d Tk=%d mode %d", B, Tq, Tk,
                 mode);
    cr_expect_lt(relerr_cols(dkv, dkvr, (size_t)B * Tk, ldkv, 2 * KV * hs, "dk|dv"), 1e-4,
                 "dk|dv B=%d Tq=%d Tk=%d mode %d", B, Tq, Tk, mode);
    free(q), free(kv), free(dout), free(outr), free(attr), free(dattr), free(dqr), free(dkvr);
    free(out), free(att), free(datt), free(dq), free(dkv);
}

Test(cuda_host, attention_gemm_plan_matches_cpu) {
    static const int cases[][6] = {
        {2, 9, 9, 4, 2, 8},   // training: Tq == Tk, GQA
        {1, 3, 11, 4, 2, 8},  // cached decoding: queries at the end
        {1, 1, 6, 4, 1, 4},   // one query, MQA
        {3, 7, 7, 6, 3, 4},   // 3 groups of 2
        {2, 5, 5, 4, 4, 8},   // MHA (H == KV)
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int mode = MM_ATT_PER_HEAD; mode <= MM_ATT_PER_GROUP; mode++)
            attention_case(cases[c][0], cases[c][1], cases[c][2], cases[c][3], cases[c][4], cases[c][5], mode);
}

Test(cuda_host, attention_plan_picks_fewer_calls) {
    mm_att_shape s = {16, 512, 512, 8, 2, 64, 768, 768};  // B*(H/KV) = 64 > H = 8
    cr_expect_eq(mm_att_plan_mode(&s), MM_ATT_PER_HEAD);
    cr_expect_eq(mm_att_plan_ncalls(&s, MM_ATT_PER_HEAD), 8);
    s.B = 1;  // decoding one sequence: 4 calls per group offset vs 8 heads
    cr_expect_eq(mm_att_plan_mode(&s), MM_ATT_PER_GROUP);
    cr_expect_eq(mm_att_plan_ncalls(&s, MM_ATT_PER_GROUP), 4);
    // dk sums the group's heads: the first head of each group writes, the others add
    mm_att_product dk = mm_att_dk_product(&s);
    for (int h = 0; h < 8; h++) cr_expect_eq(mm_att_plan_call(&dk, &s, MM_ATT_PER_HEAD, h).beta, h % 4 ? 1.0f : 0.0f);
    mm_att_product dq = mm_att_dq_product(&s);
    for (int h = 0; h < 8; h++) cr_expect_eq(mm_att_plan_call(&dq, &s, MM_ATT_PER_HEAD, h).beta, 0.0f);
}

Test(cuda_host, attention_index_helpers) {
    cr_expect_eq(mm_gqa_kv_head(7, 8, 2), 1);
    cr_expect_eq(mm_gqa_kv_head(3, 8, 2), 0);
    cr_expect_eq(mm_att_nkeys(0, 4, 4), 1);
    cr_expect_eq(mm_att_nkeys(2, 3, 10), 10);
    cr_expect_eq(mm_att_first_query(0, 4, 4), 0);
    cr_expect_eq(mm_att_first_query(8, 3, 10), 1);  // key 8 seen by queries at positions 8, 9
    cr_expect_eq(mm_att_first_query(2, 3, 10), 0);
    int b, h, i;
    mm_att_row_index(2 * 8 * 5 + 3 * 5 + 4, 8, 5, &b, &h, &i);
    cr_expect(b == 2 && h == 3 && i == 4);
    cr_expect_eq(mm_head_offset(1, 2, 5, 100, 3, 8), (size_t)(1 * 5 + 2) * 100 + 24);
}
