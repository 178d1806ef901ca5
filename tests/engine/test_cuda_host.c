// The CUDA kernels' per-element math and index arithmetic (engine/src/cuda/ops_math.h and
// memory_math.h, compiled here as plain C) checked on the CPU against the CPU backend's kernels. Where a kernel's loop
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
#include "cuda/memory_math.h"
#include "cuda/ops_math.h"
#include "cuda/smem_tile.h"
#include "minimind/memory.h"
#include "test_rand.h"
#include "test_util.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(float scale) { return mm_test_frand(&rng_state, scale); }
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

// The CUDA kernel's indexing (one thread per (row, pair j)) replayed on the host: every pair once,
// the same rotation as the CPU kernel, forward and inverse.
static void rope_as_the_kernel(float *x, int ld, const float *cs, const float *sn, int B, int T, int NH,
                               int half, int pos0, float sign, int *seen) {
    for (int row = 0; row < B * T; row++)
        for (int j = 0; j < NH * half; j++) {
            size_t at, ti;
            mm_rope_pair_at(row, j, T, half, ld, pos0, &at, &ti);
            const int h = j / half, i = j % half;
            cr_assert_eq(at, (size_t)row * ld + (size_t)h * 2 * half + 2 * i,
                         "pair (%d, %d) not at head %d pair %d", row, j, h, i);
            if (seen) seen[((size_t)row * NH + h) * half + i]++;
            mm_rope_rotate(&x[at], &x[at + 1], cs[ti], sn[ti], sign);
        }
}

