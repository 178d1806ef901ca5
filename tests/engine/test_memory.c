// The memory layer (minimind/memory.h) on its own:
//  - product-key top-K equals the brute-force top-K over all NUM entries (scores in double);
//  - finite-difference gradients through the whole layer (softmax mode) for z, W_q, keys, embeddings;
//  - parity with an independent PyTorch layer (tests/reference/memory_ref.py layer: brute-force
//    top-K, autograd), softmax and straight-through Gumbel;
//  - shape validation, empty entries, usage statistics against hand-computed values, and EMA
//    updates (frozen entries untouched, ids < V, rewritten toward the hidden states).
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "minimind/memory.h"
#include "minimind/safetensors.h"
#include "parity_util.h"
#include "test_rand.h"
#include "test_util.h"

#define REF_SCRIPT MM_SOURCE_DIR "/tests/reference/memory_ref.py"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) { return mm_test_urand(&rng_state); }
static void fill_rand(float *p, size_t n, float scale) { mm_test_fill_rand(&rng_state, p, n, scale); }
static void *zalloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    cr_assert(p != NULL);
    return p;
}
static const mm_backend *be(void) { return mm_backend_cpu(); }

// ------------------------------------------------------------------ product-key top-K

static double full_score(const float *q, const float *keys, int D, int S, int e) {
    int Dh = D / 2;
    const float *k1 = keys + (size_t)(e / S) * Dh, *k2 = keys + ((size_t)S + e % S) * Dh;
    double s = 0;
    for (int d = 0; d < Dh; d++) s += (double)q[d] * k1[d] + (double)q[Dh + d] * k2[d];
    return s;
}