Test(cuda_host, rope_pair_index_and_rotation_match_cpu) {
    const int B = 2, T = 5, NH = 3, hs = 8, half = hs / 2, ld = NH * hs + 4, pos0 = 2, maxpos = 16;
    float *cs = frandv((size_t)maxpos * half, 1.0f), *sn = frandv((size_t)maxpos * half, 1.0f);
    float *x = frandv((size_t)B * T * ld, 1.0f), *ref = fcopy(x, (size_t)B * T * ld);
    mm_cpu_rope_forward(ref, ld, cs, sn, B, T, NH, hs, pos0);
    const long npairs = (long)B * T * NH * half;
    int *seen = calloc((size_t)npairs, sizeof(int));
    rope_as_the_kernel(x, ld, cs, sn, B, T, NH, half, pos0, 1.0f, seen);
    for (long e = 0; e < npairs; e++) cr_assert_eq(seen[e], 1, "pair %ld visited %d times", e, seen[e]);
    cr_expect_eq(memcmp(x, ref, sizeof(float) * (size_t)B * T * ld), 0,
                 "rope forward differs from the CPU kernel");
    mm_cpu_rope_backward(ref, ld, cs, sn, B, T, NH, hs, pos0);
    rope_as_the_kernel(x, ld, cs, sn, B, T, NH, half, pos0, -1.0f, NULL);
    cr_expect_eq(memcmp(x, ref, sizeof(float) * (size_t)B * T * ld), 0, "rope backward differs from the CPU kernel");
    free(cs), free(sn), free(x), free(ref), free(seen);
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

// The CUDA kernel's order replayed on the host: warp (bucket, column block) scans the tokens 32 at
// a time and adds its bucket's rows lowest first — per (token, column) the rows in order, so the
// sums are the CPU kernel's bit for bit.
Test(cuda_host, embedding_bucketed_backward_matches_cpu_exactly) {
    const int N = 70, C = 20, V = 1150, NB = 512;
    int32_t tok[70];
    for (int n = 0; n < N; n++) tok[n] = (n * 37 + 11) % V;
    tok[5] = tok[9] = tok[40] = 7;          // repeats accumulate in order, across 32-row chunks
    tok[6] = 7 + NB, tok[33] = 7 + 2 * NB;  // same bucket, other tokens
    float *dout = frandv((size_t)N * C, 1.0f), *dw = frandv((size_t)V * C, 1.0f), *dwr = fcopy(dw, (size_t)V * C);
    mm_cpu_embedding_backward(dwr, dout, tok, N, C);
    for (int bucket = 0; bucket < NB; bucket++)  // warps
        for (int n0 = 0; n0 < N; n0 += 32)       // the ballot's chunk
            for (int n = n0; n < n0 + 32 && n < N; n++)
                if (mm_embed_bucket(tok[n], NB) == bucket)
                    for (int c = 0; c < C; c++) dw[(size_t)tok[n] * C + c] += dout[(size_t)n * C + c];
    cr_expect_eq(memcmp(dw, dwr, sizeof(float) * (size_t)V * C), 0, "bucketed embedding backward differs");
    free(dout), free(dw), free(dwr);
}

static float *nanv(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    cr_assert(p);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

// Attention (engine/src/cuda/attention.cu): the batched GEMM plan (attention_plan.h: one call
// per product over the B*H members, per-head dK/dV summed over each kv group) is replayed with a
// naive column-major gemm, the row kernels (causal softmax and its backward) with the same
// helpers, and compared with the CPU attention op. The outputs start as NaN: every element the op
// must write is written, and the padding columns of the strided q / k|v buffers (dq and dk|dv
// share them as in the model) are never touched. Within one call no two members write the same
// element (checked element by element).

// Member i of product p: C + off_c(i) = alpha op(A + off_a(i)) op(B + off_b(i)), column-major.
static void replay_product(const mm_att_product *p, const mm_att_shape *s, const float *A, const float *B, float *C,
                           size_t c_len) {
    unsigned char *mark = calloc(c_len, 1);
    cr_assert(mark);
    for (int i = 0; i < mm_att_members(s); i++) {
        const float *a = A + mm_att_member_offset(&p->a, s, i), *b = B + mm_att_member_offset(&p->b, s, i);
        const long long c0 = mm_att_member_offset(&p->c, s, i);
        for (int col = 0; col < p->n; col++)
            for (int row = 0; row < p->m; row++) {
                double acc = 0.0;
                for (int l = 0; l < p->k; l++) {
                    float x = p->ta ? a[l + (size_t)row * p->lda] : a[row + (size_t)l * p->lda];
                    float y = p->tb ? b[col + (size_t)l * p->ldb] : b[l + (size_t)col * p->ldb];
                    acc += (double)x * y;
                }
                size_t e = (size_t)c0 + row + (size_t)col * p->ldc;
                cr_assert_lt(e, c_len, "gemm writes past its output");
                cr_assert_eq(mark[e], 0, "two members of one call write element %zu", e);
                mark[e] = 1;
                C[e] = (float)(p->alpha * acc);
            }
    }
    free(mark);
}

// dK, dV: straight from the products when H == KV, else the per-head scratch and the group sums.
static void replay_dkv(const mm_att_shape *s, const float *q, const float *dout, const float *att,
                       const float *datt, float *dkv) {
    const mm_att_product dkp = mm_att_dk_product(s), dvp = mm_att_dv_product(s);
    const size_t nkv = (size_t)s->B * s->Tk * s->ldkv, nh = mm_att_dkv_scratch_len(s);
    float *dk = dkv, *dv = dkv + s->KV * s->hs;
    if (!nh) {
        replay_product(&dkp, s, q, datt, dk, nkv);
        replay_product(&dvp, s, dout, att, dv, nkv - s->KV * s->hs);
        return;
    }
    float *dkh = nanv(nh), *dvh = nanv(nh);
    replay_product(&dkp, s, q, datt, dkh, nh);
    replay_product(&dvp, s, dout, att, dvh, nh);
    for (long e = 0; e < (long)s->B * s->Tk * s->KV * s->hs; e++) {
        mm_att_group_sum(dk, dkh, s, e);
        mm_att_group_sum(dv, dvh, s, e);
    }
    free(dkh), free(dvh);
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

static void attention_case(int B, int Tq, int Tk, int H, int KV, int hs) {
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
    mm_att_product dqp = mm_att_dq_product(&s);
    replay_product(&sc, &s, k, q, att, na);
    replay_softmax_rows(att, &s);
    replay_product(&pv, &s, v, att, out, no);
    cr_expect_lt(relerr(att, attr, na), 1e-5, "att B=%d Tq=%d Tk=%d H=%d KV=%d", B, Tq, Tk, H, KV);
    cr_expect_lt(relerr(out, outr, no), 1e-5, "out B=%d Tq=%d Tk=%d H=%d KV=%d", B, Tq, Tk, H, KV);
    replay_product(&dp, &s, v, dout, datt, na);
    replay_softmax_backward_rows(datt, att, &s, scale);
    replay_product(&dqp, &s, k, datt, dq, nq);
    replay_dkv(&s, q, dout, att, datt, dkv);
    cr_expect_lt(relerr_cols(dq, dqr, (size_t)B * Tq, ldq, C, "dq"), 1e-4, "dq B=%d Tq=%d Tk=%d H=%d KV=%d", B, Tq, Tk,
                 H, KV);
    cr_expect_lt(relerr_cols(dkv, dkvr, (size_t)B * Tk, ldkv, 2 * KV * hs, "dk|dv"), 1e-4,
                 "dk|dv B=%d Tq=%d Tk=%d H=%d KV=%d", B, Tq, Tk, H, KV);
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
        attention_case(cases[c][0], cases[c][1], cases[c][2], cases[c][3], cases[c][4], cases[c][5]);
}

Test(cuda_host, attention_plan_members_and_key_gradients) {
    mm_att_shape s = {16, 512, 512, 8, 2, 64, 768, 768};
    cr_expect_eq(mm_att_members(&s), 128, "one call covers every (b, h)");
    const mm_att_operand kv = mm_att_kv_operand(&s), qo = mm_att_q_operand(&s);
    // member 2*8 + 5: b = 2, h = 5 reads kv head 1
    cr_expect_eq(mm_att_member_offset(&kv, &s, 21), 2LL * 512 * 768 + 64);
    cr_expect_eq(mm_att_member_offset(&qo, &s, 21), 2LL * 512 * 768 + 5 * 64);
    // GQA: dK per query head into the (B,H,Tk,hs) scratch, rows of hs
    cr_expect_eq(mm_att_dkv_direct(&s), 0);
    cr_expect_eq(mm_att_dk_product(&s).ldc, 64);
    cr_expect_eq(mm_att_dkv_scratch_len(&s), (size_t)16 * 8 * 512 * 64);
    s.KV = 8;  // MHA: straight into dk, no scratch
    cr_expect_eq(mm_att_dkv_direct(&s), 1);
    cr_expect_eq(mm_att_dv_product(&s).ldc, 768);
    cr_expect_eq(mm_att_dkv_scratch_len(&s), 0);
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

// The group sum from a bf16 scratch (the bf16 attention block's per-head dK, dV) lands where the
// fp32 one does and sums the heads' stored values in head order, in fp32.
Test(cuda_host, attention_group_sum_of_a_bf16_scratch) {
    const mm_att_shape s = {2, 5, 7, 8, 2, 4, 8 * 4 + 4, 2 * 4 * 2 + 3};  // B Tq Tk H KV hs ldq ldkv
    const size_t nh = mm_att_dkv_scratch_len(&s);
    float *f = frandv(nh, 3.0f);
    uint16_t *h = malloc(nh * sizeof *h);
    cr_assert(h);
    for (size_t i = 0; i < nh; i++) h[i] = (uint16_t)mm_bf16_bits(f[i]), f[i] = mm_bf16_float(h[i]);
    for (long e = 0; e < (long)s.B * s.Tk * s.KV * s.hs; e++) {
        size_t at32, at16, i;
        const float want = mm_att_group_value(f, &s, e, &at32),
                    got = mm_att_group_value_bf16(h, &s, e, &at16);
        cr_assert_eq(at16, at32, "element %ld", e);
        cr_assert_eq(got, want, "element %ld: %.9g, the widened values sum to %.9g", e, (double)got,
                     (double)want);
        const size_t first = mm_att_group_at(&s, e, &i);
        float acc = 0.0f;  // head order, written out: heads g*rep .. g*rep + rep-1 of (b, j, d)
        for (int r = 0; r < s.H / s.KV; r++) acc += mm_bf16_float(h[first + (size_t)r * s.Tk * s.hs]);
        cr_assert_eq(got, acc, "element %ld", e);
    }
    free(f), free(h);
}

// ---- memory layer (engine/src/cuda/memory_*.cu with memory_math.h) ----

// A 32-lane warp replayed on the host: votes are built lane by lane, then the kernels' helpers.
enum { LANES = 32 };

// mm_warp_insert (memory_topk.cu): position by votes of 32 lanes on items top - lane, then the
// shift of [pos, slot) one up, top chunk first (all lanes read, then all write), then the new item.
static void replay_warp_insert(float *ls, int32_t *li, int *n, int cap, float s, int32_t i) {
    const int slot = mm_topk_slot(*n, cap);
    int pos = slot;
    for (int top = slot - 1; top >= 0; top -= 32) {
        uint32_t vote = 0;
        for (int lane = 0; lane < LANES; lane++) {
            int q = top - lane;
            if (q >= 0 && mm_topk_better(s, i, ls[q], li[q])) vote |= 1u << lane;
        }
        int run = mm_trailing_ones(vote);
        pos -= run;
        if (run < 32) break;
    }
    for (int top = slot - 1; top >= pos; top -= 32) {
        float vs[LANES];
        int32_t vi[LANES];
        for (int lane = 0; lane < LANES; lane++)
            if (top - lane >= pos) vs[lane] = ls[top - lane], vi[lane] = li[top - lane];
        for (int lane = 0; lane < LANES; lane++)
            if (top - lane >= pos) ls[top - lane + 1] = vs[lane], li[top - lane + 1] = vi[lane];
    }
    ls[pos] = s, li[pos] = i;
    if (*n < cap) (*n)++;
}

// mm_warp_offer: the lanes' candidates admitted now go in lowest lane first; the lanes above are
// voted on again after each insertion; the rest are dropped.
static void replay_warp_offer(float *ls, int32_t *li, int *n, int cap, const float *v, const int32_t *ix,
                              const int *valid) {
    uint32_t pending = 0;
    for (int lane = 0; lane < LANES; lane++)
        if (valid[lane]) pending |= 1u << lane;
    while (pending) {
        const float last_s = *n == cap ? ls[cap - 1] : 0.0f;
        const int32_t last_i = *n == cap ? li[cap - 1] : 0;
        uint32_t want = 0;
        for (int lane = 0; lane < LANES; lane++)
            if (((pending >> lane) & 1u) && mm_topk_admits(*n, cap, v[lane], ix[lane], last_s, last_i)) want |= 1u << lane;
        if (!want) break;
        int src = mm_lowest_lane(want);
        replay_warp_insert(ls, li, n, cap, v[src], ix[src]);
        pending = mm_lanes_above(pending, src);
    }
}

// mm_topk_rows_kernel for one row.
static void replay_topk_row(int32_t *idx, float *score, const float *s1, const float *s2, int S, int K) {
    const int k = K < S ? K : S;
    float as[MM_MEMORY_MAX_CANDIDATES], bs[MM_MEMORY_MAX_CANDIDATES], cs[MM_MEMORY_MAX_CANDIDATES];
    int32_t ai[MM_MEMORY_MAX_CANDIDATES], bi[MM_MEMORY_MAX_CANDIDATES], ci[MM_MEMORY_MAX_CANDIDATES];
    int na = 0, nb = 0, nc = 0;
    float v[LANES];
    int32_t ix[LANES];
    int ok[LANES];
    for (int half = 0; half < 2; half++)
        for (int base = 0; base < S; base += 32) {
            for (int lane = 0; lane < LANES; lane++) {
                int i = base + lane;
                ok[lane] = i < S, ix[lane] = i, v[lane] = i < S ? (half ? s2 : s1)[i] : 0.0f;
            }
            if (half == 0) replay_warp_offer(as, ai, &na, k, v, ix, ok);
            else replay_warp_offer(bs, bi, &nb, k, v, ix, ok);
        }
    for (int a = 0; a < na; a++) {
        const int cnt = mm_topk_pair_count(a, nb, K);
        if (cnt == 0) break;
        for (int b0 = 0; b0 < cnt; b0 += 32) {
            for (int lane = 0; lane < LANES; lane++) {
                int b = b0 + lane;
                ok[lane] = b < cnt;
                v[lane] = b < cnt ? as[a] + bs[b] : 0.0f;
                ix[lane] = b < cnt ? mm_topk_entry(ai[a], bi[b], S) : 0;
            }
            replay_warp_offer(cs, ci, &nc, K, v, ix, ok);
        }
    }
    for (int c = 0; c < K; c++) {
        idx[c] = c < nc ? ci[c] : 0;
        score[c] = c < nc ? cs[c] : MM_TOPK_PAD_SCORE;
    }
}

// Integer q and keys (exact scores in any summation order, many ties), plus NaN / inf rows and keys.
static void topk_case(int N, int D, int S, int K, int specials) {
    const int Dh = D / 2;
    float *q = malloc(sizeof(float) * (size_t)N * D), *keys = malloc(sizeof(float) * 2 * (size_t)S * Dh);
    for (int i = 0; i < N * D; i++) q[i] = (float)((int)(frand(1.0f) * 2.99f));
    for (int i = 0; i < 2 * S * Dh; i++) keys[i] = (float)((int)(frand(1.0f) * 2.99f));
    if (specials) {
        for (int d = 0; d < D; d++) q[(size_t)1 * D + d] = NAN;  // a row of NaN scores
        q[(size_t)2 * D] = INFINITY;                              // +-inf and NaN (inf * 0) in one half
        keys[(size_t)3 * Dh] = NAN;                               // key 3 of K1: NaN for every row
        keys[((size_t)S + 1) * Dh + 1] = -INFINITY;               // key 1 of K2
    }
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)N * K), *ridx = malloc(sizeof(int32_t) * (size_t)N * K);
    float *score = malloc(sizeof(float) * (size_t)N * K), *rscore = malloc(sizeof(float) * (size_t)N * K);
    float *scratch = malloc(sizeof(float) * 2 * (size_t)MM_MEMORY_TOPK_ROWS * S);
    mm_cpu_memory_topk(ridx, rscore, q, keys, N, D, S, K, scratch);
    // the scores as the kernel's sgemm gives them: exact here (integers), so any order of the sums
    float *s1 = malloc(sizeof(float) * (size_t)S), *s2 = malloc(sizeof(float) * (size_t)S);
    for (int n = 0; n < N; n++) {
        for (int i = 0; i < S; i++) {
            float a = 0.0f, b = 0.0f;
            for (int d = 0; d < Dh; d++) {
                a += q[(size_t)n * D + d] * keys[(size_t)i * Dh + d];
                b += q[(size_t)n * D + Dh + d] * keys[((size_t)S + i) * Dh + d];
            }
            s1[i] = a, s2[i] = b;
        }
        replay_topk_row(idx + (size_t)n * K, score + (size_t)n * K, s1, s2, S, K);
    }
    for (int n = 0; n < N; n++)
        for (int c = 0; c < K; c++) {  // scores: equal, or both NaN (the NaN's sign bit depends on the sgemm)
            size_t o = (size_t)n * K + c;
            cr_assert_eq(idx[o], ridx[o], "S=%d K=%d row %d cand %d: idx %d, cpu %d", S, K, n, c, idx[o], ridx[o]);
            cr_assert(score[o] == rscore[o] || (isnan(score[o]) && isnan(rscore[o])),
                      "S=%d K=%d row %d cand %d: score %g, cpu %g", S, K, n, c, score[o], rscore[o]);
        }
    free(q), free(keys), free(idx), free(ridx), free(score), free(rscore), free(scratch);
    free(s1), free(s2);
}

Test(cuda_host, memory_topk_warp_replay_matches_cpu_exactly) {
    topk_case(40, 8, 16, 16, 1);    // K = S
    topk_case(30, 8, 5, 20, 1);     // k = S < K <= S*S
    topk_case(30, 4, 40, 7, 1);     // k = K < S, two 32-candidate chunks per half
    topk_case(20, 6, 70, 256, 1);   // the largest K: lists longer than a warp, chunked searches and shifts
    topk_case(25, 8, 33, 1, 1);     // K = 1
    topk_case(12, 2, 100, 64, 0);   // Dh = 1: very many ties
}

Test(cuda_host, memory_topk_vote_helpers) {
    cr_expect_eq(mm_trailing_ones(0u), 0);
    cr_expect_eq(mm_trailing_ones(0x7u), 3);
    cr_expect_eq(mm_trailing_ones(0xFFFFFFFFu), 32);
    cr_expect_eq(mm_trailing_ones(0xFFFF7FFFu), 15);
    cr_expect_eq(mm_lowest_lane(0x80000000u), 31);
    cr_expect_eq(mm_lowest_lane(0x6u), 1);
    cr_expect_eq(mm_lanes_above(0xFFFFFFFFu, 31), 0u);
    cr_expect_eq(mm_lanes_above(0xFFFFFFFFu, 0), 0xFFFFFFFEu);
    cr_expect_eq(mm_lanes_above(0x15u, 2), 0x10u);
    cr_expect_eq(mm_topk_pair_count(0, 16, 16), 16);
    cr_expect_eq(mm_topk_pair_count(3, 16, 16), 4);
    cr_expect_eq(mm_topk_pair_count(0, 5, 20), 5);
    cr_expect_eq(mm_topk_pair_count(20, 5, 20), 0);
    cr_expect(mm_topk_better(1.0f, 5, 1.0f, 6) && !mm_topk_better(1.0f, 6, 1.0f, 5));
    cr_expect(!mm_topk_better(NAN, 0, 1.0f, 1) && !mm_topk_better(1.0f, 0, NAN, 1));
    cr_expect(mm_topk_admits(3, 4, -1e30f, 9, 0.0f, 0) && !mm_topk_admits(4, 4, 0.0f, 9, 0.0f, 2));
    cr_expect_eq(mm_topk_chunk_rows(10000, 1024, 1L << 24, 256), 8192);
    cr_expect_eq(mm_topk_chunk_rows(100, 1024, 1L << 24, 256), 100);
    cr_expect_eq(mm_topk_chunk_rows(10000, 1 << 20, 1L << 24, 256), 256);
    cr_expect_eq(mm_read_chunk_rows(10000, 6400, 1L << 24), 2621);
    cr_expect_eq(mm_read_chunk_rows(10, 1 << 30, 1L << 24), 1);
}

// The xor-shuffle tree of the kernels (every lane ends with the same sum).
static float replay_warp_sum(float *v) {
    for (int o = 16; o > 0; o >>= 1) {
        float t[LANES];
        for (int l = 0; l < LANES; l++) t[l] = v[l] + v[l ^ o];
        memcpy(v, t, sizeof t);
    }
    for (int l = 1; l < LANES; l++) cr_assert(memcmp(&v[l], &v[0], sizeof(float)) == 0, "lanes disagree");
    return v[0];
}

// Topk backward: dense dS1/dS2 per row (mm_topk_dscores_row) in row chunks, then the gemms as loops.
Test(cuda_host, memory_topk_backward_dense_matches_cpu) {
    const int N = 45, D = 12, Dh = D / 2, S = 9, K = 20;
    float *q = frandv((size_t)N * D, 1.0f), *keys = frandv(2 * (size_t)S * Dh, 1.0f);
    float *dscore = frandv((size_t)N * K, 1.0f), *scratch = malloc(sizeof(float) * 2 * MM_MEMORY_TOPK_ROWS * S);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)N * K);
    float *score = malloc(sizeof(float) * (size_t)N * K);
    mm_cpu_memory_topk(idx, score, q, keys, N, D, S, K, scratch);
    float *dq = frandv((size_t)N * D, 1.0f), *dk = frandv(2 * (size_t)S * Dh, 1.0f);
    float *dqr = fcopy(dq, (size_t)N * D), *dkr = fcopy(dk, 2 * (size_t)S * Dh);
    mm_cpu_memory_topk_backward(dqr, dkr, dscore, idx, q, keys, N, D, S, K);
    const int R = mm_topk_chunk_rows(N, S, 2L * 16 * S, 1);  // a tiny budget: 3 chunks (16 + 16 + 13)
    cr_assert_eq(R, 16);
    float *ds = malloc(sizeof(float) * 2 * (size_t)R * S);
    for (int r0 = 0; r0 < N; r0 += R) {
        const int rows = N - r0 < R ? N - r0 : R;
        memset(ds, 0, sizeof(float) * 2 * (size_t)R * S);
        for (int r = 0; r < rows; r++)
            mm_topk_dscores_row(ds + (size_t)r * S, ds + ((size_t)R + r) * S, idx + (size_t)(r0 + r) * K,
                                dscore + (size_t)(r0 + r) * K, S, K);
        for (int h = 0; h < 2; h++) {
            const float *dsh = ds + (size_t)h * R * S, *kh = keys + (size_t)h * S * Dh;
            for (int r = 0; r < rows; r++)
                for (int d = 0; d < Dh; d++) {
                    float acc = 0.0f;
                    for (int i = 0; i < S; i++) acc += dsh[(size_t)r * S + i] * kh[(size_t)i * Dh + d];
                    dq[(size_t)(r0 + r) * D + h * Dh + d] += acc;
                }
            for (int i = 0; i < S; i++)
                for (int d = 0; d < Dh; d++) {
                    float acc = 0.0f;
                    for (int r = 0; r < rows; r++) acc += dsh[(size_t)r * S + i] * q[(size_t)(r0 + r) * D + h * Dh + d];
                    dk[((size_t)h * S + i) * Dh + d] += acc;
                }
        }
    }
    cr_expect_lt(relerr(dq, dqr, (size_t)N * D), 1e-5, "dq");
    cr_expect_lt(relerr(dk, dkr, 2 * (size_t)S * Dh), 1e-5, "dkeys");
    free(q), free(keys), free(dscore), free(scratch), free(idx), free(score), free(dq), free(dk), free(dqr), free(dkr);
    free(ds);
}

// Read-out weights: lane-strided argmax pushes and sums, xor-tree merges (memory_weights.cu).
static void weights_case(int N, int K, int hard, int with_noise) {
    float *score = frandv((size_t)N * K, 3.0f), *noise = with_noise ? frandv((size_t)N * K, 1.0f) : NULL;
    for (int n = 0; n < N; n++)  // ties: the first maximum must win
        for (int k = 0; k < K; k++)
            if (n % 3 == 0) score[(size_t)n * K + k] = (float)((k * 7 + n) % 4);
    if (N > 4) {
        for (int k = 0; k < K; k++) score[(size_t)4 * K + k] = -INFINITY;  // nothing above -inf: candidate 0
        score[(size_t)2 * K + K / 2] = NAN;                                 // a NaN never wins
        if (noise) noise[(size_t)2 * K + K / 2] = 0.0f;
    }
    float *w = calloc((size_t)N * K, 4), *y = calloc((size_t)N * K, 4), *wr = calloc((size_t)N * K, 4),
          *yr = calloc((size_t)N * K, 4);
    mm_cpu_memory_weights_forward(wr, yr, score, noise, N, K, hard);
    for (int n = 0; n < N; n++) {
        const float *s = score + (size_t)n * K, *g = noise ? noise + (size_t)n * K : NULL;
        float mx[LANES], sum[LANES];
        int arg[LANES];
        for (int l = 0; l < LANES; l++) {
            mx[l] = -INFINITY, arg[l] = MM_ARGMAX_NONE;
            for (int k = l; k < K; k += 32) mm_argmax_push(&mx[l], &arg[l], s[k] + (g ? g[k] : 0.0f), k);
        }
        for (int o = 16; o > 0; o >>= 1) {
            float m2[LANES];
            int a2[LANES];
            for (int l = 0; l < LANES; l++) m2[l] = mx[l ^ o], a2[l] = arg[l ^ o];
            for (int l = 0; l < LANES; l++) mm_argmax_merge(&mx[l], &arg[l], m2[l], a2[l]);
        }
        for (int l = 1; l < LANES; l++) cr_assert(arg[l] == arg[0] && (mx[l] == mx[0] || (isnan(mx[l]) && isnan(mx[0]))));
        for (int l = 0; l < LANES; l++) {
            sum[l] = 0.0f;
            for (int k = l; k < K; k += 32) sum[l] += expf(s[k] + (g ? g[k] : 0.0f) - mx[0]);
        }
        float tot = replay_warp_sum(sum);
        int best = mm_argmax_final(arg[0]);
        for (int k = 0; k < K; k++) {
            float p = expf(s[k] + (g ? g[k] : 0.0f) - mx[0]) / tot;
            y[(size_t)n * K + k] = p;
            w[(size_t)n * K + k] = hard ? (k == best ? 1.0f : 0.0f) : p;
        }
    }
    for (size_t i = 0; i < (size_t)N * K; i++) {
        if (isnan(yr[i])) {
            cr_assert(isnan(y[i]), "ysoft[%zu]: %g, cpu NaN", i, y[i]);
            continue;
        }
        cr_assert_lt(fabsf(y[i] - yr[i]), 1e-6f, "ysoft[%zu]: %g, cpu %g", i, y[i], yr[i]);
        if (hard) cr_assert_eq(w[i], wr[i], "hard w[%zu]: %g, cpu %g", i, w[i], wr[i]);
    }
    // backward: dot by lanes then the tree
    float *dw = frandv((size_t)N * K, 1.0f), *ds = calloc((size_t)N * K, 4), *dsr = calloc((size_t)N * K, 4);
    mm_cpu_memory_weights_backward(dsr, dw, yr, N, K);
    for (int n = 0; n < N; n++) {
        const float *yy = yr + (size_t)n * K, *d = dw + (size_t)n * K;
        float part[LANES];
        for (int l = 0; l < LANES; l++) {
            part[l] = 0.0f;
            for (int k = l; k < K; k += 32) part[l] += yy[k] * d[k];
        }
        float dot = replay_warp_sum(part);
        for (int k = 0; k < K; k++) ds[(size_t)n * K + k] = yy[k] * (d[k] - dot);
    }
    for (size_t i = 0; i < (size_t)N * K; i++)
        if (!isnan(dsr[i])) cr_assert_lt(fabsf(ds[i] - dsr[i]), 1e-6f, "dscore[%zu]: %g, cpu %g", i, ds[i], dsr[i]);
    free(score), free(noise), free(w), free(y), free(wr), free(yr), free(dw), free(ds), free(dsr);
}