static int cmp_desc(const void *a, const void *b) {
    const double *x = a, *y = b;  // (score, index)
    if (x[0] != y[0]) return x[0] < y[0] ? 1 : -1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

static void topk_case(int N, int D, int S, int K) {
    const int NUM = S * S;
    float *q = zalloc(sizeof(float) * N * D), *keys = zalloc(sizeof(float) * 2 * S * (D / 2));
    fill_rand(q, (size_t)N * D, 1), fill_rand(keys, (size_t)2 * S * (D / 2), 1);
    int32_t *idx = zalloc(sizeof(int32_t) * N * K);
    float *score = zalloc(sizeof(float) * N * K);
    float *scratch = zalloc(sizeof(float) * 2 * MM_MEMORY_TOPK_ROWS * S);
    be()->memory_topk(idx, score, q, keys, N, D, S, K, scratch);
    double *all = zalloc(sizeof(double) * 2 * NUM);
    int near_ties = 0;
    for (int n = 0; n < N; n++) {
        const float *qn = q + (size_t)n * D;
        for (int e = 0; e < NUM; e++) all[2 * e] = full_score(qn, keys, D, S, e), all[2 * e + 1] = e;
        qsort(all, NUM, 2 * sizeof(double), cmp_desc);
        for (int c = 0; c < K; c++) {
            int got = idx[n * K + c], want = (int)all[2 * c + 1];
            double sg = full_score(qn, keys, D, S, got);
            cr_assert(fabs(score[n * K + c] - sg) <= 1e-5 * fmax(1, fabs(sg)), "row %d cand %d: score %g, exact %g", n,
                      c, score[n * K + c], sg);
            if (got != want) {  // only acceptable between scores equal up to float rounding
                cr_assert(fabs(sg - all[2 * c]) <= 1e-5, "N=%d S=%d K=%d row %d cand %d: entry %d (%.7f), brute force %d (%.7f)",
                          N, S, K, n, c, got, sg, want, all[2 * c]);
                near_ties++;
            }
        }
    }
    cr_log_info("top-K N=%d D=%d S=%d K=%d: identical to brute force (%d near-ties)", N, D, S, K, near_ties);
    cr_expect(near_ties <= N * K / 100, "too many near ties: %d", near_ties);
    free(q), free(keys), free(idx), free(score), free(scratch), free(all);
}

Test(memory, product_key_topk_equals_brute_force) {
    topk_case(300, 16, 32, 16);  // 300 rows span two MM_MEMORY_TOPK_ROWS chunks; NUM = 1024
    topk_case(20, 8, 64, 32);    // NUM = 4096
    topk_case(40, 6, 5, 7);      // odd S, K > S
    topk_case(10, 4, 4, 16);     // K = NUM: every entry, in order
    topk_case(50, 10, 16, 1);
}

Test(memory, ties_prefer_lower_entries) {
    enum { S = 4, D = 2, K = 5 };
    float q[D] = {1, 1}, keys[2 * S] = {0.5f, 0.5f, 0.5f, 0.5f, 0, 0, 0, 0};  // all 16 entries score 0.5
    int32_t idx[K];
    float score[K], scratch[2 * MM_MEMORY_TOPK_ROWS * S];
    be()->memory_topk(idx, score, q, keys, 1, D, S, K, scratch);
    for (int c = 0; c < K; c++) cr_assert_eq(idx[c], c, "cand %d is entry %d", c, idx[c]);
}

// ------------------------------------------------------------------ the layer

typedef struct layer_fix {
    mm_memory_shape s;
    int N;
    float *z, *wq, *keys, *wte, *R, *m, *noise, *scratch;
    uint16_t *bank;
    mm_memory_acts a;
} layer_fix;

static void layer_setup(layer_fix *f, int N, int C, int D, int S, int LK, int K, int V, mm_memory_select sel) {
    memset(f, 0, sizeof *f);
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    cfg.dim = C, cfg.knowledge_dim = D, cfg.knowledge_num = S * S, cfg.knowledge_length = LK, cfg.vocab_size = V;
    cr_assert_eq(mm_memory_shape_init(&f->s, &cfg, K, sel), 0, "%s", mm_error_message());
    f->N = N;
    const int NUM = S * S;
    f->z = zalloc(sizeof(float) * N * C), f->wq = zalloc(sizeof(float) * D * C);
    f->keys = zalloc(sizeof(float) * 2 * S * (D / 2)), f->wte = zalloc(sizeof(float) * V * C);
    f->R = zalloc(sizeof(float) * N * C), f->m = zalloc(sizeof(float) * N * C);
    f->noise = zalloc(sizeof(float) * N * K);
    f->bank = zalloc(sizeof(uint16_t) * NUM * LK);
    f->scratch = zalloc(sizeof(float) * mm_memory_scratch_floats(&f->s, N));
    fill_rand(f->z, (size_t)N * C, 1.5f), fill_rand(f->wq, (size_t)D * C, 1.0f / sqrtf((float)C));
    fill_rand(f->keys, (size_t)2 * S * (D / 2), 0.7f), fill_rand(f->wte, (size_t)V * C, 1.0f);
    fill_rand(f->R, (size_t)N * C, 1.0f);
    mm_memory_gumbel_noise(f->noise, (size_t)N * K, 7, 1);
    for (int e = 0; e < NUM; e++) {
        int len = e % 5 == 4 ? 0 : 1 + (int)(urand() * LK);  // every 5th entry empty, others padded
        for (int t = 0; t < len && t < LK; t++) f->bank[e * LK + t] = (uint16_t)(1 + urand() * (V - 1));
    }
    f->a.q = zalloc(sizeof(float) * N * D), f->a.idx = zalloc(sizeof(int32_t) * N * K);
    f->a.score = zalloc(sizeof(float) * N * K), f->a.w = zalloc(sizeof(float) * N * K);
    f->a.ysoft = zalloc(sizeof(float) * N * K);
}

static void layer_free(layer_fix *f) {
    free(f->z), free(f->wq), free(f->keys), free(f->wte), free(f->R), free(f->m), free(f->noise), free(f->bank);
    free(f->scratch), free(f->a.q), free(f->a.idx), free(f->a.score), free(f->a.w), free(f->a.ysoft);
}

static double layer_loss(layer_fix *f, int use_noise) {
    mm_memory_weights w = {f->wq, f->keys};
    mm_memory_forward(be(), &f->s, &w, f->bank, f->wte, f->z, use_noise ? f->noise : NULL, f->N, &f->a, f->m,
                      f->scratch);
    double L = 0;
    for (size_t i = 0; i < (size_t)f->N * f->s.C; i++) L += (double)f->m[i] * f->R[i];
    return L;
}

typedef struct grads {
    float *z, *wq, *keys, *wte;
} grads;

static void layer_grads(layer_fix *f, grads *g, int use_noise) {
    const mm_memory_shape *s = &f->s;
    g->z = zalloc(sizeof(float) * f->N * s->C), g->wq = zalloc(sizeof(float) * s->D * s->C);
    g->keys = zalloc(sizeof(float) * 2 * s->S * (s->D / 2)), g->wte = zalloc(sizeof(float) * s->V * s->C);
    layer_loss(f, use_noise);
    mm_memory_weights w = {f->wq, f->keys}, dw = {g->wq, g->keys};
    mm_memory_backward(be(), s, &w, &dw, f->bank, f->wte, g->wte, f->z, &f->a, f->R, f->N, g->z, f->scratch);
}

static void grads_free(grads *g) { free(g->z), free(g->wq), free(g->keys), free(g->wte); }

static double fd(layer_fix *f, const char *what, float *x, const float *an, size_t n, size_t samples, double tol) {
    const float h = 1e-3f;
    double amax = 0, emax = 0;
    for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs(an[i]));
    size_t step = samples >= n ? 1 : n / samples;
    for (size_t i = 0; i < n; i += step) {
        float o = x[i];
        x[i] = o + h;
        double lp = layer_loss(f, 0);
        x[i] = o - h;
        double lm = layer_loss(f, 0);
        x[i] = o;
        emax = fmax(emax, fabs((lp - lm) / (2.0 * h) - an[i]));
    }
    double rel = emax / fmax(amax, 1e-30);
    cr_log_info("memory gradcheck %-6s rel err %.3e (max |grad| %.3e)", what, rel, amax);
    cr_expect(amax > 0, "%s: gradient all zero", what);
    cr_expect(rel <= tol, "%s: finite-difference rel err %.3e > %.1e", what, rel, tol);
    return rel;
}