Test(cuda_host, memory_weights_warp_trees_match_cpu) {
    weights_case(9, 16, 0, 0);
    weights_case(9, 16, 1, 1);
    weights_case(7, 1, 1, 0);
    weights_case(6, 100, 1, 1);
    weights_case(6, 256, 0, 1);
}

// Read-out, dense as the kernels (memory_read.cu), with the products as loops: per chunk of rows
// the coefficients A (mm_read_coef_row), m = A wte, dwte += A^T dm, G = dm wte^T and dw from G
// (mm_read_dw_from_products), against the CPU op.
Test(cuda_host, memory_read_dense_matches_cpu) {
    enum { N = 50, K = 6, C = 40, LK = 5, NUM = 90, V = 30 };
    int32_t *idx = malloc(sizeof(int32_t) * N * K);
    float *w = frandv((size_t)N * K, 1.0f), *wte = frandv((size_t)V * C, 1.0f), *dm = frandv((size_t)N * C, 1.0f);
    uint16_t *bank = calloc((size_t)NUM * LK, sizeof(uint16_t));
    for (int i = 0; i < N * K; i++) {
        idx[i] = (int32_t)((i * 37 + i / 7) % NUM);
        if (i % 5 == 0) w[i] = 0.0f;  // weightless candidates are skipped
    }
    for (int e = 0; e < NUM; e++)
        for (int t = 0; t < (e % 9 == 0 ? 0 : 1 + e % LK); t++) bank[e * LK + t] = (uint16_t)(1 + (e * 13 + t * 7) % (V - 1));
    bank[2 * LK + 1] = bank[2 * LK + 0];  // a token twice in one entry
    float *m = calloc((size_t)N * C, 4), *mr = calloc((size_t)N * C, 4);
    float *dw = calloc((size_t)N * K, 4), *dwr = calloc((size_t)N * K, 4);
    float *dwte = frandv((size_t)V * C, 1.0f), *dwter = fcopy(dwte, (size_t)V * C);
    mm_cpu_memory_read_forward(mr, idx, w, bank, LK, wte, N, K, C, V);
    mm_cpu_memory_read_backward(dwr, dwter, dm, idx, w, bank, LK, wte, N, K, C, V);
    const int R = mm_read_chunk_rows(N, V, 20L * V);  // 3 chunks: 20 + 20 + 10 rows
    cr_assert_eq(R, 20);
    float *A = malloc(sizeof(float) * (size_t)R * V);
    for (int r0 = 0; r0 < N; r0 += R) {
        const int rows = N - r0 < R ? N - r0 : R;
        memset(A, 0, sizeof(float) * (size_t)rows * V);
        for (int r = 0; r < rows; r++)
            mm_read_coef_row(A + (size_t)r * V, idx + (size_t)(r0 + r) * K, w + (size_t)(r0 + r) * K, bank, LK, K);
        for (int r = 0; r < rows; r++)  // m = A wte
            for (int c = 0; c < C; c++) {
                float acc = 0.0f;
                for (int t = 0; t < V; t++) acc += A[(size_t)r * V + t] * wte[(size_t)t * C + c];
                m[(size_t)(r0 + r) * C + c] = acc;
            }
        for (int t = 0; t < V; t++)  // dwte += A^T dm
            for (int c = 0; c < C; c++) {
                float acc = 0.0f;
                for (int r = 0; r < rows; r++) acc += A[(size_t)r * V + t] * dm[(size_t)(r0 + r) * C + c];
                dwte[(size_t)t * C + c] += acc;
            }
        for (int r = 0; r < rows; r++)  // G = dm wte^T, into A
            for (int t = 0; t < V; t++) {
                float acc = 0.0f;
                for (int c = 0; c < C; c++) acc += dm[(size_t)(r0 + r) * C + c] * wte[(size_t)t * C + c];
                A[(size_t)r * V + t] = acc;
            }
        for (int rk = 0; rk < rows * K; rk++)
            dw[(size_t)r0 * K + rk] = mm_read_dw_from_products(A + (size_t)(rk / K) * V,
                                                               bank + (size_t)idx[(size_t)r0 * K + rk] * LK, LK);
    }
    cr_expect_lt(relerr(m, mr, (size_t)N * C), 1e-5, "read forward");
    cr_expect_lt(relerr(dw, dwr, (size_t)N * K), 1e-5, "read dw");
    cr_expect_lt(relerr(dwte, dwter, (size_t)V * C), 1e-5, "read dwte");
    float g[V];
    for (int t = 0; t < V; t++) g[t] = 1.0f + (float)t;
    cr_expect_eq(mm_read_dw_from_products(g, bank + 0 * LK, LK), 0.0f, "empty entry");
    free(idx), free(w), free(wte), free(dm), free(bank), free(m), free(mr), free(dw), free(dwr), free(dwte), free(dwter);
    free(A);
}

Test(cuda_host, copy_rows_op) {
    const int rows = 7, cols = 5, ldd = 9, lds = 6;
    float *src = frandv((size_t)rows * lds, 1.0f), *dst = frandv((size_t)rows * ldd, 1.0f);
    float *orig = fcopy(dst, (size_t)rows * ldd);
    mm_cpu_copy_rows(dst, ldd, src, lds, rows, cols, 1);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < ldd; c++)
            cr_assert_eq(dst[r * ldd + c], c < cols ? orig[r * ldd + c] + src[r * lds + c] : orig[r * ldd + c]);
    mm_cpu_copy_rows(dst, ldd, src, lds, rows, cols, 0);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < ldd; c++) cr_assert_eq(dst[r * ldd + c], c < cols ? src[r * lds + c] : orig[r * ldd + c]);
    free(src), free(dst), free(orig);
}

// ---- the flash kernels' shared-memory tiles (smem_tile.h): 64 rows of 16, 32 or 64 values

// How many distinct 16-byte chunk slots (0 .. 7 within a 128-byte line: 4 of the 32 banks each)
// the n accesses (value offsets of 16-bit values) fall in: accesses of one phase in distinct slots
// take distinct banks.
static int tile_slots(const int *at, int n) {
    unsigned seen = 0;
    for (int i = 0; i < n; i++) seen |= 1u << (at[i] * 2 / 16 % 8);
    return __builtin_popcount(seen);
}