Test(memory, finite_difference_gradients_softmax) {
    layer_fix f;
    layer_setup(&f, 6, 24, 8, 6, 5, 8, 40, MM_MEMORY_SELECT_SOFTMAX);
    grads g;
    layer_grads(&f, &g, 0);
    // the selection must not change under the perturbation: check that candidate K+1 is well behind
    const mm_memory_shape *s = &f.s;
    fd(&f, "z", f.z, g.z, (size_t)f.N * s->C, 10000, 2e-2);
    fd(&f, "wq", f.wq, g.wq, (size_t)s->D * s->C, 10000, 2e-2);
    fd(&f, "keys", f.keys, g.keys, (size_t)2 * s->S * (s->D / 2), 10000, 2e-2);
    fd(&f, "wte", f.wte, g.wte, (size_t)s->V * s->C, 10000, 2e-2);
    grads_free(&g);
    layer_free(&f);
}

Test(memory, empty_bank_reads_zero) {
    layer_fix f;
    layer_setup(&f, 4, 8, 4, 3, 4, 5, 10, MM_MEMORY_SELECT_SOFTMAX);
    memset(f.bank, 0, sizeof(uint16_t) * 9 * 4);
    layer_loss(&f, 0);
    for (int i = 0; i < 4 * 8; i++) cr_assert_eq(f.m[i], 0.0f);
    for (int n = 0; n < 4; n++) {
        double sum = 0;
        for (int k = 0; k < 5; k++) sum += f.a.w[n * 5 + k];
        cr_assert_float_eq(sum, 1.0, 1e-6, "softmax weights sum to %g", sum);
    }
    layer_free(&f);
}

Test(memory, gumbel_forward_is_one_hot) {
    layer_fix f;
    layer_setup(&f, 30, 8, 4, 4, 3, 6, 12, MM_MEMORY_SELECT_GUMBEL);
    layer_loss(&f, 1);
    int moved = 0;
    for (int n = 0; n < 30; n++) {
        int ones = 0, arg = 0;
        for (int k = 0; k < 6; k++) {
            float w = f.a.w[n * 6 + k];
            cr_assert(w == 0.0f || w == 1.0f, "weight %g", w);
            if (w == 1.0f) ones++, arg = k;
        }
        cr_assert_eq(ones, 1);
        moved += arg != 0;  // the noise sometimes picks another than the best-scored candidate
    }
    cr_expect(moved > 0 && moved < 30, "noise moved %d of 30 selections", moved);
    // without noise (inference) the best-scored candidate is read
    layer_loss(&f, 0);
    for (int n = 0; n < 30; n++) cr_assert_eq(f.a.w[n * 6], 1.0f);
    layer_free(&f);
}

Test(memory, shape_validation) {
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    mm_memory_shape s;
    cfg.knowledge_num = 1000;
    cr_assert_eq(mm_memory_shape_init(&s, &cfg, 16, MM_MEMORY_SELECT_SOFTMAX), -1);
    cr_assert(strstr(mm_error_message(), "knowledge_num = 1000 is not a perfect square"), "%s", mm_error_message());
    cr_assert(strstr(mm_error_message(), "961 or 1024"), "%s", mm_error_message());
    cfg.knowledge_num = 1024, cfg.knowledge_dim = 7;
    cr_assert_eq(mm_memory_shape_init(&s, &cfg, 16, MM_MEMORY_SELECT_SOFTMAX), -1);
    cr_assert(strstr(mm_error_message(), "knowledge_dim"), "%s", mm_error_message());
    cfg.knowledge_dim = 8, cfg.knowledge_num = 9;
    cr_assert_eq(mm_memory_shape_init(&s, &cfg, 10, MM_MEMORY_SELECT_SOFTMAX), -1);
    cr_assert(strstr(mm_error_message(), "num_candidates = 10"), "%s", mm_error_message());
    cr_assert_eq(mm_memory_shape_init(&s, &cfg, 9, MM_MEMORY_SELECT_SOFTMAX), 0);
    cr_assert_eq(s.S, 3);
}

// ------------------------------------------------------------------ PyTorch parity

static void add(mm_safetensors *st, const char *name, mm_dtype dt, int nd, int64_t d0, int64_t d1, int64_t d2,
                const void *data) {
    int64_t shape[3] = {d0, d1, d2};
    cr_assert_eq(mm_st_add(st, name, dt, nd, shape, data), 0, "%s", mm_error_message());
}

static const float *need_bytes(const mm_safetensors *st, const char *name, size_t bytes) {
    const mm_st_tensor *t = mm_st_find(st, name);
    cr_assert_not_null(t, "python output lacks '%s'", name);
    cr_assert_eq(t->nbytes, bytes, "'%s': %zu bytes, want %zu", name, t->nbytes, bytes);
    return t->data;
}

static void layer_parity(mm_memory_select sel) {
    layer_fix f;
    layer_setup(&f, 40, 32, 16, 8, 6, 8, 50, sel);
    const mm_memory_shape *s = &f.s;
    const int use_noise = sel == MM_MEMORY_SELECT_GUMBEL;
    grads g;
    layer_grads(&f, &g, use_noise);

    char *dir = mm_test_tmpdir("memref");
    char *in = mm_test_path(dir, "in.safetensors"), *out = mm_test_path(dir, "out.safetensors");
    int32_t *bank32 = zalloc(sizeof(int32_t) * s->num * s->LK);
    for (int i = 0; i < s->num * s->LK; i++) bank32[i] = f.bank[i];
    mm_safetensors st;
    mm_st_init(&st);
    add(&st, "z", MM_F32, 2, f.N, s->C, 0, f.z);
    add(&st, "wq", MM_F32, 2, s->D, s->C, 0, f.wq);
    add(&st, "keys", MM_F32, 3, 2, s->S, s->D / 2, f.keys);
    add(&st, "bank", MM_I32, 2, s->num, s->LK, 0, bank32);
    add(&st, "wte", MM_F32, 2, s->V, s->C, 0, f.wte);
    add(&st, "R", MM_F32, 2, f.N, s->C, 0, f.R);
    if (use_noise) add(&st, "noise", MM_F32, 2, f.N, s->K, 0, f.noise);
    char k[16];
    snprintf(k, sizeof k, "%d", s->K);
    cr_assert_eq(mm_st_set_meta(&st, "K", k), 0);
    cr_assert_eq(mm_st_set_meta(&st, "select", mm_memory_select_name(sel)), 0);
    cr_assert_eq(mm_st_write(&st, in), 0, "%s", mm_error_message());
    mm_st_free(&st);

    const char *argv[] = {mm_test_python(), REF_SCRIPT, "layer", in, out, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "memory_ref.py layer failed (%d):\n%s", r.status, r.err);
    mm_proc_result_free(&r);
    mm_safetensors ref;
    cr_assert_eq(mm_st_read(&ref, out), 0, "%s", mm_error_message());
    const size_t NK = (size_t)f.N * s->K, NC = (size_t)f.N * s->C;
    const int32_t *ridx = (const int32_t *)need_bytes(&ref, "idx", NK * 4);
    for (size_t i = 0; i < NK; i++) cr_assert_eq(f.a.idx[i], ridx[i], "candidate %zu: entry %d, torch %d", i, f.a.idx[i], ridx[i]);
    struct {
        const char *name;
        const float *c;
        size_t n;
    } cmp[] = {{"score", f.a.score, NK}, {"w", f.a.w, NK},          {"m", f.m, NC},
               {"grad.z", g.z, NC},      {"grad.wq", g.wq, (size_t)s->D * s->C},
               {"grad.keys", g.keys, (size_t)2 * s->S * (s->D / 2)}, {"grad.wte", g.wte, (size_t)s->V * s->C}};
    for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++) {
        double e = rel_err(cmp[i].c, need_bytes(&ref, cmp[i].name, cmp[i].n * 4), cmp[i].n);
        cr_log_info("memory layer (%s) %-9s rel err %.2e", mm_memory_select_name(sel), cmp[i].name, e);
        cr_expect(e <= 1e-5, "%s (%s): rel err %.3e", cmp[i].name, mm_memory_select_name(sel), e);
    }
    mm_st_free(&ref);
    mm_test_rmtree(dir);
    free(dir), free(in), free(out), free(bank32);
    grads_free(&g);
    layer_free(&f);
}