Test(cuda_host, smem_tile_permutes_whole_chunks_within_rows) {
    for (int cols = 16; cols <= 64; cols *= 2) {
        const int n = 64 * cols;
        char *hit = calloc((size_t)n, 1);
        cr_assert(hit);
        for (int r = 0; r < 64; r++)
            for (int c = 0; c < cols; c++) {
                const int at = mm_tile_at(cols, r, c);
                cr_assert(at >= 0 && at < n, "cols %d: (%d, %d) at %d", cols, r, c, at);
                cr_assert_eq(at / cols, r, "cols %d: (%d, %d) left its row", cols, r, c);
                cr_assert_eq(at - mm_tile_at(cols, r, c & ~7), c & 7, "cols %d: the chunk of (%d, %d) split",
                             cols, r, c);
                cr_assert(!hit[at], "cols %d: (%d, %d) lands where another value is", cols, r, c);
                hit[at] = 1;
            }
        free(hit);
    }
}

// The ldmatrix helpers' (mma.h) step: the address of (r0 + r, c0 + c) from that of (r, c), for
// every block origin the kernels use (r0 % 8 == 0 within the tile, c0 % 16 == 0) and every
// position in the block, in tiles at 128-byte aligned addresses.
Test(cuda_host, smem_tile_steps_from_a_lane_address_by_constants) {
    const uintptr_t bases[] = {0, 128, 128 * 1001, (uintptr_t)1 << 40};
    for (int cols = 16; cols <= 64; cols *= 2)
        for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++)
            for (int r0 = 0; r0 + 16 <= 64; r0 += 8)
                for (int c0 = 0; c0 < cols; c0 += 16)
                    for (int r = 0; r < 16; r++)
                        for (int c = 0; c < 16; c++) {
                            const uintptr_t lane = bases[b] + 2 * (uintptr_t)mm_tile_at(cols, r, c);
                            const uintptr_t want = bases[b] + 2 * (uintptr_t)mm_tile_at(cols, r0 + r, c0 + c);
                            cr_assert_eq(mm_tile_addr_step(lane, cols, r0, c0), want,
                                         "cols %d: block (%d, %d), value (%d, %d)", cols, r0, c0, r, c);
                        }
}