Test(memory, layer_vs_pytorch_softmax) {
    MM_NEED_PYTHON("torch,safetensors");
    layer_parity(MM_MEMORY_SELECT_SOFTMAX);
}

Test(memory, layer_vs_pytorch_gumbel) {
    MM_NEED_PYTHON("torch,safetensors");
    layer_parity(MM_MEMORY_SELECT_GUMBEL);
}

// ------------------------------------------------------------------ usage statistics and EMA

Test(memory, usage_statistics_hand_computed) {
    mm_memory_tracker t;
    cr_assert_eq(mm_memory_tracker_init(&t, mm_backend_cpu(), 8, 4, 0), 0);
    int32_t idx[4] = {0, 1, 0, 2};  // N = 2 rows, K = 2
    float w[4] = {0.5f, 0.5f, 0.75f, 0.25f};
    cr_assert_eq(mm_memory_tracker_add(&t, idx, w, NULL, 2, 2), 0);
    mm_memory_stats st;
    mm_memory_stats_take(&t, &st, 1);
    // usage 1.25, 0.5, 0.25 of 2: p = 0.625, 0.25, 0.125
    double H = -(0.625 * log(0.625) + 0.25 * log(0.25) + 0.125 * log(0.125));
    cr_assert_float_eq(st.used_fraction, 3.0 / 8.0, 1e-12);
    cr_assert_float_eq(st.entropy, H, 1e-9);
    cr_assert_float_eq(st.kl_uniform, log(8.0) - H, 1e-9);
    mm_memory_stats_take(&t, &st, 0);  // the window was reset
    cr_assert_eq(st.used_fraction, 0.0);
    mm_memory_tracker_free(&t);
}