// Every access phase of the flash kernels takes one shared-memory wavefront: an ldmatrix matrix
// (8 rows at one chunk column), a cp.async phase (8 lanes, consecutive chunks in mm_fa_stage's
// order), an 8-byte store phase (16 lanes, consecutive 4-value pieces: every bank once).
Test(cuda_host, smem_tile_accesses_are_free_of_bank_conflicts) {
    for (int cols = 16; cols <= 64; cols *= 2) {
        const int chunks = cols / 8;
        for (int r0 = 0; r0 < 64; r0 += 8)
            for (int q = 0; q < chunks; q++) {
                int at[8];
                for (int j = 0; j < 8; j++) at[j] = mm_tile_at(cols, r0 + j, 8 * q);
                cr_expect_eq(tile_slots(at, 8), 8, "cols %d: ldmatrix rows %d.. at chunk %d", cols, r0, q);
            }
        for (int e0 = 0; e0 < 64 * chunks; e0 += 8) {
            int at[8];
            for (int j = 0; j < 8; j++) at[j] = mm_tile_at(cols, (e0 + j) / chunks, 8 * ((e0 + j) % chunks));
            cr_expect_eq(tile_slots(at, 8), 8, "cols %d: cp.async chunks %d..", cols, e0);
        }
        for (int e0 = 0; e0 < 64 * cols / 4; e0 += 16) {
            unsigned banks = 0;
            for (int j = 0; j < 16; j++) {
                const int e = e0 + j, at = mm_tile_at(cols, e / (cols / 4), 4 * (e % (cols / 4)));
                banks |= 3u << (at / 2 % 32);  // 8 bytes: two 4-byte banks
            }
            cr_expect_eq(banks, 0xffffffffu, "cols %d: 8-byte stores %d..", cols, e0);
        }
    }
    // the measure can fail: rows of 64 values unswizzled put an ldmatrix matrix in one slot
    int plain[8];
    for (int j = 0; j < 8; j++) plain[j] = j * 64;
    cr_assert_eq(tile_slots(plain, 8), 1);
}