Test(memory, ema_rewrites_used_entries_and_never_frozen_ones) {
    enum { NUM = 16, C = 8, V = 12, LK = 4, N = 32, K = 2 };
    float wte[V * C], norm_w[C], h[N * C];
    fill_rand(wte, V * C, 1.0f);
    for (int c = 0; c < C; c++) norm_w[c] = 1.0f + 0.1f * (float)c;
    uint16_t bank[NUM * LK], before[NUM * LK];
    for (int i = 0; i < NUM * LK; i++) bank[i] = (uint16_t)(1 + urand() * (V - 1));
    memcpy(before, bank, sizeof bank);
    // every row selects one of the entries 0..15 with the hidden state 20 * E[7]: a strong pull
    int32_t idx[N * K];
    float w[N * K];
    for (int n = 0; n < N; n++) {
        idx[n * K] = n % NUM, idx[n * K + 1] = (n + 5) % NUM;
        w[n * K] = 0.75f, w[n * K + 1] = 0.25f;
        for (int c = 0; c < C; c++) h[n * C + c] = 20.0f * wte[7 * C + c];
    }
    mm_memory_tracker t;
    cr_assert_eq(mm_memory_tracker_init(&t, mm_backend_cpu(), NUM, C, 1), 0);
    cr_assert_eq(mm_memory_tracker_add(&t, idx, w, h, N, K), 0);
    const int frozen = 6;  // freeze_ratio 0.375 of 16
    long changed = mm_memory_ema_update(be(), &t, bank, LK, wte, norm_w, V, C, 0.5f, frozen);
    // independent expectation, in double: x = 0.5 E[old token] + 0.5 * hbar, hbar = 20 E[7] (every
    // row had the same hidden state); new token = argmax_v (x * g) . E[v]
    int rewritten = 0, sevens = 0;
    for (int e = 0; e < NUM; e++) {
        int diff = memcmp(bank + e * LK, before + e * LK, sizeof(uint16_t) * LK) != 0;
        if (e < frozen) cr_assert(!diff, "frozen entry %d changed", e);
        rewritten += diff;
        for (int p = 0; p < LK; p++) {
            cr_assert_lt(bank[e * LK + p], V);
            if (e < frozen) continue;
            int best = 0;
            double bestv = -1e300;
            for (int v = 0; v < V; v++) {
                double sc = 0;
                for (int c = 0; c < C; c++)
                    sc += (0.5 * wte[before[e * LK + p] * C + c] + 10.0 * wte[7 * C + c]) * norm_w[c] * wte[v * C + c];
                if (sc > bestv) bestv = sc, best = v;
            }
            cr_assert_eq(bank[e * LK + p], best, "entry %d pos %d: %d, expected %d", e, p, bank[e * LK + p], best);
            sevens += best == 7;
        }
    }
    cr_assert_gt(sevens, (NUM - frozen) * LK / 2, "the pull toward token 7 should win mostly (%d)", sevens);
    cr_assert_eq(changed, rewritten);
    cr_assert_gt(changed, 0);
    mm_memory_stats st;
    mm_memory_stats_take(&t, &st, 1);
    cr_assert_eq(st.rewritten, changed);
    cr_assert_eq(st.updates, 1);
    // the EMA window was cleared: a second update changes nothing
    cr_assert_eq(mm_memory_ema_update(be(), &t, bank, LK, wte, norm_w, V, C, 0.5f, frozen), 0);
    mm_memory_tracker_free(&t);
}

// The read-out ops against naive double loops, on a size that spans several row chunks of the
// kernels' distinct-entry scratch (N * K * C > 2M floats) with many shared entries.
Test(memory, read_ops_match_naive_loops_across_chunks) {
    enum { N = 300, K = 16, C = 512, LK = 5, NUM = 400, V = 50 };
    int32_t *idx = zalloc(sizeof(int32_t) * N * K);
    float *w = zalloc(sizeof(float) * N * K), *wte = zalloc(sizeof(float) * V * C), *dm = zalloc(sizeof(float) * N * C);
    float *m = zalloc(sizeof(float) * N * C), *dw = zalloc(sizeof(float) * N * K), *dwte = zalloc(sizeof(float) * V * C);
    uint16_t *bank = zalloc(sizeof(uint16_t) * NUM * LK);
    for (int i = 0; i < N * K; i++) idx[i] = (int32_t)(urand() * NUM), w[i] = i % 7 == 0 ? 0.0f : (float)urand();
    for (int e = 0; e < NUM; e++)
        for (int t = 0; t < (e % 9 == 0 ? 0 : 1 + e % LK); t++) bank[e * LK + t] = (uint16_t)(1 + urand() * (V - 1));
    fill_rand(wte, V * C, 1), fill_rand(dm, N * C, 1);
    be()->memory_read_forward(m, idx, w, bank, LK, wte, N, K, C, V);
    be()->memory_read_backward(dw, dwte, dm, idx, w, bank, LK, wte, N, K, C, V);
    double *rdwte = calloc((size_t)V * C, sizeof(double)), em = 0, edw = 0, edwte = 0, vmax = 0;
    for (int n = 0; n < N; n++) {
        double mo[C];
        memset(mo, 0, sizeof mo);
        for (int k = 0; k < K; k++) {
            const uint16_t *row = bank + idx[n * K + k] * LK;
            int cnt = 0;
            for (int t = 0; t < LK; t++) cnt += row[t] != 0;
            double dot = 0;
            for (int t = 0; t < LK; t++) {
                if (!row[t]) continue;
                for (int i = 0; i < C; i++) {
                    mo[i] += (double)w[n * K + k] / cnt * wte[row[t] * C + i];
                    dot += (double)dm[n * C + i] * wte[row[t] * C + i] / cnt;
                    rdwte[row[t] * C + i] += (double)w[n * K + k] / cnt * dm[n * C + i];
                }
            }
            edw = fmax(edw, fabs(dot - dw[n * K + k]));
        }
        for (int i = 0; i < C; i++) em = fmax(em, fabs(mo[i] - m[n * C + i])), vmax = fmax(vmax, fabs(mo[i]));
    }
    for (int i = 0; i < V * C; i++) edwte = fmax(edwte, fabs(rdwte[i] - dwte[i]));
    cr_log_info("read ops vs naive: m %.2e dw %.2e dwte %.2e", em, edw, edwte);
    cr_assert(em < 1e-5 && edw < 1e-4 && edwte < 1e-3, "m %.3e dw %.3e dwte %.3e", em, edw, edwte);
    cr_assert_gt(vmax, 0.1);
    free(idx), free(w), free(wte), free(dm), free(m), free(dw), free(dwte), free(bank), free(rdwte);
}

// The EMA window survives a save/load round trip bit for bit; the reads after the last optimizer
// step (not committed) are not part of it; corrupt blobs are refused with the field named.
Test(memory, ema_window_round_trip_and_corrupt_blobs) {
    enum { NUM = 16, C = 4, N = 3, K = 2 };
    int32_t idx[N * K] = {1, 5, 5, 9, 1, 2};
    float w[N * K] = {0.5f, 0.5f, 0.25f, 0.75f, 1.0f, 0.0f}, h[N * C];
    fill_rand(h, N * C, 1.0f);
    mm_memory_tracker t, u;
    cr_assert_eq(mm_memory_tracker_init(&t, mm_backend_cpu(), NUM, C, 1), 0);
    cr_assert_eq(mm_memory_tracker_init(&u, mm_backend_cpu(), NUM, C, 1), 0);
    cr_assert_eq(mm_memory_tracker_add(&t, idx, w, h, N, K), 0);
    cr_assert_eq(mm_memory_tracker_commit(&t), 0);
    uint8_t *a, *b;
    size_t la, lb;
    cr_assert_eq(mm_memory_tracker_save_window(&t, &a, &la), 0);
    cr_assert_eq(la, 16 + 3 * (4 + 8 + 4 * C), "entries 1, 5, 9 (2 has weight 0): three records (%zu bytes)", la);
    cr_assert_eq(mm_memory_tracker_add(&t, idx, w, h, 1, K), 0);  // a micro-step after the boundary
    cr_assert_eq(mm_memory_tracker_save_window(&t, &b, &lb), 0);
    cr_assert(lb == la && memcmp(a, b, la) == 0, "uncommitted reads leaked into the saved window");
    free(b);
    cr_assert_eq(mm_memory_tracker_load_window(&u, a, la, "x.state"), 0, "%s", mm_error_message());
    cr_assert_eq(mm_memory_tracker_save_window(&u, &b, &lb), 0);
    cr_assert(lb == la && memcmp(a, b, la) == 0, "round trip changed the window");
    free(b);
    // hand check of one record: entry 5 has w 0.5 (row 0) + 0.25 (row 1)
    cr_assert_eq(u.window.wsum[u.window.slot[5]], 0.75);
    cr_assert_float_eq(u.window.hsum[(size_t)u.window.slot[5] * C], 0.5f * h[0] + 0.25f * h[C], 1e-6);

    uint8_t *bad = malloc(la);
    memcpy(bad, a, la);
    cr_assert_neq(mm_memory_tracker_load_window(&u, bad, la - 1, "x.state"), 0);
    cr_assert(strstr(mm_error_message(), "x.state: memory_ema") && strstr(mm_error_message(), "truncated"), "%s",
              mm_error_message());
    int32_t e = 99;
    memcpy(bad + 16, &e, 4);
    cr_assert_neq(mm_memory_tracker_load_window(&u, bad, la, "x.state"), 0);
    cr_assert(strstr(mm_error_message(), "entry 99 is out of range"), "%s", mm_error_message());
    memcpy(bad, a, la);
    bad[4] = 17;  // knowledge_num 17
    cr_assert_neq(mm_memory_tracker_load_window(&u, bad, la, "x.state"), 0);
    cr_assert(strstr(mm_error_message(), "knowledge_num 17"), "%s", mm_error_message());
    cr_assert_eq(u.window.n_slots, 0, "a refused blob leaves an empty window");
    free(bad);
    free(a);
    mm_memory_tracker_free(&t);
    mm_memory_tracker_free(&u);
}
