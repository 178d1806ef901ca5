// The CUDA backend against the CPU backend: every op on random inputs (fp32 tolerances; the memory
// layer's top-K exactly, ties included), the whole model's loss and gradients (also `model` and
// `model_no_feed`), 20 training steps' losses, resume exactness on the device; mixed precision:
// the matmuls and attention in bf16 / fp16 (looser tolerances) and 20 steps in bf16 and in fp16
// with loss scaling, against the CPU's fp32; the feed-forward and attention blocks' and the head's
// bf16 ops against their CPU reference (engine/src/cpu/ffn_bf16.c, attention_bf16.c,
// crossentropy_bf16.c), and the model with both blocks in bf16 against the CPU table with that
// reference (cpu_bf16.h).
// Without a usable GPU (no driver, no device, or a build without CUDA) these tests SKIP with a
// printed "no CUDA device: REASON" line — also under MM_REQUIRE_PEERS=1 (CI has no GPU); set
// MM_REQUIRE_GPU=1 (scripts/gpu_check.sh does) to make a missing GPU a failure.
// The device-selection tests at the end run everywhere and check the no-GPU behaviour of the CLI.
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_ops.h"    // the bf16 blocks' reference (engine/src/cpu/ffn_bf16.c, attention_bf16.c)
#include "cpu_bf16.h"       // the CPU table with that reference
#include "cuda/ops_math.h"  // mm_bf16_float
#include "minimind/backend.h"
#include "minimind/device.h"
#include "minimind/loss_scale.h"
#include "minimind/memory.h"
#include "minimind/model.h"
#include "minimind/optim.h"
#include "minimind/profile.h"
#include "test_rand.h"
#include "test_util.h"
#include "train_fixture.h"

static int gpu_required(void) {
    const char *v = getenv("MM_REQUIRE_GPU");
    return v && !strcmp(v, "1");
}

// The CUDA backend, or skip (fail with MM_REQUIRE_GPU=1) naming the reason.
static const mm_backend *need_gpu(void) {
    const char *why = "no CUDA device";
    int n = mm_cuda_device_count(&why);
    const mm_backend *be = n > 0 ? mm_backend_cuda(0) : NULL;
    if (!be) {
        const char *reason = n > 0 ? mm_error_message() : why;
        if (gpu_required()) cr_assert_fail("no CUDA device: %s (MM_REQUIRE_GPU=1)", reason);
        fprintf(stderr, "test_cuda: no CUDA device: %s — skipped\n", reason);
        cr_skip_test("no CUDA device: %s", reason);
    }
    return be;
}

// The backend in precision `name` ("fp32", "bf16", "fp16"), as the trainer sets it.
static void set_prec(const mm_backend *be, const char *name) {
    cr_assert(mm_backend_check_precision(be, name) == 0, "mixed_precision = %s: %s", name, mm_error_message());
}

static uint64_t rng = 0x243F6A8885A308D3ull;
static float frand(float s) { return mm_test_frand(&rng, s); }
static float *hrand(size_t n, float s) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    cr_assert(p);
    for (size_t i = 0; i < n; i++) p[i] = frand(s);
    return p;
}
static float *hzero(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    cr_assert(p);
    return p;
}
// Device copy of a host array.
static void *up(const mm_backend *be, const void *h, size_t bytes) {
    void *d = be->alloc(bytes);
    cr_assert(d, "%s", mm_error_message());
    be->copy_h2d(d, h, bytes);
    return d;
}
// A host copy (malloc'd) of n elements of `size` bytes of device buffer d.
static void *down_elems(const mm_backend *be, const void *d, size_t n, size_t size) {
    void *h = calloc(n ? n : 1, size);
    cr_assert(h);
    be->copy_d2h(h, d, n * size);
    cr_assert(!be->check || be->check() == 0, "%s", mm_error_message());
    return h;
}
static float *down(const mm_backend *be, const void *d, size_t n) { return down_elems(be, d, n, sizeof(float)); }
// Frees host buffers / device buffers of backend be: FREE_HOST(a, b, ...), FREE_DEV(be, a, b, ...).
static void free_host(void *const *p, size_t n) {
    for (size_t i = 0; i < n; i++) free(p[i]);
}
static void free_dev(const mm_backend *be, void *const *p, size_t n) {
    for (size_t i = 0; i < n; i++) be->free(p[i]);
}
#define PTRS(...) (void *const[]){__VA_ARGS__}, sizeof((void *const[]){__VA_ARGS__}) / sizeof(void *)
#define FREE_HOST(...) free_host(PTRS(__VA_ARGS__))
#define FREE_DEV(be, ...) free_dev(be, PTRS(__VA_ARGS__))

// max |g - cpu| / max(1e-3, max |cpu|) on the host
static double rel_diff(const float *g, const float *cpu, size_t n) {
    double e = 0.0, m = 1e-3;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)g[i] - cpu[i]);
        if (!(d <= e)) e = d;  // NaN propagates
        if (fabs(cpu[i]) > m) m = fabs(cpu[i]);
    }
    return e / m;
}
// max |gpu - cpu| / max(1e-3, max |cpu|), fails above tol
static double rel_error(const mm_backend *be, const float *dgpu, const float *cpu, size_t n) {
    float *g = down(be, dgpu, n);
    const double e = rel_diff(g, cpu, n);
    free(g);
    return e;
}
static void expect_close(const mm_backend *be, const float *dgpu, const float *cpu, size_t n, double tol,
                         const char *what) {
    double e = rel_error(be, dgpu, cpu, n);
    cr_expect(e <= tol, "%s: relative error %g > %g", what, e, tol);
}

// A device copy of h (n elements of `size` bytes) starting `skew` elements into its allocation
// (*base: to free): a float skew of 1 leaves the data 4 bytes past a 16-byte boundary.
static void *up_skewed_elems(const mm_backend *be, const void *h, size_t n, size_t size, int skew, void **base) {
    *base = be->alloc((n + (size_t)skew) * size);
    cr_assert(*base, "%s", mm_error_message());
    char *d = (char *)*base + (size_t)skew * size;
    be->copy_h2d(d, h, n * size);
    return d;
}
static float *up_skewed(const mm_backend *be, const float *h, size_t n, int skew, void **base) {
    return up_skewed_elems(be, h, n, sizeof(float), skew, base);
}

// RMSNorm, RoPE, SwiGLU and the embedding move 16 (RoPE: 8)-byte vectors when the row length and
// the buffers' alignment allow, single floats otherwise: both paths against the CPU, for row
// lengths that allow vectors and that do not, and for buffers 4 bytes off alignment.
Test(cuda, elementwise_vector_and_scalar_paths) {
    const mm_backend *g = need_gpu(), *c = mm_backend_cpu();
    const int N = 21, B = 3, T = 7, NH = 2, hs = 8;
    const struct { int len, skew; } cases[] = {{96, 0}, {96, 1}, {50, 0}, {37, 0}, {40, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int L = cases[k].len, sk = cases[k].skew;
        char what[64];
        void *b1, *b2, *b3, *b4, *b5, *b6;
        // RMSNorm over rows of C = L
        float *x = hrand((size_t)N * L, 1), *w = hrand(L, 1), *y = hzero((size_t)N * L), *r = hzero(N);
        float *dy = hrand((size_t)N * L, 1), *dx = hrand((size_t)N * L, 1), *dw = hrand(L, 1);
        float *x_d = up_skewed(g, x, (size_t)N * L, sk, &b1), *w_d = up_skewed(g, w, L, sk, &b2);
        float *y_d = up_skewed(g, y, (size_t)N * L, sk, &b3), *r_d = up(g, r, 4u * N);
        float *dy_d = up_skewed(g, dy, (size_t)N * L, sk, &b4),
              *dx_d = up_skewed(g, dx, (size_t)N * L, sk, &b5);
        float *dw_d = up_skewed(g, dw, L, sk, &b6);
        c->rmsnorm_forward(y, r, x, w, N, L, 1e-5f);
        g->rmsnorm_forward(y_d, r_d, x_d, w_d, N, L, 1e-5f);
        snprintf(what, sizeof what, "rmsnorm out, C %d skew %d", L, sk);
        expect_close(g, y_d, y, (size_t)N * L, 1e-5, what);
        c->rmsnorm_backward(dx, dw, dy, x, w, r, N, L);
        g->rmsnorm_backward(dx_d, dw_d, dy_d, x_d, w_d, r_d, N, L);
        snprintf(what, sizeof what, "rmsnorm dx, C %d skew %d", L, sk);
        expect_close(g, dx_d, dx, (size_t)N * L, 1e-5, what);
        expect_close(g, dw_d, dw, L, 1e-5, "rmsnorm dw");
        FREE_DEV(g, b1, b2, b3, r_d, b4, b5, b6);
        FREE_HOST(x, w, y, r, dy, dx, dw);
        // SwiGLU with F = L
        float *h13 = hrand((size_t)N * 2 * L, 4), *gg = hzero((size_t)N * L), *dg = hrand((size_t)N * L, 1);
        float *dh = hzero((size_t)N * 2 * L);
        float *h13_d = up_skewed(g, h13, (size_t)N * 2 * L, sk, &b1),
              *gg_d = up_skewed(g, gg, (size_t)N * L, sk, &b2);
        float *dg_d = up_skewed(g, dg, (size_t)N * L, sk, &b3),
              *dh_d = up_skewed(g, dh, (size_t)N * 2 * L, sk, &b4);
        c->swiglu_forward(gg, h13, N, L);
        g->swiglu_forward(gg_d, h13_d, N, L);
        snprintf(what, sizeof what, "swiglu forward, F %d skew %d", L, sk);
        expect_close(g, gg_d, gg, (size_t)N * L, 1e-5, what);
        c->swiglu_backward(dh, dg, h13, N, L);
        g->swiglu_backward(dh_d, dg_d, h13_d, N, L);
        snprintf(what, sizeof what, "swiglu backward, F %d skew %d", L, sk);
        expect_close(g, dh_d, dh, (size_t)N * 2 * L, 1e-5, what);
        FREE_DEV(g, b1, b2, b3, b4);
        FREE_HOST(h13, gg, dg, dh);
        // RoPE on rows of stride ld = NH*hs + L % 7 (even: pairs as 8-byte vectors; odd: floats)
        const int ld = NH * hs + L % 7;
        float *cs = hrand((size_t)(T + 3) * hs / 2, 1), *sn = hrand((size_t)(T + 3) * hs / 2, 1);
        float *q = hrand((size_t)B * T * ld, 1);
        float *cs_d = up(g, cs, 4u * (T + 3) * hs / 2), *sn_d = up(g, sn, 4u * (T + 3) * hs / 2);
        float *q_d = up_skewed(g, q, (size_t)B * T * ld, sk, &b1);
        c->rope_forward(q, ld, cs, sn, B, T, NH, hs, 3);
        g->rope_forward(q_d, ld, cs_d, sn_d, B, T, NH, hs, 3);
        snprintf(what, sizeof what, "rope forward, ld %d skew %d", ld, sk);
        expect_close(g, q_d, q, (size_t)B * T * ld, 1e-6, what);
        c->rope_backward(q, ld, cs, sn, B, T, NH, hs, 3);
        g->rope_backward(q_d, ld, cs_d, sn_d, B, T, NH, hs, 3);
        snprintf(what, sizeof what, "rope backward, ld %d skew %d", ld, sk);
        expect_close(g, q_d, q, (size_t)B * T * ld, 1e-6, what);
        FREE_DEV(g, cs_d, sn_d, b1);
        FREE_HOST(cs, sn, q);
        // embedding with C = 2L + 40 (over one 128-column block of the backward), V over the
        // backward's 512 token buckets (tokens t, t + 512, t + 1024 share one), 70 rows (3 chunks
        // of 32), repeated tokens: forward exact, backward exact (the CPU's order)
        const int Ce = 2 * L + 40, V = 1100, Ne = 70;
        int32_t tok[70];
        for (int n = 0; n < Ne; n++) tok[n] = (n * 131 + L) % V;
        tok[3] = tok[40] = tok[69] = 5, tok[4] = 5 + 512, tok[35] = 5 + 1024;
        float *wte = hrand((size_t)V * Ce, 1), *emb = hzero((size_t)Ne * Ce),
              *dwte = hrand((size_t)V * Ce, 1);
        float *de = hrand((size_t)Ne * Ce, 1);
        int32_t *tok_d = up(g, tok, sizeof tok);
        float *wte_d = up_skewed(g, wte, (size_t)V * Ce, sk, &b1),
              *emb_d = up_skewed(g, emb, (size_t)Ne * Ce, sk, &b2);
        float *dwte_d = up(g, dwte, 4u * V * Ce), *de_d = up(g, de, 4u * Ne * Ce);
        c->embedding_forward(emb, tok, wte, Ne, Ce);
        g->embedding_forward(emb_d, tok_d, wte_d, Ne, Ce);
        snprintf(what, sizeof what, "embedding forward, C %d skew %d", Ce, sk);
        expect_close(g, emb_d, emb, (size_t)Ne * Ce, 0, what);
        c->embedding_backward(dwte, de, tok, Ne, Ce);
        g->embedding_backward(dwte_d, de_d, tok_d, Ne, Ce);
        snprintf(what, sizeof what, "embedding backward, C %d", Ce);
        expect_close(g, dwte_d, dwte, (size_t)V * Ce, 0, what);
        FREE_DEV(g, tok_d, b1, b2, dwte_d, de_d);
        FREE_HOST(wte, emb, dwte, de);
    }
}

// `bench --profile` on the device: every op timed by device timer marks (events), read in batches
// of 1024 ops — the numbers the same as without the profile, every op's time positive.
Test(cuda, profile_times_ops_on_the_device_clock) {
    const mm_backend *g = need_gpu();
    const mm_backend *p = mm_backend_profiled(g);
    cr_expect_str_eq(mm_profile_clock(), "device");
    const size_t n = 1000;
    float *x = hrand(n, 1), *y = malloc(n * sizeof(float));
    cr_assert(y);
    float *x_d = up(g, x, n * sizeof(float)), *y_d = up(g, x, n * sizeof(float));
    mm_profile_reset();
    for (int i = 0; i < 1500; i++)
        p->scale(x_d, n, 1.0f + 1e-3f * (float)(i % 3));  // past one batch of marks
    for (int i = 0; i < 1500; i++) g->scale(y_d, n, 1.0f + 1e-3f * (float)(i % 3));
    cr_assert_eq(mm_profile_flush(), 0, "%s", mm_error_message());
    int nops;
    const mm_profile_op *ops = mm_profile_ops(&nops);
    for (int i = 0; i < nops; i++) {
        if (strcmp(ops[i].name, "scale") && strcmp(ops[i].name, "copy_h2d")) continue;
        if (!strcmp(ops[i].name, "scale")) cr_expect_eq(ops[i].calls, 1500);
        cr_expect(ops[i].calls == 0 || ops[i].seconds > 0.0, "%s: %ld calls in %g s", ops[i].name,
                  ops[i].calls, ops[i].seconds);
    }
    g->copy_d2h(x, x_d, n * sizeof(float));
    g->copy_d2h(y, y_d, n * sizeof(float));
    cr_expect_eq(memcmp(x, y, n * sizeof(float)), 0, "the profiled ops computed something else");
    FREE_DEV(g, x_d, y_d);
    FREE_HOST(x, y);
}

Test(cuda, matmul_forward_backward) {
    const mm_backend *g = need_gpu(), *c = mm_backend_cpu();
    const int M = 37, K = 64, N = 50;
    float *inp = hrand((size_t)M * K, 1), *w = hrand((size_t)N * K, 1), *dout = hrand((size_t)M * N, 1);
    float *out = hrand((size_t)M * N, 1), *dinp = hrand((size_t)M * K, 1), *dw = hrand((size_t)N * K, 1);
    float *dinp_d = up(g, inp, 4u * M * K), *w_d = up(g, w, 4u * N * K), *dout_d = up(g, dout, 4u * M * N);
    float *out_d = up(g, out, 4u * M * N), *dinpd = up(g, dinp, 4u * M * K), *dw_d = up(g, dw, 4u * N * K);
    c->matmul_forward(out, inp, w, M, K, N, 1);
    g->matmul_forward(out_d, dinp_d, w_d, M, K, N, 1);
    expect_close(g, out_d, out, (size_t)M * N, 1e-5, "matmul out (accumulate)");
    c->matmul_backward(dinp, dw, dout, inp, w, M, K, N, 0);
    g->matmul_backward(dinpd, dw_d, dout_d, dinp_d, w_d, M, K, N, 0);
    expect_close(g, dinpd, dinp, (size_t)M * K, 1e-5, "matmul dinp");
    expect_close(g, dw_d, dw, (size_t)N * K, 1e-5, "matmul dw");
    FREE_DEV(g, dinp_d, w_d, dout_d, out_d, dinpd, dw_d);
    FREE_HOST(inp, w, dout, out, dinp, dw);
}

// Host-to-device copies of up to 8 MiB are queued from pinned staging buffers without waiting
// for the device (backend_cuda.cu): behind a queue of products they must still land in order,
// each with the data its source had at the call, though the source is overwritten at once and
// the ring of staging buffers wraps several times while the device is busy.
Test(cuda, uploads_keep_their_data_and_order_behind_a_busy_queue) {
    const mm_backend *g = need_gpu(), *c = mm_backend_cpu();
    const int M = 96, K = 384, N = 384, busy = 6, NUP = 12;
    float *a = hrand((size_t)K * K, 1), *x1 = hrand((size_t)M * K, 1), *x2 = hrand((size_t)M * K, 1);
    float *w = hrand((size_t)N * K, 1), *y1 = hzero((size_t)M * N), *y2 = hzero((size_t)M * N);
    float *a_d = up(g, a, 4u * K * K), *sq_d = g->alloc(4u * K * K), *w_d = up(g, w, 4u * N * K);
    float *x_d = g->alloc(4u * M * K), *y1_d = g->alloc(4u * M * N), *y2_d = g->alloc(4u * M * N);
    cr_assert(sq_d && x_d && y1_d && y2_d, "%s", mm_error_message());
    for (int i = 0; i < busy; i++)
        g->matmul_forward(sq_d, a_d, a_d, K, K, K, i > 0);  // keeps the device busy
    // x = x1; y1 = x w^T; x = x2; y2 = x w^T — the second upload must wait for the first product
    float *src = hzero((size_t)M * K);
    memcpy(src, x1, 4u * M * K);
    g->copy_h2d(x_d, src, 4u * M * K);
    for (size_t i = 0; i < (size_t)M * K; i++) src[i] = NAN;
    g->matmul_forward(y1_d, x_d, w_d, M, K, N, 0);
    memcpy(src, x2, 4u * M * K);
    g->copy_h2d(x_d, src, 4u * M * K);
    for (size_t i = 0; i < (size_t)M * K; i++) src[i] = NAN;
    g->matmul_forward(y2_d, x_d, w_d, M, K, N, 0);
    // NUP uploads (three turns of the ring), the last over the staging limit: each keeps its data
    const size_t sizes[] = {256, 65536, 300000, 4u << 20, (8u << 20) + 4};
    void *dst[12];
    unsigned char *bytes = malloc((8u << 20) + 4);
    cr_assert(bytes);
    for (int u = 0; u < NUP; u++) {
        const size_t n = u == NUP - 1 ? sizes[4] : sizes[u % 4];
        dst[u] = g->alloc(n);
        cr_assert(dst[u], "%s", mm_error_message());
        memset(bytes, u + 1, n);
        g->copy_h2d(dst[u], bytes, n);
        memset(bytes, 0xEE, n);
    }
    g->scale(y2_d, (size_t)M * N, 1.0f);  // a launch after the waits for the ring: its launch check is clean
    c->matmul_forward(y1, x1, w, M, K, N, 0);
    c->matmul_forward(y2, x2, w, M, K, N, 0);
    expect_close(g, y1_d, y1, (size_t)M * N, 1e-5, "the product of the first upload");
    expect_close(g, y2_d, y2, (size_t)M * N, 1e-5, "the product of the second upload");
    for (int u = 0; u < NUP; u++) {
        const size_t n = u == NUP - 1 ? sizes[4] : sizes[u % 4];
        memset(bytes, 0, n);
        g->copy_d2h(bytes, dst[u], n);
        size_t bad = 0;
        while (bad < n && bytes[bad] == (unsigned char)(u + 1)) bad++;
        cr_expect_eq(bad, n, "upload %d (%zu bytes): byte %zu is %d, not %d", u, n, bad,
                     bad < n ? bytes[bad] : 0, u + 1);
        g->free(dst[u]);
    }
    cr_assert(!g->check || g->check() == 0, "%s", mm_error_message());
    FREE_DEV(g, a_d, sq_d, w_d, x_d, y1_d, y2_d);
    FREE_HOST(a, x1, x2, w, y1, y2, src, bytes);
}

Test(cuda, embedding_rmsnorm_rope_swiglu) {
    const mm_backend *g = need_gpu(), *c = mm_backend_cpu();
    const int N = 33, C = 96, V = 70, F = 40, B = 3, T = 11, NH = 3, hs = 16, ld = NH * hs + 5;
    int32_t tok[33];
    for (int n = 0; n < N; n++) tok[n] = (n * 13) % V;
    tok[4] = tok[20] = 9;
    float *wte = hrand((size_t)V * C, 1), *emb = hzero((size_t)N * C), *dwte = hrand((size_t)V * C, 1);
    float *dout = hrand((size_t)N * C, 1);
    int32_t *tok_d = up(g, tok, sizeof tok);
    float *wte_d = up(g, wte, 4u * V * C), *emb_d = up(g, emb, 4u * N * C), *dwte_d = up(g, dwte, 4u * V * C);
    float *dout_d = up(g, dout, 4u * N * C);
    c->embedding_forward(emb, tok, wte, N, C);
    g->embedding_forward(emb_d, tok_d, wte_d, N, C);
    expect_close(g, emb_d, emb, (size_t)N * C, 0, "embedding forward");
    c->embedding_backward(dwte, dout, tok, N, C);
    g->embedding_backward(dwte_d, dout_d, tok_d, N, C);
    expect_close(g, dwte_d, dwte, (size_t)V * C, 0, "embedding backward (the CPU's order: exact)");
    // rmsnorm
    float *w = hrand(C, 1), *y = hzero((size_t)N * C), *r = hzero(N), *dx = hrand((size_t)N * C, 1), *dw = hrand(C, 1);
    float *w_d = up(g, w, 4u * C), *y_d = up(g, y, 4u * N * C), *r_d = up(g, r, 4u * N);
    float *dx_d = up(g, dx, 4u * N * C), *dw_d = up(g, dw, 4u * C);
    c->rmsnorm_forward(y, r, emb, w, N, C, 1e-5f);
    g->rmsnorm_forward(y_d, r_d, emb_d, w_d, N, C, 1e-5f);
    expect_close(g, y_d, y, (size_t)N * C, 1e-5, "rmsnorm out");
    expect_close(g, r_d, r, N, 1e-5, "rmsnorm rstd");
    c->rmsnorm_backward(dx, dw, dout, emb, w, r, N, C);
    g->rmsnorm_backward(dx_d, dw_d, dout_d, emb_d, w_d, r_d, N, C);
    expect_close(g, dx_d, dx, (size_t)N * C, 1e-5, "rmsnorm dx");
    expect_close(g, dw_d, dw, C, 1e-5, "rmsnorm dw");
    // rope (pos0 = 2)
    float *cs = hrand((size_t)(T + 2) * hs / 2, 1), *sn = hrand((size_t)(T + 2) * hs / 2, 1);
    float *x = hrand((size_t)B * T * ld, 1);
    float *cs_d = up(g, cs, 4u * (T + 2) * hs / 2), *sn_d = up(g, sn, 4u * (T + 2) * hs / 2);
    float *x_d = up(g, x, 4u * B * T * ld);
    c->rope_forward(x, ld, cs, sn, B, T, NH, hs, 2);
    g->rope_forward(x_d, ld, cs_d, sn_d, B, T, NH, hs, 2);
    expect_close(g, x_d, x, (size_t)B * T * ld, 1e-6, "rope forward");
    c->rope_backward(x, ld, cs, sn, B, T, NH, hs, 2);
    g->rope_backward(x_d, ld, cs_d, sn_d, B, T, NH, hs, 2);
    expect_close(g, x_d, x, (size_t)B * T * ld, 1e-6, "rope backward");
    // swiglu
    float *h13 = hrand((size_t)N * 2 * F, 4), *gg = hzero((size_t)N * F), *dg = hrand((size_t)N * F, 1);
    float *dh = hzero((size_t)N * 2 * F);
    float *h13_d = up(g, h13, 8u * N * F), *gg_d = up(g, gg, 4u * N * F), *dg_d = up(g, dg, 4u * N * F);
    float *dh_d = up(g, dh, 8u * N * F);
    c->swiglu_forward(gg, h13, N, F);
    g->swiglu_forward(gg_d, h13_d, N, F);
    expect_close(g, gg_d, gg, (size_t)N * F, 1e-5, "swiglu forward");
    c->swiglu_backward(dh, dg, h13, N, F);
    g->swiglu_backward(dh_d, dg_d, h13_d, N, F);
    expect_close(g, dh_d, dh, (size_t)N * 2 * F, 1e-5, "swiglu backward");
    FREE_DEV(g, tok_d, wte_d, emb_d, dwte_d, dout_d, w_d, y_d, r_d, dx_d, dw_d, cs_d, sn_d, x_d, h13_d, gg_d, dg_d, dh_d);
    FREE_HOST(wte, emb, dwte, dout, w, y, r, dx, dw, cs, sn, x, h13, gg, dg, dh);
}

// expect_close, and above tol 1e-4 (a reduced precision) the error must show the rounding: a
// product that still ran in fp32 fails.
static void expect_precision(const mm_backend *be, const float *dgpu, const float *cpu, size_t n, double tol,
                             const char *what) {
    const double e = rel_error(be, dgpu, cpu, n);
    cr_expect(e <= tol, "%s: relative error %g > %g", what, e, tol);
    if (tol > 1e-4) cr_expect(e > 1e-6, "%s: error %g: the product did not run in reduced precision", what, e);
}

// tol_out: the output (and probabilities); tol_grad: dq, dk, dv.
// check_att: compare att with the CPU's probabilities (the contract in fp32; in bf16 / fp16 the
// CUDA backend may keep FlashAttention's state there).
// pad: extra floats per q|k|v row (ld = C + 2*KV*hs + pad): an odd pad leaves rows unaligned, so
// the FlashAttention kernels stage q, k, v one float at a time instead of 16 bytes.
static void attention_case(const mm_backend *g, int B, int Tq, int Tk, int H, int KV, int hs, double tol_out,
                           double tol_grad, int check_att, int pad) {
    const mm_backend *c = mm_backend_cpu();
    const int C = H * hs, ld = C + 2 * KV * hs + pad;
    const size_t nq = (size_t)B * Tq * ld, nkv = (size_t)B * Tk * ld, na = (size_t)B * H * Tq * Tk, no = (size_t)B * Tq * C;
    float *q = hrand(nq, 1), *k = hrand(nkv, 1), *v = hrand(nkv, 1), *dout = hrand(no, 1);
    float *out = hzero(no), *att = hzero(na), *dq = hzero(nq), *dk = hzero(nkv), *dv = hzero(nkv), *datt = hzero(na);
    float *q_d = up(g, q, 4 * nq), *k_d = up(g, k, 4 * nkv), *v_d = up(g, v, 4 * nkv), *do_d = up(g, dout, 4 * no);
    float *out_d = up(g, out, 4 * no), *att_d = up(g, att, 4 * na), *dq_d = up(g, dq, 4 * nq);
    float *dk_d = up(g, dk, 4 * nkv), *dv_d = up(g, dv, 4 * nkv), *datt_d = up(g, datt, 4 * na);
    c->attention_forward(out, att, q, ld, k, v, ld, B, Tq, Tk, H, KV, hs);
    g->attention_forward(out_d, att_d, q_d, ld, k_d, v_d, ld, B, Tq, Tk, H, KV, hs);
    expect_close(g, out_d, out, no, tol_out, "attention out");
    if (check_att) expect_close(g, att_d, att, na, tol_out, "attention probabilities");
    c->attention_backward(dq, dk, dv, datt, dout, att, q, ld, k, v, ld, B, Tq, Tk, H, KV, hs);
    g->attention_backward(dq_d, dk_d, dv_d, datt_d, do_d, att_d, q_d, ld, k_d, v_d, ld, B, Tq, Tk, H, KV, hs);
    // only the q (dq) and k/v (dk, dv) columns are written; compare those
    float *hq = down(g, dq_d, nq), *hk = down(g, dk_d, nkv), *hv = down(g, dv_d, nkv);
    double e = 0, m = 1e-3;
    for (size_t r = 0; r < (size_t)B * Tq; r++)
        for (int j = 0; j < C; j++) {
            e = fmax(e, fabs(hq[r * ld + j] - dq[r * ld + j]));
            m = fmax(m, fabs(dq[r * ld + j]));
        }
    for (size_t r = 0; r < (size_t)B * Tk; r++)
        for (int j = 0; j < KV * hs; j++) {
            e = fmax(e, fmax(fabs(hk[r * ld + j] - dk[r * ld + j]), fabs(hv[r * ld + j] - dv[r * ld + j])));
            m = fmax(m, fmax(fabs(dk[r * ld + j]), fabs(dv[r * ld + j])));
        }
    cr_expect(e / m < tol_grad, "attention backward B=%d Tq=%d Tk=%d H=%d KV=%d hs=%d: relative error %g", B, Tq, Tk,
              H, KV, hs, e / m);
    FREE_DEV(g, q_d, k_d, v_d, do_d, out_d, att_d, dq_d, dk_d, dv_d, datt_d);
    FREE_HOST(hq, hk, hv, q, k, v, dout, out, att, dq, dk, dv, datt);
}

Test(cuda, attention_gqa) {
    const mm_backend *g = need_gpu();
    attention_case(g, 2, 40, 40, 4, 2, 16, 1e-5, 1e-4, 1, 0);
    attention_case(g, 1, 5, 33, 4, 2, 16, 1e-5, 1e-4, 1, 0);  // cached decoding shape
    attention_case(g, 1, 300, 300, 8, 2, 64, 1e-5, 1e-4, 1, 0);
    attention_case(g, 3, 17, 17, 6, 3, 16, 1e-5, 1e-4, 1, 0);  // 3 groups of 2
    attention_case(g, 2, 24, 24, 4, 4, 16, 1e-5, 1e-4, 1, 0);  // MHA
}

Test(cuda, crossentropy_adamw_gradnorm) {
    const mm_backend *g = need_gpu(), *c = mm_backend_cpu();
    const int N = 29, C = 32, V = 1000;
    float *x = hrand((size_t)N * C, 1), *wte = hrand((size_t)V * C, 1), *mask = hrand(N, 1);
    for (int n = 0; n < N; n++) mask[n] = n % 4 == 0 ? 0.0f : 1.0f;
    int32_t tgt[29];
    for (int n = 0; n < N; n++) tgt[n] = (n * 71) % V;
    float *lg = hzero((size_t)N * V), *lse = hzero(N), *dx = hzero((size_t)N * C), *dwte = hrand((size_t)V * C, 1);
    float *x_d = up(g, x, 4u * N * C), *wte_d = up(g, wte, 4u * V * C), *mask_d = up(g, mask, 4u * N);
    int32_t *tgt_d = up(g, tgt, sizeof tgt);
    float *lg_d = up(g, lg, 4u * N * V), *lse_d = up(g, lse, 4u * N), *dx_d = up(g, dx, 4u * N * C);
    float *dwte_d = up(g, dwte, 4u * V * C);
    float lc = c->crossentropy_forward(lg, lse, x, wte, tgt, mask, N, C, V);
    float lgpu = g->crossentropy_forward(lg_d, lse_d, x_d, wte_d, tgt_d, mask_d, N, C, V);
    cr_expect(fabsf(lc - lgpu) < 1e-5f * fmaxf(1.0f, fabsf(lc)), "loss cpu %g gpu %g", lc, lgpu);
    expect_close(g, lse_d, lse, N, 1e-5, "lse");
    c->crossentropy_backward(dx, dwte, lg, lse, x, wte, tgt, mask, 0.5f, N, C, V);
    g->crossentropy_backward(dx_d, dwte_d, lg_d, lse_d, x_d, wte_d, tgt_d, mask_d, 0.5f, N, C, V);
    expect_close(g, lg_d, lg, (size_t)N * V, 1e-5, "dlogits");
    expect_close(g, dx_d, dx, (size_t)N * C, 1e-5, "ce dx");
    expect_close(g, dwte_d, dwte, (size_t)V * C, 1e-5, "ce dwte");
    // adamw, 3 steps
    const size_t n = 100003;
    float *p = hrand(n, 1), *m = hzero(n), *v = hzero(n), *gr = hrand(n, 0.1f);
    float *p_d = up(g, p, 4 * n), *m_d = up(g, m, 4 * n), *v_d = up(g, v, 4 * n), *g_d = up(g, gr, 4 * n);
    for (long s = 1; s <= 3; s++) {
        c->adamw_update(p, gr, m, v, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, s);
        g->adamw_update(p_d, g_d, m_d, v_d, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, s);
    }
    // n % 4 = 3: 16-byte accesses and a tail of 3; then one step from element 1 (not aligned: one by one)
    c->adamw_update(p + 1, gr + 1, m + 1, v + 1, n - 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 4);
    g->adamw_update(p_d + 1, g_d + 1, m_d + 1, v_d + 1, n - 1, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 4);
    expect_close(g, p_d, p, n, 1e-6, "adamw params");
    expect_close(g, v_d, v, n, 1e-6, "adamw v");
    expect_close(g, m_d, m, n, 1e-6, "adamw m");
    // gradnorm + clip, deterministic: twice the same value
    float nc = c->gradnorm_clip(gr, n, 1.0f);
    float ng1 = g->gradnorm_clip(g_d, n, 0.0f), ng2 = g->gradnorm_clip(g_d, n, 1.0f);
    cr_expect(ng1 == ng2, "gradnorm not deterministic: %.9g vs %.9g", ng1, ng2);
    cr_expect(fabsf(nc - ng2) < 1e-5f * nc, "norm cpu %g gpu %g", nc, ng2);
    expect_close(g, g_d, gr, n, 1e-6, "clipped gradients");
    FREE_DEV(g, x_d, wte_d, mask_d, tgt_d, lg_d, lse_d, dx_d, dwte_d, p_d, m_d, v_d, g_d);
    FREE_HOST(x, wte, mask, lg, lse, dx, dwte, p, m, v, gr);
}

// ---- whole model ----

static mm_model_config tiny_config(void) {
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    cfg.dim = 64;
    cfg.n_layers = 2;
    cfg.n_heads = 4;
    cfg.n_kv_heads = 2;
    cfg.vocab_size = 300;
    cfg.max_seq_len = 64;
    cfg.hidden_dim = 0;
    return cfg;
}

static void batch(int32_t *X, int32_t *Y, int n, int V, int seed) {
    for (int i = 0; i < n; i++) {
        X[i] = (i * 31 + seed * 7) % V;
        Y[i] = (i * 17 + 5 + seed) % V;
    }
}

enum { PB = 2, PT = 48 };  // the parity batch of the whole-model tests

// The parity batch `seed` into X, Y (PB * PT tokens each), then one forward and backward of the
// CPU model mc and the device model mg on it; *lc, *lg their losses.
static void parity_step(mm_model *mc, mm_model *mg, int32_t *X, int32_t *Y, int seed, float *lc, float *lg) {
    batch(X, Y, PB * PT, mc->config.vocab_size, seed);
    cr_assert(mm_model_forward(mc, X, Y, NULL, PB, PT, lc, NULL) == 0 && mm_model_backward(mc, 1.0f) == 0);
    cr_assert(mm_model_forward(mg, X, Y, NULL, PB, PT, lg, NULL) == 0, "%s", mm_error_message());
    cr_assert(mm_model_backward(mg, 1.0f) == 0, "%s", mm_error_message());
}

Test(cuda, model_loss_and_gradients_match_cpu) {
    const mm_backend *g = need_gpu();
    mm_model_config cfg = tiny_config();
    mm_model mc, mg;
    cr_assert(mm_model_init(&mc, &cfg, mm_backend_cpu(), 3) == 0, "%s", mm_error_message());
    cr_assert(mm_model_init(&mg, &cfg, g, 3) == 0, "%s", mm_error_message());
    int32_t X[PB * PT], Y[PB * PT];
    float lc, lg;
    parity_step(&mc, &mg, X, Y, 1, &lc, &lg);
    cr_expect(fabsf(lc - lg) < 1e-5f * lc, "loss cpu %.7f gpu %.7f", lc, lg);
    expect_close(g, mg.grads, mc.grads, mc.num_params, 1e-4, "all gradients");
    mm_model_free(&mc);
    mm_model_free(&mg);
}

// Trains `steps` steps on backend be; losses[s]. With resume_at > 0 the model and optimizer are
// saved to the host after that many steps, freed, rebuilt and reloaded (a resume in memory).
static void train_steps(const mm_backend *be, int steps, int resume_at, float *losses) {
    mm_model_config cfg = tiny_config();
    mm_model m;
    mm_adamw o;
    cr_assert(mm_model_init(&m, &cfg, be, 11) == 0, "%s", mm_error_message());
    cr_assert(mm_adamw_init(&o, m.num_params, 0.9f, 0.999f, 1e-8f, 0.01f, be) == 0);
    const int B = 2, T = 32;
    int32_t X[64], Y[64];
    for (int s = 0; s < steps; s++) {
        if (s == resume_at) {
            size_t n = m.num_params;
            float *hp = hzero(n), *hmv = hzero(2 * n);
            memcpy(hp, mm_model_params_to_host(&m), n * sizeof(float));
            be->copy_d2h(hmv, o.m, 2 * n * sizeof(float));
            long step = o.step;
            mm_adamw_free(&o);
            mm_model_free(&m);
            cr_assert(mm_model_init(&m, &cfg, be, 999) == 0);
            cr_assert(mm_adamw_init(&o, m.num_params, 0.9f, 0.999f, 1e-8f, 0.01f, be) == 0);
            memcpy(mm_model_host_params(&m), hp, n * sizeof(float));
            cr_assert(mm_model_params_from_host(&m) == 0);
            be->copy_h2d(o.m, hmv, 2 * n * sizeof(float));
            o.step = step;
            free(hp), free(hmv);
        }
        batch(X, Y, B * T, cfg.vocab_size, 0);  // one batch: the loss must go down
        mm_model_zero_grad(&m);
        cr_assert(mm_model_forward(&m, X, Y, NULL, B, T, &losses[s], NULL) == 0, "%s", mm_error_message());
        cr_assert(mm_model_backward(&m, 1.0f) == 0, "%s", mm_error_message());
        mm_model_clip_grad_norm(&m, 1.0f);
        mm_adamw_step(&o, m.params, m.grads, 2e-3f);
    }
    mm_adamw_free(&o);
    mm_model_free(&m);
}

Test(cuda, twenty_steps_close_to_cpu_and_resume_exact) {
    const mm_backend *g = need_gpu();
    float lc[20], lg[20], lr[20];
    train_steps(mm_backend_cpu(), 20, -1, lc);
    train_steps(g, 20, -1, lg);
    for (int s = 0; s < 20; s++) cr_expect(fabsf(lc[s] - lg[s]) < 2e-3f * lc[s], "step %d: cpu %.6f gpu %.6f", s, lc[s], lg[s]);
    cr_expect(lg[19] < lg[0], "the loss went down on the GPU (%.4f -> %.4f)", lg[0], lg[19]);
    train_steps(g, 20, 9, lr);
    for (int s = 0; s < 20; s++) cr_expect(lr[s] == lg[s], "resume: step %d: %.9g vs %.9g (not bit-exact)", s, lr[s], lg[s]);
}

// ---- memory layer ----

static int32_t *idown(const mm_backend *be, const void *d, size_t n) {
    int32_t *h = calloc(n ? n : 1, sizeof(int32_t));
    cr_assert(h);
    be->copy_d2h(h, d, n * sizeof(int32_t));
    cr_assert(!be->check || be->check() == 0, "%s", mm_error_message());
    return h;
}

// Integer q and keys: every score is exact whatever the summation order (sgemm on both sides), and
// ties are many, so idx must match exactly. specials: a row of NaN scores and a NaN key (forward only).
static void topk_case(const mm_backend *g, int N, int D, int S, int K, int specials) {
    const mm_backend *c = mm_backend_cpu();
    const int Dh = D / 2;
    const size_t NK = (size_t)N * K, nq = (size_t)N * D, nk = 2 * (size_t)S * Dh;
    float *q = hzero(nq), *keys = hzero(nk);
    for (size_t i = 0; i < nq; i++) q[i] = (float)(int)(frand(1.0f) * 2.99f);
    for (size_t i = 0; i < nk; i++) keys[i] = (float)(int)(frand(1.0f) * 2.99f);
    if (specials) {
        for (int d = 0; d < D; d++) q[(size_t)1 * D + d] = NAN;
        keys[(size_t)3 * Dh] = NAN;
    }
    int32_t *idx = calloc(NK, sizeof(int32_t));
    float *score = hzero(NK), *scratch = hzero(2 * (size_t)MM_MEMORY_TOPK_ROWS * S);
    c->memory_topk(idx, score, q, keys, N, D, S, K, scratch);
    float *q_d = up(g, q, 4 * nq), *keys_d = up(g, keys, 4 * nk), *score_d = g->alloc(4 * NK);
    int32_t *idx_d = g->alloc(4 * NK);
    float *scratch_d = g->alloc(4 * 2 * (size_t)MM_MEMORY_TOPK_ROWS * S);
    cr_assert(score_d && idx_d && scratch_d, "%s", mm_error_message());
    g->memory_topk(idx_d, score_d, q_d, keys_d, N, D, S, K, scratch_d);
    int32_t *gi = idown(g, idx_d, NK);
    float *gs = down(g, score_d, NK);
    for (size_t i = 0; i < NK; i++) {
        cr_assert_eq(gi[i], idx[i], "topk S=%d K=%d: row %zu cand %zu: idx %d, cpu %d", S, K, i / K, i % K, gi[i], idx[i]);
        cr_assert(gs[i] == score[i] || (isnan(gs[i]) && isnan(score[i])), "topk S=%d K=%d: score %g, cpu %g", S, K,
                  gs[i], score[i]);
    }
    if (!specials) {  // backward: dq, dkeys accumulate
        float *ds = hrand(NK, 1), *dq = hrand(nq, 1), *dk = hrand(nk, 1);
        float *ds_d = up(g, ds, 4 * NK), *dq_d = up(g, dq, 4 * nq), *dk_d = up(g, dk, 4 * nk);
        c->memory_topk_backward(dq, dk, ds, idx, q, keys, N, D, S, K);
        g->memory_topk_backward(dq_d, dk_d, ds_d, idx_d, q_d, keys_d, N, D, S, K);
        expect_close(g, dq_d, dq, nq, 1e-5, "topk dq");
        expect_close(g, dk_d, dk, nk, 1e-5, "topk dkeys");
        g->free(ds_d), g->free(dq_d), g->free(dk_d);
        free(ds), free(dq), free(dk);
    }
    g->free(q_d), g->free(keys_d), g->free(score_d), g->free(idx_d), g->free(scratch_d);
    free(q), free(keys), free(idx), free(score), free(scratch), free(gi), free(gs);
}

Test(cuda, memory_topk_matches_cpu_exactly) {
    const mm_backend *g = need_gpu();
    topk_case(g, 300, 8, 16, 16, 1);   // K = S
    topk_case(g, 200, 8, 5, 20, 1);    // k = S < K
    topk_case(g, 150, 6, 70, 256, 1);  // the largest K
    topk_case(g, 100, 2, 100, 64, 1);  // Dh = 1: very many ties
    topk_case(g, 300, 8, 16, 16, 0);
    topk_case(g, 120, 6, 70, 256, 0);
    topk_case(g, 2500, 8, 8192, 16, 0);  // several row chunks (1024 rows each)
}

static void weights_case(const mm_backend *g, int N, int K, int hard, int with_noise) {
    const mm_backend *c = mm_backend_cpu();
    const size_t NK = (size_t)N * K;
    float *score = hrand(NK, 3), *noise = with_noise ? hrand(NK, 1) : NULL;
    for (int n = 0; n < N; n += 3)  // ties: the first maximum wins
        for (int k = 0; k < K; k++) score[(size_t)n * K + k] = (float)((k * 7 + n) % 4);
    float *w = hzero(NK), *y = hzero(NK), *dw = hrand(NK, 1), *ds = hzero(NK);
    float *score_d = up(g, score, 4 * NK), *noise_d = noise ? up(g, noise, 4 * NK) : NULL;
    float *w_d = g->alloc(4 * NK), *y_d = g->alloc(4 * NK), *dw_d = up(g, dw, 4 * NK), *ds_d = g->alloc(4 * NK);
    c->memory_weights_forward(w, y, score, noise, N, K, hard);
    g->memory_weights_forward(w_d, y_d, score_d, noise_d, N, K, hard);
    expect_close(g, y_d, y, NK, 1e-6, "weights ysoft");
    expect_close(g, w_d, w, NK, hard ? 0.0 : 1e-6, "weights w");
    c->memory_weights_backward(ds, dw, y, N, K);
    g->memory_weights_backward(ds_d, dw_d, y_d, N, K);
    expect_close(g, ds_d, ds, NK, 1e-5, "weights dscore");
    g->free(score_d), g->free(noise_d), g->free(w_d), g->free(y_d), g->free(dw_d), g->free(ds_d);
    free(score), free(noise), free(w), free(y), free(dw), free(ds);
}

Test(cuda, memory_weights_match_cpu) {
    const mm_backend *g = need_gpu();
    weights_case(g, 50, 16, 0, 0);
    weights_case(g, 50, 16, 1, 1);
    weights_case(g, 33, 1, 1, 0);
    weights_case(g, 40, 100, 1, 1);
    weights_case(g, 40, 256, 0, 1);
}

// The read-out's products (m = A wte, dwte += A^T dm, G = dm wte^T for dw) run in the backend's
// precision: tol 1e-5 in fp32; above 1e-4 (bf16) each result must also show the rounding.
static void read_case(const mm_backend *g, int N, int K, int C, int LK, int NUM, int V, double tol) {
    const mm_backend *c = mm_backend_cpu();
    const size_t NK = (size_t)N * K, NC = (size_t)N * C, VC = (size_t)V * C, nb = (size_t)NUM * LK;
    int32_t *idx = calloc(NK, sizeof(int32_t));
    float *w = hrand(NK, 1), *wte = hrand(VC, 1), *dm = hrand(NC, 1), *dwte = hrand(VC, 1);
    uint16_t *bank = calloc(nb, sizeof(uint16_t));
    for (size_t i = 0; i < NK; i++) {
        idx[i] = (int32_t)((i * 2654435761u) % (size_t)NUM);
        if (i % 5 == 0) w[i] = 0.0f;
    }
    for (int e = 0; e < NUM; e++)  // every 9th entry empty, others 1..LK tokens
        for (int t = 0; t < (e % 9 == 0 ? 0 : 1 + e % LK); t++)
            bank[(size_t)e * LK + t] = (uint16_t)(1 + ((size_t)e * 131 + (size_t)t * 17) % (size_t)(V - 1));
    float *m = hzero(NC), *dw = hzero(NK);
    int32_t *idx_d = up(g, idx, 4 * NK);
    uint16_t *bank_d = up(g, bank, 2 * nb);
    float *w_d = up(g, w, 4 * NK), *wte_d = up(g, wte, 4 * VC), *dm_d = up(g, dm, 4 * NC), *dwte_d = up(g, dwte, 4 * VC);
    float *m_d = g->alloc(4 * NC), *dw_d = g->alloc(4 * NK);
    c->memory_read_forward(m, idx, w, bank, LK, wte, N, K, C, V);
    g->memory_read_forward(m_d, idx_d, w_d, bank_d, LK, wte_d, N, K, C, V);
    expect_precision(g, m_d, m, NC, tol, "read m");
    c->memory_read_backward(dw, dwte, dm, idx, w, bank, LK, wte, N, K, C, V);
    g->memory_read_backward(dw_d, dwte_d, dm_d, idx_d, w_d, bank_d, LK, wte_d, N, K, C, V);
    expect_precision(g, dw_d, dw, NK, tol, "read dw");
    expect_precision(g, dwte_d, dwte, VC, tol, "read dwte");
    g->free(idx_d), g->free(bank_d), g->free(w_d), g->free(wte_d), g->free(dm_d), g->free(dwte_d), g->free(m_d);
    g->free(dw_d);
    free(idx), free(w), free(wte), free(dm), free(dwte), free(bank), free(m), free(dw);
}

Test(cuda, memory_read_and_copy_rows_match_cpu) {
    const mm_backend *g = need_gpu(), *c = mm_backend_cpu();
    read_case(g, 70, 16, 96, 5, 400, 50, 1e-5);
    read_case(g, 600, 4, 32, 3, 1000, 60000, 1e-5);  // the dense dwte in 3 row chunks (279 rows each)
    const int rows = 37, cols = 20, ldd = 45, lds = 23;
    float *src = hrand((size_t)rows * lds, 1), *dst = hrand((size_t)rows * ldd, 1);
    float *src_d = up(g, src, 4u * rows * lds), *dst_d = up(g, dst, 4u * rows * ldd);
    c->copy_rows(dst, ldd, src, lds, rows, cols, 1);
    g->copy_rows(dst_d, ldd, src_d, lds, rows, cols, 1);
    expect_close(g, dst_d, dst, (size_t)rows * ldd, 0, "copy_rows +=");
    c->copy_rows(dst + 3, ldd, src, lds, rows, cols, 0);
    g->copy_rows(dst_d + 3, ldd, src_d, lds, rows, cols, 0);
    expect_close(g, dst_d, dst, (size_t)rows * ldd, 0, "copy_rows =");
    g->free(src_d), g->free(dst_d);
    free(src), free(dst);
}

// A bank with text of random length (every 7th entry empty), the same on both models.
static void set_random_bank(mm_model *a, mm_model *b) {
    size_t n = (size_t)a->ms.num * a->ms.LK;
    uint16_t *ids = calloc(n, sizeof *ids);
    for (int e = 0; e < a->ms.num; e++) {
        int len = e % 7 == 3 ? 0 : 1 + (int)((e * 2654435761u) % (unsigned)a->ms.LK);
        for (int t = 0; t < len; t++)
            ids[(size_t)e * a->ms.LK + t] = (uint16_t)(1 + ((unsigned)e * 977u + (unsigned)t * 31u) % (unsigned)(a->V - 1));
    }
    cr_assert(mm_model_set_bank(a, ids, "test bank") == 0 && mm_model_set_bank(b, ids, "test bank") == 0, "%s",
              mm_error_message());
    free(ids);
}

// The same `type` model (knowledge_num 256 of 6 tokens, knowledge_dim 32, 8 candidates, seed 5) on
// the CPU (mc) and on the device g (mg), with the same random bank.
static void memory_pair(const mm_backend *g, mm_model_type type, mm_memory_select sel, mm_model *mc,
                        mm_model *mg) {
    mm_model_config cfg = tiny_config();
    cfg.model_type = type;
    cfg.knowledge_num = 256, cfg.knowledge_length = 6, cfg.knowledge_dim = 32;
    cr_assert(mm_model_init_memory(mc, &cfg, 8, sel, mm_backend_cpu(), 5) == 0, "%s", mm_error_message());
    cr_assert(mm_model_init_memory(mg, &cfg, 8, sel, g, 5) == 0, "%s", mm_error_message());
    set_random_bank(mc, mg);
}

// `model` / `model_no_feed` on the GPU vs the CPU: loss, every gradient, the usage tracker (with EMA
// sums), determinism (a second GPU step gives the same gradients bit for bit), an EMA update of the
// bank, and the KV-cache inference's logits.
static void memory_model_case(const mm_backend *g, mm_model_type type, mm_memory_select sel) {
    mm_model mc, mg;
    memory_pair(g, type, sel, &mc, &mg);
    mm_memory_tracker tc, tg;
    cr_assert(mm_memory_tracker_init(&tc, mc.be, mc.ms.num, mc.C, 1) == 0 &&
              mm_memory_tracker_init(&tg, mg.be, mg.ms.num, mg.C, 1) == 0);
    mc.tracker = &tc, mg.tracker = &tg;
    mc.training = mg.training = 1;
    mc.noise_seed = mg.noise_seed = 77;
    int32_t X[PB * PT], Y[PB * PT];
    float lc, lg;
    parity_step(&mc, &mg, X, Y, 3, &lc, &lg);
    const char *name = type == MM_MODEL_MEMORY ? "model" : "model_no_feed";
    cr_expect(fabsf(lc - lg) < 1e-5f * lc, "%s: loss cpu %.7f gpu %.7f", name, lc, lg);
    expect_close(g, mg.grads, mc.grads, mc.num_params, 1e-4, "memory model: all gradients");
    // the tracker saw the same reads
    cr_expect_eq(tg.step.n_slots, tc.step.n_slots, "%s: EMA slots %d, cpu %d", name, tg.step.n_slots, tc.step.n_slots);
    double eu = 0, mu = 1e-6, eh = 0, mh = 1e-6;
    for (int e = 0; e < tc.num; e++) eu = fmax(eu, fabs(tg.usage[e] - tc.usage[e])), mu = fmax(mu, fabs(tc.usage[e]));
    float *hg = mm_memory_tracker_hsum_to_host(&tg, &tg.step);  // the GPU's sums stay on the GPU
    cr_assert(hg || tg.step.n_slots == 0, "%s", mm_error_message());
    for (int s = 0; s < tc.step.n_slots && s < tg.step.n_slots; s++) {
        cr_expect_eq(tg.step.slot_entry[s], tc.step.slot_entry[s]);
        for (int k = 0; k < tc.C; k++) {
            eh = fmax(eh, fabs(hg[(size_t)s * tc.C + k] - tc.step.hsum[(size_t)s * tc.C + k]));
            mh = fmax(mh, fabs(tc.step.hsum[(size_t)s * tc.C + k]));
        }
    }
    free(hg);
    cr_expect(eu / mu < 1e-4 && eh / mh < 1e-4, "%s: tracker usage error %g, hsum error %g", name, eu / mu, eh / mh);
    // deterministic: the same step again, the same gradients bit for bit
    float *g1 = down(g, mg.grads, mg.num_params);
    mm_model_zero_grad(&mg);
    float lg2;
    cr_assert(mm_model_forward(&mg, X, Y, NULL, PB, PT, &lg2, NULL) == 0 && mm_model_backward(&mg, 1.0f) == 0, "%s",
              mm_error_message());
    float *g2 = down(g, mg.grads, mg.num_params);
    cr_expect(lg2 == lg && memcmp(g1, g2, mg.num_params * sizeof(float)) == 0, "%s: a second GPU step differs", name);
    free(g1), free(g2);
    mm_memory_tracker_clear_ema(&tg);  // the second step added its reads again: compare one step's
    mm_memory_tracker_free(&tg);
    cr_assert(mm_memory_tracker_init(&tg, mg.be, mg.ms.num, mg.C, 1) == 0);
    mg.tracker = &tg;
    mm_model_zero_grad(&mg);
    cr_assert(mm_model_forward(&mg, X, Y, NULL, PB, PT, &lg2, NULL) == 0, "%s", mm_error_message());
    // EMA update of the bank from the window's reads (host bank, device embeddings)
    long cc = mm_memory_ema_update(mc.be, &tc, mc.bank, mc.ms.LK, mc.tok_embeddings, mc.norm, mc.V, mc.C, 0.5f, 0);
    long cg = mm_memory_ema_update(mg.be, &tg, mg.bank, mg.ms.LK, mg.tok_embeddings, mg.norm, mg.V, mg.C, 0.5f, 0);
    cr_assert(cc >= 0 && cg >= 0, "%s", mm_error_message());
    cr_assert(mm_model_sync_bank(&mg) == 0, "%s", mm_error_message());
    size_t nb = (size_t)mc.ms.num * mc.ms.LK, diff = 0;
    for (size_t i = 0; i < nb; i++) diff += mc.bank[i] != mg.bank[i];
    cr_expect(diff * 100 <= nb, "%s: EMA banks differ at %zu of %zu positions (changed cpu %ld gpu %ld)", name, diff, nb,
              cc, cg);
    // cached inference (no noise) after the update: the same logits
    mc.training = mg.training = 0;
    mc.tracker = mg.tracker = NULL;
    if (diff == 0) {
        float *lgc = hzero((size_t)mc.V), *lgg = hzero((size_t)mc.V);
        cr_assert(mm_model_forward_cached(&mc, X, 5, 0, lgc) == 0 && mm_model_forward_cached(&mc, X + 5, 3, 5, lgc) == 0);
        cr_assert(mm_model_forward_cached(&mg, X, 5, 0, lgg) == 0 && mm_model_forward_cached(&mg, X + 5, 3, 5, lgg) == 0,
                  "%s", mm_error_message());
        double e = 0, m = 1e-3;
        for (int v = 0; v < mc.V; v++) e = fmax(e, fabs(lgg[v] - lgc[v])), m = fmax(m, fabs(lgc[v]));
        cr_expect(e / m < 1e-4, "%s: cached logits relative error %g", name, e / m);
        free(lgc), free(lgg);
    }
    mm_memory_tracker_free(&tc);
    mm_memory_tracker_free(&tg);
    mm_model_free(&mc);
    mm_model_free(&mg);
}

Test(cuda, memory_model_loss_gradients_tracker_ema_match_cpu) {
    const mm_backend *g = need_gpu();
    memory_model_case(g, MM_MODEL_MEMORY, MM_MEMORY_SELECT_SOFTMAX);
    memory_model_case(g, MM_MODEL_NO_FEED, MM_MEMORY_SELECT_SOFTMAX);
    memory_model_case(g, MM_MODEL_MEMORY, MM_MEMORY_SELECT_GUMBEL);
}

// `eval --bank empty@0` on the GPU: layer 0 muted on both backends (its read-out zeroed on the
// device, its memory backward skipped): the loss, every gradient, layer 0's memory gradients
// exactly 0 on the GPU too, and the KV-cache inference's logits like the CPU's.
Test(cuda, muted_memory_layer_matches_cpu) {
    const mm_backend *g = need_gpu();
    mm_model mc, mg;
    memory_pair(g, MM_MODEL_MEMORY, MM_MEMORY_SELECT_SOFTMAX, &mc, &mg);
    mc.mem_muted[0] = mg.mem_muted[0] = 1;
    int32_t X[PB * PT], Y[PB * PT];
    float lc, lg;
    parity_step(&mc, &mg, X, Y, 9, &lc, &lg);
    cr_expect(fabsf(lc - lg) < 1e-5f * lc, "muted layer 0: loss cpu %.7f gpu %.7f", lc, lg);
    expect_close(g, mg.grads, mc.grads, mc.num_params, 1e-4, "muted layer 0: all gradients");
    const mm_param *q = mm_model_find_param(&mg, "layers.0.memory.query.weight");
    float *gq = down(g, mg.grads + (q->data - mg.params), q->numel);
    for (size_t i = 0; i < q->numel; i++)
        cr_assert_eq(gq[i], 0.0f, "layer 0's W_q gradient [%zu] = %g", i, gq[i]);
    free(gq);
    float *lgc = hzero((size_t)mc.V), *lgg = hzero((size_t)mc.V);
    cr_assert(mm_model_forward_cached(&mc, X, 6, 0, lgc) == 0);
    cr_assert(mm_model_forward_cached(&mg, X, 6, 0, lgg) == 0, "%s", mm_error_message());
    double e = 0, m = 1e-3;
    for (int v = 0; v < mc.V; v++) e = fmax(e, fabs(lgg[v] - lgc[v])), m = fmax(m, fabs(lgc[v]));
    cr_expect(e / m < 1e-4, "muted layer 0: cached logits relative error %g", e / m);
    free(lgc), free(lgg);
    mm_model_free(&mc);
    mm_model_free(&mg);
}

// Per parameter tensor of mc (not the tied ones): max |gg - mc's grad| / max |mc's grad| below
// tol, or tol_selection for the memory selection's (memory.query, memory.keys, and
// model_no_feed's ffn_norm, which only feeds the query): bf16 moves a few near-tie candidates
// of the next layer's top-K (test_ffn_bf16.c).
static void expect_tensor_grads(const mm_model *mc, const float *gg, double tol, double tol_selection,
                                const char *what) {
    const int no_feed = mc->config.model_type == MM_MODEL_NO_FEED;
    for (int t = 0; t < mc->n_table; t++) {
        const mm_param *p = &mc->table[t];
        if (p->tied) continue;
        const size_t off = (size_t)(p->data - mc->params);
        double e = 0.0, m = 1e-12;
        for (size_t i = 0; i < p->numel; i++) {
            e = fmax(e, fabs((double)gg[off + i] - mc->grads[off + i]));
            m = fmax(m, fabs(mc->grads[off + i]));
        }
        const int selection = strstr(p->name, "memory.query") || strstr(p->name, "memory.keys") ||
                              (no_feed && strstr(p->name, "ffn_norm"));
        cr_expect(e / m < (selection ? tol_selection : tol), "%s: %s: relative error %g", what, p->name,
                  e / m);
    }
}

// `model` in bf16, its fusion MLP over [z | m] in bf16 (model_memory.c), against the CPU's fp32:
// the loss, every gradient but the selection's (memory.query / memory.keys: bf16 moves a few
// near-tie candidates of the next layer's top-K, test_ffn_bf16.c), and a second step bit for bit.
Test(cuda, memory_model_in_bf16_with_the_fusion_in_bf16) {
    const mm_backend *g = need_gpu();
    mm_model mc, mg;
    memory_pair(g, MM_MODEL_MEMORY, MM_MEMORY_SELECT_SOFTMAX, &mc, &mg);
    set_prec(g, "bf16");
    int32_t X[PB * PT], Y[PB * PT];
    float lc, lg, lg2;
    parity_step(&mc, &mg, X, Y, 3, &lc, &lg);
    cr_expect_eq(mg.ffn_bf16, 1, "the fusion MLP is not in bf16");
    cr_expect(fabsf(lc - lg) < 1e-2f * lc, "loss cpu fp32 %.7f gpu bf16 %.7f", lc, lg);
    float *gg = down(g, mg.grads, mg.num_params);
    expect_tensor_grads(&mc, gg, 5e-2, 0.5, "model");
    mm_model_zero_grad(&mg);
    cr_assert(mm_model_forward(&mg, X, Y, NULL, PB, PT, &lg2, NULL) == 0 && mm_model_backward(&mg, 1.0f) == 0, "%s",
              mm_error_message());
    float *g2 = down(g, mg.grads, mg.num_params);
    cr_expect(lg2 == lg && memcmp(gg, g2, mg.num_params * sizeof(float)) == 0, "a second bf16 step differs");
    set_prec(g, "fp32");
    free(gg), free(g2);
    mm_model_free(&mc);
    mm_model_free(&mg);
}

// The stand-in device "cpu-staged" (mm_backend_cpu_staged: the CPU kernels behind host_resident = 0,
// new buffers NaN): the model takes its device paths (host staging of the noise and the tracker's
// reads, the bank's device copy and its uploads, the EMA update's copies) on any machine.
Test(cuda_fake_device, memory_models_take_the_device_paths_like_the_cpu) {
    const mm_backend *f = mm_backend_cpu_staged();
    memory_model_case(f, MM_MODEL_MEMORY, MM_MEMORY_SELECT_SOFTMAX);
    memory_model_case(f, MM_MODEL_NO_FEED, MM_MEMORY_SELECT_GUMBEL);
}

// ---- mixed precision (gemm.cu: bf16 / fp16 products on tensor cores, fp32 storage) ----


// The matmuls in bf16 / fp16 against the CPU's fp32, relative to the largest value: bf16 keeps 8
// mantissa bits (~4e-3 per input), fp16 11 (~5e-4); the sums stay fp32.
static void matmul_precision_case(const mm_backend *g, const char *prec, double tol) {
    const mm_backend *c = mm_backend_cpu();
    const int M = 70, K = 256, N = 96;
    float *inp = hrand((size_t)M * K, 1), *w = hrand((size_t)N * K, 1), *dout = hrand((size_t)M * N, 1);
    float *out = hzero((size_t)M * N), *dinp = hzero((size_t)M * K), *dw = hrand((size_t)N * K, 1);
    float *inp_d = up(g, inp, 4u * M * K), *w_d = up(g, w, 4u * N * K), *dout_d = up(g, dout, 4u * M * N);
    float *out_d = up(g, out, 4u * M * N), *dinp_d = up(g, dinp, 4u * M * K), *dw_d = up(g, dw, 4u * N * K);
    set_prec(g, prec);
    c->matmul_forward(out, inp, w, M, K, N, 0);
    g->matmul_forward(out_d, inp_d, w_d, M, K, N, 0);
    char what[64];
    snprintf(what, sizeof what, "matmul out (%s)", prec);
    expect_close(g, out_d, out, (size_t)M * N, tol, what);
    c->matmul_backward(dinp, dw, dout, inp, w, M, K, N, 0);
    g->matmul_backward(dinp_d, dw_d, dout_d, inp_d, w_d, M, K, N, 0);
    snprintf(what, sizeof what, "matmul dinp (%s)", prec);
    expect_close(g, dinp_d, dinp, (size_t)M * K, tol, what);
    snprintf(what, sizeof what, "matmul dw (%s)", prec);
    expect_close(g, dw_d, dw, (size_t)N * K, tol, what);
    set_prec(g, "fp32");
    FREE_DEV(g, inp_d, w_d, dout_d, out_d, dinp_d, dw_d);
    FREE_HOST(inp, w, dout, out, dinp, dw);
}

// out = res + inp w^T in one product (cuBLASLt: res read as C, out written as D) against the CPU's
// copy + accumulating matmul; res untouched; fp32 and bf16; and the same through the fallback
// (MM_CUDA_RESIDUAL=copy: copy + cublasGemmEx). The whole-model tests take it in every block.
static void residual_case(const mm_backend *g) {
    const mm_backend *c = mm_backend_cpu();
    const int M = 45, K = 64, N = 40;
    float *inp = hrand((size_t)M * K, 1), *w = hrand((size_t)N * K, 1), *res = hrand((size_t)M * N, 1);
    float *out = hzero((size_t)M * N);
    float *inp_d = up(g, inp, 4u * M * K), *w_d = up(g, w, 4u * N * K), *res_d = up(g, res, 4u * M * N);
    float *out_d = up(g, out, 4u * M * N);
    const char *precs[] = {"fp32", "bf16"};
    const double tol[] = {1e-5, 1e-2};
    for (int p = 0; p < 2; p++) {
        set_prec(g, precs[p]);
        memcpy(out, res, sizeof(float) * (size_t)M * N);
        c->matmul_forward(out, inp, w, M, K, N, 1);
        g->matmul_forward_residual(out_d, res_d, inp_d, w_d, M, K, N);
        char what[64];
        snprintf(what, sizeof what, "residual product (%s)", precs[p]);
        expect_close(g, out_d, out, (size_t)M * N, tol[p], what);
        expect_close(g, res_d, res, (size_t)M * N, 0, "the residual is read only");
    }
    set_prec(g, "fp32");
    FREE_DEV(g, inp_d, w_d, res_d, out_d);
    FREE_HOST(inp, w, res, out);
}

Test(cuda, matmul_forward_residual_is_the_copy_and_accumulate) {
    const mm_backend *g = need_gpu();
    cr_assert(g->matmul_forward_residual, "the CUDA backend adds residual products in one call");
    residual_case(g);
    cr_assert(setenv("MM_CUDA_RESIDUAL", "sideways", 1) == 0);
    cr_expect(mm_backend_cuda(0) == NULL, "an unknown MM_CUDA_RESIDUAL must be refused");
    cr_expect(strstr(mm_error_message(), "MM_CUDA_RESIDUAL=sideways: expected lt or copy") != NULL, "%s",
              mm_error_message());
    cr_assert(setenv("MM_CUDA_RESIDUAL", "copy", 1) == 0);
    cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
    residual_case(g);
    cr_assert(unsetenv("MM_CUDA_RESIDUAL") == 0);
    cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
}

Test(cuda, matmul_bf16_fp16_close_to_cpu) {
    const mm_backend *g = need_gpu();
    matmul_precision_case(g, "bf16", 1e-2);
    matmul_precision_case(g, "fp16", 2e-3);
    matmul_precision_case(g, "fp32", 1e-5);  // and back: fp32 products again
}

// The read-out's products follow the precision like the tied head.
Test(cuda, memory_read_in_bf16_close_to_cpu) {
    const mm_backend *g = need_gpu();
    set_prec(g, "bf16");
    read_case(g, 70, 16, 96, 5, 400, 50, 1e-2);
    set_prec(g, "fp32");
}

// bf16 / fp16: the FlashAttention kernels (attention_flash.cu) where they apply (hs 16, 32, 64 and
// Tk > hs), else the GEMM path; engine.test_cuda_sim_gemm_attention runs these with
// MM_CUDA_ATTENTION=gemm. Shapes: query and key tiles of 64 with ragged ends, Tq < Tk (decoding),
// GQA / MQA / MHA, every supported head size; fp16 too (11 mantissa bits: tighter).
static void attention_low_precision_cases(const mm_backend *g, double tol_out, double tol_grad) {
    attention_case(g, 2, 40, 40, 4, 2, 16, tol_out, tol_grad, 0, 0);
    attention_case(g, 1, 5, 33, 4, 2, 16, tol_out, tol_grad, 0, 0);     // cached decoding shape
    attention_case(g, 1, 300, 300, 8, 2, 64, tol_out, tol_grad, 0, 0);  // MiniMind's head size, 5 tiles
    attention_case(g, 2, 130, 130, 4, 1, 32, tol_out, tol_grad, 0, 0);  // MQA, 3 tiles, 2 rows in the last
    attention_case(g, 1, 70, 129, 2, 2, 64, tol_out, tol_grad, 0, 0);   // MHA, Tq < Tk across tiles
    attention_case(g, 3, 17, 17, 6, 3, 16, tol_out, tol_grad, 0, 0);  // Tk = hs + 1: the smallest flash shape
    attention_case(g, 1, 12, 12, 2, 1, 16, tol_out, tol_grad, 0, 0);  // Tk < hs + 1: GEMM path
    attention_case(g, 2, 70, 70, 4, 2, 32, tol_out, tol_grad, 0, 3);  // unaligned rows: staged float by float
}

Test(cuda, attention_implementation_from_the_environment) {
    need_gpu();
    cr_assert(setenv("MM_CUDA_ATTENTION", "sideways", 1) == 0);
    cr_expect(mm_backend_cuda(0) == NULL, "an unknown MM_CUDA_ATTENTION must be refused");
    cr_expect(strstr(mm_error_message(), "MM_CUDA_ATTENTION=sideways: expected flash or gemm") != NULL, "%s",
              mm_error_message());
    cr_assert(setenv("MM_CUDA_ATTENTION", "gemm", 1) == 0);
    cr_expect(mm_backend_cuda(0) != NULL, "%s", mm_error_message());
    cr_assert(unsetenv("MM_CUDA_ATTENTION") == 0);
    cr_expect(mm_backend_cuda(0) != NULL, "%s", mm_error_message());
}

Test(cuda, attention_bf16_close_to_cpu) {
    const mm_backend *g = need_gpu();
    set_prec(g, "bf16");
    attention_low_precision_cases(g, 1e-2, 1.5e-2);
    set_prec(g, "fp32");
}

Test(cuda, attention_fp16_close_to_cpu) {
    const mm_backend *g = need_gpu();
    set_prec(g, "fp16");
    attention_low_precision_cases(g, 2e-3, 3e-3);
    set_prec(g, "fp32");
}

// The model keeps per layer only the attention state the backend needs in the precision (bf16 on
// the flash path: (B,H,T) floats with the attention block in bf16, (B,H,T) x (1 + hs) with it in
// fp32 (MM_CUDA_ATTN=fp32), instead of the (B,H,T,T) probabilities) and lays its buffers out again
// when the precision changes between steps; every step matches the CPU.
Test(cuda, model_attention_state_follows_the_precision) {
    const mm_backend *g = need_gpu();
    mm_model_config cfg = tiny_config();  // hs 16, PT 48: flash in bf16
    mm_model mc, mg;
    cr_assert(mm_model_init(&mc, &cfg, mm_backend_cpu(), 3) == 0, "%s", mm_error_message());
    cr_assert(mm_model_init(&mg, &cfg, g, 3) == 0, "%s", mm_error_message());
    const size_t rows = (size_t)PB * cfg.n_heads * PT, hs = (size_t)(cfg.dim / cfg.n_heads);
    static const char *const precs[] = {"bf16", "fp32", "bf16"};
    for (int i = 0; i < 3; i++) {
        set_prec(g, precs[i]);
        int32_t X[PB * PT], Y[PB * PT];
        float lc, lg;
        mm_model_zero_grad(&mc);
        mm_model_zero_grad(&mg);
        parity_step(&mc, &mg, X, Y, i, &lc, &lg);
        const int low = strcmp(precs[i], "fp32") != 0;
        // bf16: the attention block in bf16 keeps only the rows' log-sum-exp
        cr_expect_eq(mg.att_state, rows * (low ? 1 : (size_t)PT),
                     "%s: %zu floats of attention state per layer", precs[i], mg.att_state);
        cr_expect_eq(mg.ffn_bf16, low, "%s: feed-forward block in bf16: %d", precs[i], mg.ffn_bf16);
        cr_expect_eq(mg.att_bf16, low, "%s: attention block in bf16: %d", precs[i], mg.att_bf16);
        cr_expect(fabsf(lc - lg) < (low ? 1e-2f : 1e-5f) * lc, "%s: loss cpu %.7f gpu %.7f", precs[i], lc, lg);
        expect_close(g, mg.grads, mc.grads, mc.num_params, low ? 5e-2 : 1e-4, "all gradients");
    }
    cr_assert(setenv("MM_CUDA_ATTN", "fp32", 1) == 0);  // the fp32-storage flash path keeps a copy of O
    cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
    int32_t X[PB * PT], Y[PB * PT];
    float lc, lg;
    parity_step(&mc, &mg, X, Y, 3, &lc, &lg);
    cr_expect(!mg.att_bf16 && mg.att_state == rows * (1 + hs),
              "MM_CUDA_ATTN=fp32: %zu floats of attention state", mg.att_state);
    cr_assert(unsetenv("MM_CUDA_ATTN") == 0);
    cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
    set_prec(g, "fp32");
    mm_model_free(&mc);
    mm_model_free(&mg);
}

// memory_info: the device's memory in use grows by what the engine allocates.
Test(cuda, memory_info_counts_allocations) {
    const mm_backend *g = need_gpu();
    cr_assert_not_null(g->memory_info);
    size_t u0 = 0, t0 = 0, u1 = 0, t1 = 0;
    cr_assert(g->memory_info(&u0, &t0) == 0, "%s", mm_error_message());
    void *p = g->alloc((size_t)64 << 20);
    cr_assert_not_null(p, "%s", mm_error_message());
    cr_assert(g->memory_info(&u1, &t1) == 0, "%s", mm_error_message());
    cr_expect(t1 == t0 && t0 > 0 && u1 <= t1);
    cr_expect(u1 >= u0 + ((size_t)64 << 20), "in use %zu bytes before, %zu after 64 MiB", u0, u1);
    g->free(p);
    cr_expect(mm_backend_cpu()->memory_info == NULL, "the CPU has no device memory");
}

Test(cuda, precision_names_and_the_scale_op) {
    const mm_backend *g = need_gpu(), *c = mm_backend_cpu();
    cr_expect(mm_backend_check_precision(g, "bf16") == 0);
    cr_expect(mm_backend_check_precision(g, "fp16") == 0);
    cr_expect(mm_backend_check_precision(g, "fp32") == 0);
    cr_expect(mm_backend_check_precision(g, "fp8") != 0);
    cr_expect(strstr(mm_error_message(), "mixed_precision = 'fp8'") != NULL, "%s", mm_error_message());
    const size_t n = 100003;
    float *x = hrand(n, 100), *x_d = up(g, x, 4 * n);
    c->scale(x, n, 1.0f / 65536.0f);
    g->scale(x_d, n, 1.0f / 65536.0f);
    expect_close(g, x_d, x, n, 0, "scale (exact: a power of two)");
    g->free(x_d);
    free(x);
}

// 20 AdamW steps as train_steps, with the products in `prec`; fp16 adds GradScaler's loss scaling
// (minimind/loss_scale.h) as the trainer does. Returns the number of skipped steps.
static int train_steps_prec(const mm_backend *be, const char *prec, int steps, float *losses) {
    mm_model_config cfg = tiny_config();
    mm_model m;
    mm_adamw o;
    mm_loss_scaler sc;
    mm_loss_scaler_init(&sc);
    const int fp16 = !strcmp(prec, "fp16");
    set_prec(be, prec);
    cr_assert(mm_model_init(&m, &cfg, be, 11) == 0, "%s", mm_error_message());
    cr_assert(mm_adamw_init(&o, m.num_params, 0.9f, 0.999f, 1e-8f, 0.01f, be) == 0);
    const int B = 2, T = 32;
    int32_t X[64], Y[64];
    int skipped = 0;
    for (int s = 0; s < steps; s++) {
        batch(X, Y, B * T, cfg.vocab_size, 0);  // one batch: the loss must go down
        mm_model_zero_grad(&m);
        cr_assert(mm_model_forward(&m, X, Y, NULL, B, T, &losses[s], NULL) == 0, "%s", mm_error_message());
        cr_assert(mm_model_backward(&m, fp16 ? sc.scale : 1.0f) == 0, "%s", mm_error_message());
        if (fp16) be->scale(m.grads, m.num_params, mm_loss_scaler_inv(&sc));
        float norm = mm_model_clip_grad_norm(&m, 1.0f);
        int take = fp16 ? mm_loss_scaler_update(&sc, isfinite(norm)) : 1;
        cr_assert(take || fp16, "step %d: gradient norm %g", s, norm);
        if (take) mm_adamw_step(&o, m.params, m.grads, 2e-3f);
        skipped += !take;
    }
    cr_assert(!be->check || be->check() == 0, "%s", mm_error_message());
    set_prec(be, "fp32");
    mm_adamw_free(&o);
    mm_model_free(&m);
    return skipped;
}

Test(cuda, twenty_steps_bf16_and_fp16_close_to_cpu_fp32) {
    const mm_backend *g = need_gpu();
    float lc[20], lb[20], lh[20];
    train_steps(mm_backend_cpu(), 20, -1, lc);
    cr_assert_eq(train_steps_prec(g, "bf16", 20, lb), 0);
    for (int s = 0; s < 20; s++)
        cr_expect(fabsf(lc[s] - lb[s]) < 2e-2f * lc[s], "bf16 step %d: cpu fp32 %.6f gpu bf16 %.6f", s, lc[s], lb[s]);
    cr_expect(lb[19] < lb[0], "the loss went down in bf16 (%.4f -> %.4f)", lb[0], lb[19]);
    int skipped = train_steps_prec(g, "fp16", 20, lh);
    fprintf(stderr, "test_cuda: fp16 with loss scaling: %d of 20 steps skipped\n", skipped);
    for (int s = 0; s < 20; s++) cr_expect(isfinite(lh[s]), "fp16 step %d: loss %g", s, lh[s]);
    // with no step skipped the trajectory is the fp32 one up to fp16 rounding
    for (int s = 0; s < 20 && skipped == 0; s++)
        cr_expect(fabsf(lc[s] - lh[s]) < 2e-2f * lc[s], "fp16 step %d: cpu fp32 %.6f gpu fp16 %.6f", s, lc[s], lh[s]);
    cr_expect(skipped <= 5, "%d of 20 fp16 steps skipped (the scale should settle within a few)", skipped);
    cr_expect(lh[19] < lh[0], "the loss went down in fp16 (%.4f -> %.4f)", lh[0], lh[19]);
}

// twenty_steps_close_to_cpu_and_resume_exact's resume in bf16, where the feed-forward block keeps its activations and the weights'
// copies in bf16 (the copies are made again from the restored weights at the next forward).
Test(cuda, resume_exact_in_bf16_with_the_feed_forward_block_in_bf16) {
    const mm_backend *g = need_gpu();
    float lg[12], lr[12];
    set_prec(g, "bf16");
    cr_assert_eq(g->ffn_bf16 && g->ffn_bf16(), 1, "the feed-forward block is not in bf16");
    train_steps(g, 12, -1, lg);
    train_steps(g, 12, 5, lr);
    set_prec(g, "fp32");
    for (int s = 0; s < 12; s++) cr_expect(lr[s] == lg[s], "resume: step %d: %.9g vs %.9g (not bit-exact)", s, lr[s], lg[s]);
    cr_expect(lg[11] < lg[0], "the loss went down in bf16 (%.4f -> %.4f)", lg[0], lg[11]);
}

// ---- the feed-forward block in bf16 (backend.h; the reference: engine/src/cpu/ffn_bf16.c) ----

// n random values in (-s, s) rounded to bf16.
static mm_bf16 *hrand_bf16(size_t n, float s) {
    float *f = hrand(n, s);
    mm_bf16 *b = malloc((n ? n : 1) * sizeof(mm_bf16));
    cr_assert(b);
    mm_cpu_to_bf16(b, f, n);
    free(f);
    return b;
}
static mm_bf16 *hzero_bf16(size_t n) {
    mm_bf16 *p = calloc(n ? n : 1, sizeof(mm_bf16));
    cr_assert(p);
    return p;
}
// A device copy of n bf16 values starting `skew` values into its allocation (*base: to free): a
// skew of 1 leaves the data 2 bytes past a 16-byte boundary, 2 leaves it 4 bytes past.
static mm_bf16 *up_skewed_bf16(const mm_backend *be, const mm_bf16 *h, size_t n, int skew, void **base) {
    return up_skewed_elems(be, h, n, sizeof(mm_bf16), skew, base);
}
static mm_bf16 *down_bf16(const mm_backend *be, const void *d, size_t n) {
    return down_elems(be, d, n, sizeof(mm_bf16));
}

// Steps between two bf16 values along the number line (+0 and -0 are one point); two NaNs
// (whatever their payloads: a GPU's conversion makes 0x7FFF, the reference 0x7FC0) are 0 apart, a
// NaN and a number LONG_MAX.
static long bf16_ulps(mm_bf16 a, mm_bf16 b) {
    const int an = isnan(mm_bf16_float(a)), bn = isnan(mm_bf16_float(b));
    if (an || bn) return an && bn ? 0 : LONG_MAX;
    const long oa = a & 0x8000u ? -(long)(a & 0x7FFFu) : (long)a,
               ob = b & 0x8000u ? -(long)(b & 0x7FFFu) : (long)b;
    return labs(oa - ob);
}

// bf16 results on the device against the reference's: none more than max_ulp steps away, and at
// most 1 % (+1) of them off at all — an fp32 value a few fp32 ulps away rounds to the other bf16
// neighbour only near a boundary; a conversion that truncates, or rounds ties away, moves far more.
// Returns how many differ.
static size_t expect_bf16_ulps(const mm_backend *be, const void *dgpu, const mm_bf16 *ref, size_t n,
                               long max_ulp, const char *what) {
    mm_bf16 *h = down_bf16(be, dgpu, n);
    size_t bad = 0, first = 0, off = 0;
    for (size_t i = 0; i < n; i++) {
        const long u = bf16_ulps(h[i], ref[i]);
        off += u != 0;
        if (u > max_ulp && !bad++) first = i;
    }
    cr_expect(
        bad == 0,
        "%s: %zu of %zu values more than %ld bf16 ulp from the reference (first: [%zu] 0x%04x, want 0x%04x)",
        what, bad, n, max_ulp, first, bad ? h[first] : 0, bad ? ref[first] : 0);
    cr_expect(off <= n / 100 + 1,
              "%s: %zu of %zu values differ from the reference: more than rounding-boundary flips", what, off,
              n);
    free(h);
    return off;
}

// bf16 products against the reference's: |gpu - cpu| <= one bf16 ulp of cpu + rel * max |cpu|
// (fp32 sums in another order, each then rounded once: they may round to neighbours).
static void expect_bf16_near(const mm_backend *be, const void *dgpu, const mm_bf16 *ref, size_t n, double rel,
                             const char *what) {
    mm_bf16 *h = down_bf16(be, dgpu, n);
    double m = 1e-3;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(mm_bf16_float(ref[i])));
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        const uint32_t mag = ref[i] & 0x7FFFu;
        const double ulp = mm_bf16_float(mag + 1) - mm_bf16_float(mag);
        const double d = fabs((double)mm_bf16_float(h[i]) - mm_bf16_float(ref[i]));
        if (!(d <= ulp + rel * m) && !bad++) first = i;  // NaN fails
    }
    cr_expect(bad == 0, "%s: %zu of %zu values further than 1 bf16 ulp + %g x %g (first: [%zu] %g, want %g)",
              what, bad, n, rel, m, first, bad ? mm_bf16_float(h[first]) : 0.0,
              bad ? mm_bf16_float(ref[first]) : 0.0);
    free(h);
}

// to_bf16 of n values, src `ss` floats and dst `ds` bf16 values into their allocations, against
// the reference bit for bit: ties to even both ways, the largest float (to inf), infinities, -0,
// subnormals, NaNs (a signalling one would truncate to inf) first, then random values; the value
// after dst's end stays as it was.
static void to_bf16_case(const mm_backend *g, size_t n, int ss, int ds) {
    static const uint32_t special[] = {0x3F808000u, 0x3F818000u, 0x3F808001u, 0x3F807FFFu, 0xBF818000u,
                                       0x80000000u, 0x7F800000u, 0xFF800000u, 0x7F7FFFFFu, 0x7F7F7FFFu,
                                       0x00000001u, 0x00018000u, 0x807FFFFFu, 0x7FC00000u, 0x7F800001u};
    float *x = hrand(n, 8);
    for (size_t i = 0; i < n && i < sizeof special / sizeof special[0]; i++) memcpy(&x[i], &special[i], 4);
    mm_bf16 *want = hzero_bf16(n + 1), *fill = hzero_bf16(n + 1);
    for (size_t i = 0; i <= n; i++) fill[i] = 0x1234;
    mm_cpu_to_bf16(want, x, n);
    want[n] = 0x1234;
    void *b1, *b2;
    float *x_d = up_skewed(g, x, n, ss, &b1);
    mm_bf16 *y_d = up_skewed_bf16(g, fill, n + 1, ds, &b2);
    g->to_bf16(y_d, x_d, n);
    char what[96];
    snprintf(what, sizeof what, "to_bf16, n %zu, src %d floats and dst %d values in", n, ss, ds);
    expect_bf16_ulps(g, y_d, want, n + 1, 0, what);
    FREE_DEV(g, b1, b2);
    FREE_HOST(x, want, fill);
}

// to_bf16_rows of rows x cols, src rows lds floats and dst rows ldd values apart (dst `ds` values
// into its allocation), against the reference bit for bit; the values between dst's rows and after
// its last stay as they were (`model` writes the two halves of [z | m] this way).
static void to_bf16_rows_case(const mm_backend *g, int rows, int cols, int lds, int ldd, int ds) {
    const size_t ns = (size_t)rows * lds, nd = (size_t)rows * ldd + 1;
    float *x = hrand(ns, 8);
    mm_bf16 *want = hzero_bf16(nd), *fill = hzero_bf16(nd);
    for (size_t i = 0; i < nd; i++) want[i] = fill[i] = 0x1234;
    mm_cpu_to_bf16_rows(want, ldd, x, lds, rows, cols);
    void *b1, *b2;
    float *x_d = up_skewed(g, x, ns, 0, &b1);
    mm_bf16 *y_d = up_skewed_bf16(g, fill, nd, ds, &b2);
    g->to_bf16_rows(y_d, ldd, x_d, lds, rows, cols);
    char what[112];
    snprintf(what, sizeof what, "to_bf16_rows, %d x %d, lds %d, ldd %d, dst %d values in", rows, cols, lds,
             ldd, ds);
    expect_bf16_ulps(g, y_d, want, nd, 0, what);
    FREE_DEV(g, b1, b2);
    FREE_HOST(x, want, fill);
}

// rmsnorm_forward_bf16 and the SwiGLU pair in bf16 over rows of L (C = F = L), the fp32 buffers `fs`
// floats and the bf16 ones `hs` values into their allocations: at most 1 bf16 ulp from the
// reference (another expf or summation order may move a value across a rounding boundary).
// rmsnorm_backward_bf16 against the reference: dinp (accumulated) and dw within 1e-5 of the
// largest value, dinp's bf16 copy (copy16) within 1 ulp; dout of type dt, bf16 buffers skewed by
// hs bytes.
static void norm_backward_bf16_case(const mm_backend *g, int N, int L, mm_storage dt, int copy16, int hs) {
    const size_t nl = (size_t)N * L;
    void *b1 = NULL, *b2 = NULL;
    float *x = hrand(nl, 1), *w = hrand(L, 1), *r = hrand(N, 0.5f), *dinp = hrand(nl, 1), *dw = hrand(L, 1);
    for (int i = 0; i < N; i++) r[i] += 1.0f;  // rstd in (0.5, 1.5)
    float *dy32 = hrand(nl, 1);
    mm_bf16 *dy16 = hrand_bf16(nl, 1), *d16 = hzero_bf16(nl);
    float *x_d = up(g, x, 4 * nl), *w_d = up(g, w, 4u * L), *r_d = up(g, r, 4u * N);
    float *dinp_d = up(g, dinp, 4 * nl), *dw_d = up(g, dw, 4u * L);
    const void *dy_d =
        dt == MM_STORE_BF16 ? (const void *)up_skewed_bf16(g, dy16, nl, hs, &b1) : up(g, dy32, 4 * nl);
    mm_bf16 *d16_d = copy16 ? up_skewed_bf16(g, d16, nl, hs, &b2) : NULL;
    mm_cpu_rmsnorm_backward_bf16(dinp, copy16 ? d16 : NULL, dw,
                                 dt == MM_STORE_BF16 ? (const void *)dy16 : dy32, dt, x, w, r, N, L);
    g->rmsnorm_backward_bf16(dinp_d, d16_d, dw_d, dy_d, dt, x_d, w_d, r_d, N, L);
    char what[96];
    snprintf(what, sizeof what, "rmsnorm_backward_bf16 dinp, C %d, dout %s, copy %d", L,
             dt == MM_STORE_BF16 ? "bf16" : "fp32", copy16);
    expect_close(g, dinp_d, dinp, nl, 1e-5, what);
    expect_close(g, dw_d, dw, L, 1e-5, "rmsnorm_backward_bf16 dw");
    if (copy16) expect_bf16_ulps(g, d16_d, d16, nl, 1, "rmsnorm_backward_bf16 dinp's bf16 copy");
    if (dt == MM_STORE_F32) g->free((void *)dy_d);
    FREE_DEV(g, x_d, w_d, r_d, dinp_d, dw_d, b1, b2);
    FREE_HOST(x, w, r, dinp, dw, dy32, dy16, d16);
}

static void norm_gate_case(const mm_backend *g, int N, int L, int fs, int hs) {
    const size_t nl = (size_t)N * L;
    char what[96];
    void *b1, *b2, *b3, *b4;
    float *x = hrand(nl, 1), *w = hrand(L, 1), *r = hzero(N), *r_d = up(g, r, 4u * N);
    mm_bf16 *y = hzero_bf16(nl), *y0 = hrand_bf16(nl, 1);
    float *x_d = up_skewed(g, x, nl, fs, &b1), *w_d = up_skewed(g, w, L, fs, &b2);
    mm_bf16 *y_d = up_skewed_bf16(g, y0, nl, hs, &b3);
    mm_cpu_rmsnorm_forward_bf16(y, r, x, w, N, L, 1e-5f);
    g->rmsnorm_forward_bf16(y_d, r_d, x_d, w_d, N, L, 1e-5f);
    snprintf(what, sizeof what, "rmsnorm_forward_bf16 out, C %d, skews %d / %d", L, fs, hs);
    expect_bf16_ulps(g, y_d, y, nl, 1, what);
    expect_close(g, r_d, r, N, 1e-5, "rmsnorm_forward_bf16 rstd");
    FREE_DEV(g, b1, b2, b3, r_d);
    FREE_HOST(x, w, r, y, y0);
    for (int k = 0; k < 4;
         k++)  // rmsnorm_backward_bf16: dout in bf16 or fp32, with or without dinp's bf16 copy
        norm_backward_bf16_case(g, N, L, k & 1 ? MM_STORE_BF16 : MM_STORE_F32, k >> 1, hs);
    mm_bf16 *h13 = hrand_bf16(2 * nl, 4), *gg = hzero_bf16(nl), *dg = hrand_bf16(nl, 1),
            *dh = hzero_bf16(2 * nl);
    mm_bf16 *h13_d = up_skewed_bf16(g, h13, 2 * nl, hs, &b1), *gg_d = up_skewed_bf16(g, dg, nl, hs, &b2);
    mm_bf16 *dg_d = up_skewed_bf16(g, dg, nl, hs, &b3), *dh_d = up_skewed_bf16(g, h13, 2 * nl, hs, &b4);
    mm_cpu_swiglu_forward_bf16(gg, h13, N, L);
    g->swiglu_forward_bf16(gg_d, h13_d, N, L);
    snprintf(what, sizeof what, "swiglu_forward_bf16, F %d, skew %d", L, hs);
    expect_bf16_ulps(g, gg_d, gg, nl, 1, what);
    mm_cpu_swiglu_backward_bf16(dh, dg, h13, N, L);
    g->swiglu_backward_bf16(dh_d, dg_d, h13_d, N, L);
    snprintf(what, sizeof what, "swiglu_backward_bf16, F %d, skew %d", L, hs);
    expect_bf16_ulps(g, dh_d, dh, 2 * nl, 1, what);
    FREE_DEV(g, b1, b2, b3, b4);
    FREE_HOST(h13, gg, dg, dh);
}

// The products of a bf16 linear layer inp (M,K) -> (M,N) against the reference: fp32 results within
// 1e-5 of the largest (exact bf16 products, fp32 sums in another order), bf16 results within one
// ulp more; the residual read only; between two bf16 residual products an fp32 one of the same
// shape on the widened operands (exact in the bf16 precision: the same numbers), so each takes
// its own cuBLASLt plan (a plan for the other operand type reads them wrong); dinp overwritten
// (fp32 and bf16), dw accumulated twice.
static void ffn_product_case(const mm_backend *g, int M, int K, int N) {
    const size_t mk = (size_t)M * K, nk = (size_t)N * K, mn = (size_t)M * N;
    mm_bf16 *x = hrand_bf16(mk, 1), *w = hrand_bf16(nk, 1), *dy = hrand_bf16(mn, 1);
    mm_bf16 *y = hzero_bf16(mn), *dxb = hzero_bf16(mk), *junk = hrand_bf16(mn > mk ? mn : mk, 1);
    float *res = hrand(mn, 1), *out = hzero(mn), *dw = hrand(nk, 1), *dxf = hzero(mk);
    float *junkf = hrand(mn > mk ? mn : mk, 1);  // what the outputs hold before: overwritten
    mm_bf16 *x_d = up(g, x, 2 * mk), *w_d = up(g, w, 2 * nk), *dy_d = up(g, dy, 2 * mn);
    mm_bf16 *y_d = up(g, junk, 2 * mn), *dxb_d = up(g, junk, 2 * mk);
    float *res_d = up(g, res, 4 * mn), *out_d = up(g, junkf, 4 * mn);
    float *dw_d = up(g, dw, 4 * nk), *dxf_d = up(g, junkf, 4 * mk);
    char what[96];
    mm_cpu_matmul_forward_bf16(y, x, w, M, K, N);
    g->matmul_forward_bf16(y_d, x_d, w_d, M, K, N);
    snprintf(what, sizeof what, "matmul_forward_bf16 (%d,%d) x (%d,%d)^T", M, K, N, K);
    expect_bf16_near(g, y_d, y, mn, 1e-5, what);
    mm_cpu_matmul_forward_residual_bf16(out, res, x, w, M, K, N);
    float *xf = hzero(mk), *wf = hzero(nk);  // the bf16 operands widened
    for (size_t i = 0; i < mk; i++) xf[i] = mm_bf16_float(x[i]);
    for (size_t i = 0; i < nk; i++) wf[i] = mm_bf16_float(w[i]);
    float *xf_d = up(g, xf, 4 * mk), *wf_d = up(g, wf, 4 * nk);
    for (int pass = 0; pass < 3; pass++) {  // bf16, fp32, bf16 operands
        g->copy_h2d(out_d, junkf, 4 * mn);
        if (pass == 1)
            g->matmul_forward_residual(out_d, res_d, xf_d, wf_d, M, K, N);
        else
            g->matmul_forward_residual_bf16(out_d, res_d, x_d, w_d, M, K, N);
        snprintf(what, sizeof what, "matmul_forward_residual%s (%d,%d) x (%d,%d)^T", pass == 1 ? "" : "_bf16",
                 M, K, N, K);
        expect_close(g, out_d, out, mn, 1e-5, what);
    }
    expect_close(g, res_d, res, mn, 0, "the residual is read only");
    FREE_DEV(g, xf_d, wf_d);
    FREE_HOST(xf, wf);
    mm_cpu_matmul_backward_bf16(dxf, MM_STORE_F32, dw, dy, x, w, M, K, N);
    g->matmul_backward_bf16(dxf_d, MM_STORE_F32, dw_d, dy_d, x_d, w_d, M, K, N);
    snprintf(what, sizeof what, "matmul_backward_bf16 fp32 dinp, M %d K %d N %d", M, K, N);
    expect_close(g, dxf_d, dxf, mk, 1e-5, what);
    expect_close(g, dw_d, dw, nk, 1e-5, "matmul_backward_bf16 dw (once)");
    mm_cpu_matmul_backward_bf16(dxb, MM_STORE_BF16, dw, dy, x, w, M, K, N);
    g->matmul_backward_bf16(dxb_d, MM_STORE_BF16, dw_d, dy_d, x_d, w_d, M, K, N);
    snprintf(what, sizeof what, "matmul_backward_bf16 bf16 dinp, M %d K %d N %d", M, K, N);
    expect_bf16_near(g, dxb_d, dxb, mk, 1e-5, what);
    expect_close(g, dw_d, dw, nk, 1e-5, "matmul_backward_bf16 dw (twice)");
    FREE_DEV(g, x_d, w_d, dy_d, y_d, dxb_d, res_d, out_d, dw_d, dxf_d);
    FREE_HOST(x, w, dy, y, dxb, junk, res, out, dw, dxf, junkf);
}

// The ops with nothing to do (no rows, no values) change nothing and launch nothing (a grid of 0
// blocks is an invalid launch); dw += a sum over no rows is unchanged.
static void ffn_zero_sized_case(const mm_backend *g) {
    enum { NB = 2048 };
    float *h = hrand(NB, 1), *buf = up(g, h, sizeof(float) * NB);
    float *f = buf, *rstd = buf + 256, *w = buf + 512, *dw = buf + 768, *res = buf + 1024;
    mm_bf16 *a = (mm_bf16 *)(buf + 1280), *b = (mm_bf16 *)(buf + 1536), *c = (mm_bf16 *)(buf + 1792);
    const int C = 8, F = 4, K = 8, N = 4;
    g->to_bf16(a, f, 0);
    g->to_bf16_rows(a, C, f, C, 0, C);
    g->to_bf16_rows(a, C, f, C, N, 0);
    g->rmsnorm_forward_bf16(a, rstd, f, w, 0, C, 1e-5f);
    g->swiglu_forward_bf16(a, b, 0, F);
    g->swiglu_forward_bf16(a, b, 3, 0);
    g->swiglu_backward_bf16(a, b, c, 0, F);
    g->matmul_forward_bf16(a, b, c, 0, K, N);
    g->matmul_forward_residual_bf16(f, res, b, c, 0, K, N);
    g->matmul_backward_bf16(a, MM_STORE_BF16, dw, b, c, (const mm_bf16 *)w, 0, K, N);
    g->matmul_backward_bf16(f, MM_STORE_F32, dw, b, c, (const mm_bf16 *)w, 0, K, N);
    cr_assert(!g->check || g->check() == 0, "a zero-sized bf16 FFN call failed: %s", mm_error_message());
    expect_close(g, buf, h, NB, 0, "zero-sized bf16 FFN calls left the buffers as they were");
    g->free(buf);
    free(h);
}

// Every op of the bf16 feed-forward block against the CPU reference: to_bf16 bit for bit (its
// 16-byte / 8-byte vector path with a scalar tail, and scalar alone: unaligned source or
// destination, fewer than 4 values), to_bf16_rows bit for bit (rows into strided halves, vector
// and scalar); RMSNorm and SwiGLU in bf16 within 1 ulp on rows that take
// the vector path (MiniMind: C = 512, F = 1408; 8-byte aligned bf16 rows) and the scalar one
// (buffers 2 or 4 bytes off alignment, an odd width), the norm's backward with a bf16 or fp32
// dout and dinp's bf16 copy (used by both blocks); the products at MiniMind's FFN shapes
// (w13: C 512 -> 2F 2816, w2: 1408 -> 512) and an odd one, the residual product also through
// cuBLASLt's fallback (MM_CUDA_RESIDUAL=copy); zero-sized calls.
Test(cuda, ffn_bf16_ops_match_the_cpu_reference) {
    const mm_backend *g = need_gpu();
    cr_assert(g->ffn_bf16 && g->to_bf16 && g->to_bf16_rows && g->rmsnorm_forward_bf16 &&
                  g->swiglu_forward_bf16 && g->swiglu_backward_bf16 && g->matmul_forward_bf16 &&
                  g->matmul_forward_residual_bf16 && g->matmul_backward_bf16,
              "the CUDA backend has every op of the bf16 feed-forward block");
    set_prec(g, "bf16");
    to_bf16_case(g, 1031, 0, 0);  // 257 vectors + 3 values
    to_bf16_case(g, 1031, 1, 0);  // source 4 bytes off
    to_bf16_case(g, 1031, 0, 1);  // destination 2 bytes off
    to_bf16_case(g, 1031, 0, 2);  // destination 4 bytes off (not 8)
    to_bf16_case(g, 4096, 4, 4);  // both offset and still aligned: vectors only
    to_bf16_case(g, 3, 0, 0);
    to_bf16_rows_case(g, 9, 64, 64, 128, 0);   // `model`'s [z | m] halves: vectors
    to_bf16_rows_case(g, 9, 64, 64, 128, 64);  // the second half (8-byte aligned rows)
    to_bf16_rows_case(g, 7, 13, 15, 30, 0);    // odd widths and strides: value by value
    to_bf16_rows_case(g, 7, 12, 16, 24, 1);    // dst 2 bytes off: value by value
    const struct {
        int len, fs, hs;
    } rows[] = {{512, 0, 0}, {1408, 0, 0}, {96, 1, 1}, {40, 0, 2}, {44, 0, 4}, {37, 0, 0}};
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
        norm_gate_case(g, 21, rows[k].len, rows[k].fs, rows[k].hs);
    ffn_product_case(g, 33, 512, 2816);
    ffn_product_case(g, 33, 1408, 512);
    ffn_product_case(g, 45, 37, 29);
    cr_assert(setenv("MM_CUDA_RESIDUAL", "copy", 1) == 0);
    cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
    ffn_product_case(g, 45, 37, 29);
    cr_assert(unsetenv("MM_CUDA_RESIDUAL") == 0);
    cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
    ffn_zero_sized_case(g);
    set_prec(g, "fp32");
}

// A block's bf16 switch `var` in bf16 (read when the backend starts): an unknown value is refused
// naming the variable; "fp32" turns on(g) off, "bf16" and empty on; unset at the end: on.
static void block_switch_case(const mm_backend *g, const char *var, int (*on)(const mm_backend *)) {
    cr_assert(setenv(var, "sideways", 1) == 0);
    cr_expect(mm_backend_cuda(0) == NULL, "an unknown %s must be refused", var);
    char want[64];
    snprintf(want, sizeof want, "%s=sideways: expected bf16 or fp32", var);
    cr_expect(strstr(mm_error_message(), want) != NULL, "%s", mm_error_message());
    const struct {
        const char *value;
        int on;
    } envs[] = {{"fp32", 0}, {"bf16", 1}, {"fp32", 0}, {"", 1}};
    for (int i = 0; i < 4; i++) {
        cr_assert(setenv(var, envs[i].value, 1) == 0);
        cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
        cr_expect_eq(on(g), envs[i].on, "%s=%s in bf16: the block in bf16 %d", var, envs[i].value, on(g));
    }
    cr_assert(setenv(var, "fp32", 1) == 0);
    cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
    cr_assert(unsetenv(var) == 0);
    cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
    cr_expect_eq(on(g), 1, "%s unset: the block in bf16", var);
}

// on(g) (what: its name) is 1 in bf16 only, 0 in fp32 and fp16; leaves the precision fp16.
static void expect_on_in_bf16_only(const mm_backend *g, const char *what, int (*on)(const mm_backend *)) {
    const char *const precs[] = {"bf16", "fp32", "fp16"};
    for (int i = 0; i < 3; i++) {
        set_prec(g, precs[i]);
        cr_expect_eq(on(g), i == 0, "%s: %s = %d", precs[i], what, on(g));
    }
}

// A bf16 block's switch: on(g) is 1 in bf16 only, and var turns it off (block_switch_case);
// leaves the precision fp32.
static void block_follows_the_precision_case(const mm_backend *g, const char *what, const char *var,
                                             int (*on)(const mm_backend *)) {
    expect_on_in_bf16_only(g, what, on);
    set_prec(g, "bf16");
    block_switch_case(g, var, on);
    set_prec(g, "fp32");
}

static int ffn_on(const mm_backend *g) { return g->ffn_bf16(); }

// ffn_bf16() is 1 in bf16 only, and MM_CUDA_FFN (read when the backend starts) turns it off with
// "fp32"; "bf16", empty or unset keep it; anything else is refused, naming the variable.
Test(cuda, ffn_bf16_follows_the_precision_and_MM_CUDA_FFN) {
    block_follows_the_precision_case(need_gpu(), "ffn_bf16()", "MM_CUDA_FFN", ffn_on);
}

// ---- the attention block in bf16 (backend.h; the reference: engine/src/cpu/attention_bf16.c) ----

// n bf16 values all `bits`.
static mm_bf16 *hfill_bf16(size_t n, mm_bf16 bits) {
    mm_bf16 *p = hzero_bf16(n);
    for (size_t i = 0; i < n; i++) p[i] = bits;
    return p;
}
// n floats all x.
static float *hfill(size_t n, float x) {
    float *p = hzero(n);
    for (size_t i = 0; i < n; i++) p[i] = x;
    return p;
}
// The bf16 values widened to fp32 (exact).
static float *widen_bf16(const mm_bf16 *b, size_t n) {
    float *f = hzero(n);
    for (size_t i = 0; i < n; i++) f[i] = mm_bf16_float(b[i]);
    return f;
}

// A view of a (rows, ld) buffer: rows 0 .. rows-1, columns c0 .. c0+w-1.
typedef struct bf16_view {
    size_t rows, ld, c0, w;
} bf16_view;

// max over the view of |x - ref| beyond one bf16 ulp of ref, relative to max |ref| (at least 1e-3);
// infinite when a value is NaN.
static double bf16_view_error(const mm_bf16 *x, const mm_bf16 *ref, bf16_view v) {
    double e = 0.0, m = 1e-3;
    for (size_t r = 0; r < v.rows; r++)
        for (size_t c = v.c0; c < v.c0 + v.w; c++) {
            const mm_bf16 a = x[r * v.ld + c], b = ref[r * v.ld + c];
            const uint32_t mag = b & 0x7FFFu;
            const double ulp = mm_bf16_float(mag + 1) - mm_bf16_float(mag);
            const double d = fabs((double)mm_bf16_float(a) - mm_bf16_float(b)) - ulp;
            if (isnan(d)) return INFINITY;
            e = fmax(e, d);
            m = fmax(m, fabs(mm_bf16_float(b)));
        }
    return e / m;
}

static void expect_bf16_view(const mm_bf16 *x, const mm_bf16 *ref, bf16_view v, double tol, const char *what,
                             const char *shape) {
    const double e = bf16_view_error(x, ref, v);
    cr_expect(e <= tol, "%s, %s: relative error %g > %g (beyond 1 bf16 ulp)", what, shape, e, tol);
}

// Values of a packed (rows, ld) q|k|v gradient that the backward must leave alone — the q columns
// (0 .. C-1) from row nq on, the k and v columns (C .. C+2 KVd-1) from row nkv on, the columns past
// them — that do not hold `fill` any more.
static size_t dqkv_outside_changed(const mm_bf16 *h, size_t rows, size_t ld, size_t C, size_t KVd, size_t nq,
                                   size_t nkv, mm_bf16 fill) {
    size_t changed = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < ld; c++) {
            const int written = c < C ? r < nq : c < C + 2 * KVd && r < nkv;
            changed += !written && h[r * ld + c] != fill;
        }
    return changed;
}

// rope_forward_bf16 and rope_backward_bf16 on NH heads of rows of stride ld (the model rotates q
// with NH = H and k with NH = KV inside its packed qkv rows), the buffer `skew` values into its
// allocation, against the reference: within 1 bf16 ulp, at most 1 % of values off at all, every
// other column as it was (the whole buffer is compared). ld even and the rows 4-byte aligned: one
// 4-byte access per pair; ld odd or skew odd: value by value.
static void rope_bf16_case(const mm_backend *g, int B, int T, int NH, int hs, int ld, int pos0, int skew) {
    const int half = hs / 2, maxpos = pos0 + T;
    const size_t n = (size_t)B * T * ld, nt = (size_t)maxpos * half;
    float *cs = hzero(nt), *sn = hzero(nt);
    for (int p = 0; p < maxpos; p++)
        for (int j = 0; j < half; j++) {
            const float a = (float)p * powf(10000.0f, -2.0f * j / hs);
            cs[(size_t)p * half + j] = cosf(a), sn[(size_t)p * half + j] = sinf(a);
        }
    float *cs_d = up(g, cs, 4 * nt), *sn_d = up(g, sn, 4 * nt);
    mm_bf16 *x = hrand_bf16(n, 4), *want = hzero_bf16(n);
    char what[128];
    for (int dir = 0; dir < 2; dir++) {
        memcpy(want, x, 2 * n);
        void *b;
        mm_bf16 *x_d = up_skewed_bf16(g, x, n, skew, &b);
        if (dir == 0) {
            mm_cpu_rope_forward_bf16(want, ld, cs, sn, B, T, NH, hs, pos0);
            g->rope_forward_bf16(x_d, ld, cs_d, sn_d, B, T, NH, hs, pos0);
        } else {
            mm_cpu_rope_backward_bf16(want, ld, cs, sn, B, T, NH, hs, pos0);
            g->rope_backward_bf16(x_d, ld, cs_d, sn_d, B, T, NH, hs, pos0);
        }
        snprintf(what, sizeof what, "rope_%s_bf16 B %d T %d NH %d hs %d ld %d pos0 %d skew %d",
                 dir ? "backward" : "forward", B, T, NH, hs, ld, pos0, skew);
        expect_bf16_ulps(g, x_d, want, n, 1, what);
        g->free(b);
    }
    FREE_DEV(g, cs_d, sn_d);
    FREE_HOST(cs, sn, x, want);
}

// With GQA the bf16 backward rounds each query head's dK, dV to bf16 (its per-head scratch) before
// a kv group's sum; the fp32 path sums them in fp32. The fp32 path's own per-head gradients — the
// same kernels on K, V repeated to H heads, so H == KV and nothing is shared — rounded and summed
// in head order here give what the bf16 op stores: into rd's dk, dv columns (rows of ld, dk at
// column C, dv at C + KV*hs). qkvf: the widened packed qkv (B*Tk rows of ld); stf_d: the fp32
// path's state (lse and its copy of O: the same for any kv layout).
static void fp32_path_group_sums_of_rounded_heads(const mm_backend *g, mm_bf16 *rd, const float *qkvf,
                                                  const float *doutf_d, float *stf_d, int ld, int B, int Tq,
                                                  int Tk, int H, int KV, int hs) {
    const int C = H * hs, lde = 3 * C, rep = H / KV;
    const size_t rows = (size_t)B * Tk, ne = rows * lde, ns = g->attention_state_floats(B, Tq, Tk, H, hs);
    float *qkve = hzero(ne);  // q | k repeated | v repeated
    for (size_t t = 0; t < rows; t++)
        for (int c = 0; c < C; c++) {
            const int kv = (c / hs) / rep * hs + c % hs;
            qkve[t * lde + c] = qkvf[t * ld + c];
            qkve[t * lde + C + c] = qkvf[t * ld + C + kv];
            qkve[t * lde + 2 * C + c] = qkvf[t * ld + C + KV * hs + kv];
        }
    float *zero = hzero(ne > ns ? ne : ns);
    float *qkve_d = up(g, qkve, 4 * ne), *dqkve_d = up(g, zero, 4 * ne), *datt_d = up(g, zero, 4 * ns);
    g->attention_backward(dqkve_d, dqkve_d + C, dqkve_d + 2 * C, datt_d, doutf_d, stf_d, qkve_d, lde,
                          qkve_d + C, qkve_d + 2 * C, lde, B, Tq, Tk, H, H, hs);
    float *dqkve = down(g, dqkve_d, ne);
    for (size_t t = 0; t < rows; t++)
        for (int kv = 0; kv < KV * hs; kv++)
            for (int part = 1; part <= 2; part++) {  // dk, dv
                float acc = 0.0f;
                for (int r = 0; r < rep; r++)
                    acc += mm_bf16_float(
                        mm_bf16_bits(dqkve[t * lde + part * C + (kv / hs * rep + r) * hs + kv % hs]));
                rd[t * ld + C + (part - 1) * KV * hs + kv] = (mm_bf16)mm_bf16_bits(acc);
            }
    FREE_DEV(g, qkve_d, dqkve_d, datt_d);
    FREE_HOST(qkve, zero, dqkve);
}

// attention_forward_bf16 and attention_backward_bf16 with q, k, v views into one packed (rows, ld)
// qkv buffer as the model uses them (q at 0, k at C, v at C + KV*hs; ld = C + 2 KV*hs + pad) and
// dq, dk, dv views into one dqkv buffer likewise, the packed buffers `skew` values into their
// allocations (skew odd: rows not 8-byte aligned; pad odd: ld odd — the tiles staged value by
// value). rows = B*Tk (q reads its B*Tq first) + one row of sentinels.
//   against the reference (engine/src/cpu/attention_bf16.c): out within 1e-2 of the largest value
//     + 1 bf16 ulp, dq, dk, dv within 1.5e-2 + 1 ulp (attention_bf16_close_to_cpu's tolerances);
//     nothing written outside out, the views' columns and rows, or the state past lse (B,H,Tq);
//   against the fp32-storage flash path on the same (widened) inputs, its results rounded to bf16
//     (to_bf16): it stages the same 16-bit values and runs the same products, so out, and dq, dk,
//     dv when its state's copy of O is replaced by the widened bf16 out (its D = rowsum(dO o O)
//     then reads the same O), are within 1 ulp, at most 1 % of values off at all (the simulator:
//     bit for bit), the whole dqkv buffer compared — with GQA dk, dv against its per-head
//     gradients rounded and summed as the bf16 op does (fp32_path_group_sums_of_rounded_heads);
//     lse within 1e-6.
static void attention_bf16_case(const mm_backend *g, int B, int Tq, int Tk, int H, int KV, int hs, int pad,
                                int skew) {
    const int C = H * hs, KVd = KV * hs, ld = C + 2 * KVd + pad;
    const size_t rows = (size_t)B * Tk + 1, nb = rows * ld, no = (size_t)B * Tq * C, nl = (size_t)B * H * Tq;
    const size_t na = nl * Tk, ns = g->attention_state_floats(B, Tq, Tk, H, hs);
    const mm_bf16 fill = 0x1234;
    char shape[128];
    snprintf(shape, sizeof shape, "B %d Tq %d Tk %d H %d KV %d hs %d pad %d skew %d", B, Tq, Tk, H, KV, hs,
             pad, skew);
    cr_assert(ns >= nl, "%s: %zu floats of state", shape, ns);
    mm_bf16 *qkv = hrand_bf16(nb, 1), *dout = hrand_bf16(no, 1);
    mm_bf16 *out = hfill_bf16(no + C, fill), *dqkv = hfill_bf16(nb, fill);  // out: + a row of sentinels
    float *att = hzero(na), *datt = hzero(na), *st = hfill(ns, -7.0f);
    mm_cpu_attention_forward_bf16(out, att, qkv, ld, qkv + C, qkv + C + KVd, ld, B, Tq, Tk, H, KV, hs);
    mm_cpu_attention_backward_bf16(dqkv, dqkv + C, dqkv + C + KVd, datt, dout, out, att, qkv, ld, qkv + C,
                                   qkv + C + KVd, ld, B, Tq, Tk, H, KV, hs);
    void *b1, *b2;
    mm_bf16 *junk = hfill_bf16(nb > no + C ? nb : no + C, fill);  // what the outputs hold before
    mm_bf16 *qkv_d = up_skewed_bf16(g, qkv, nb, skew, &b1), *dqkv_d = up_skewed_bf16(g, junk, nb, skew, &b2);
    mm_bf16 *out_d = up(g, junk, 2 * (no + C)), *dout_d = up(g, dout, 2 * no);
    float *st_d = up(g, st, 4 * ns), *datt_d = up(g, st, 4 * ns);
    g->attention_forward_bf16(out_d, st_d, qkv_d, ld, qkv_d + C, qkv_d + C + KVd, ld, B, Tq, Tk, H, KV, hs);
    g->attention_backward_bf16(dqkv_d, dqkv_d + C, dqkv_d + C + KVd, datt_d, dout_d, out_d, st_d, qkv_d, ld,
                               qkv_d + C, qkv_d + C + KVd, ld, B, Tq, Tk, H, KV, hs);
    mm_bf16 *ho = down_bf16(g, out_d, no + C), *hd = down_bf16(g, dqkv_d, nb);
    float *hst = down(g, st_d, ns);
    const bf16_view vo = {(size_t)B * Tq, (size_t)C, 0, (size_t)C};
    const bf16_view vq = {(size_t)B * Tq, (size_t)ld, 0, (size_t)C};
    const bf16_view vk = {(size_t)B * Tk, (size_t)ld, (size_t)C, (size_t)KVd};
    const bf16_view vv = {(size_t)B * Tk, (size_t)ld, (size_t)(C + KVd), (size_t)KVd};
    expect_bf16_view(ho, out, vo, 1e-2, "attention_forward_bf16 out vs the reference", shape);
    expect_bf16_view(hd, dqkv, vq, 1.5e-2, "attention_backward_bf16 dq vs the reference", shape);
    expect_bf16_view(hd, dqkv, vk, 1.5e-2, "attention_backward_bf16 dk vs the reference", shape);
    expect_bf16_view(hd, dqkv, vv, 1.5e-2, "attention_backward_bf16 dv vs the reference", shape);
    size_t changed = 0;
    for (int c = 0; c < C; c++) changed += ho[no + c] != fill;
    cr_expect(changed == 0, "%s: attention_forward_bf16 wrote %zu values past out", shape, changed);
    changed = dqkv_outside_changed(hd, rows, ld, C, KVd, (size_t)B * Tq, (size_t)B * Tk, fill);
    cr_expect(changed == 0, "%s: attention_backward_bf16 wrote %zu values outside dq, dk, dv", shape,
              changed);
    changed = 0;
    for (size_t i = nl; i < ns; i++) changed += hst[i] != -7.0f;
    cr_expect(changed == 0, "%s: attention_forward_bf16 wrote %zu floats of state past lse (B,H,Tq)", shape,
              changed);
    // the fp32-storage flash path on the widened inputs
    float *qkvf = widen_bf16(qkv, nb), *doutf = widen_bf16(dout, no), *junkf = widen_bf16(junk, nb);
    float *of = widen_bf16(ho, no);
    float *qkvf_d = up(g, qkvf, 4 * nb), *doutf_d = up(g, doutf, 4 * no), *outf_d = up(g, junkf, 4 * no);
    float *dqkvf_d = up(g, junkf, 4 * nb), *stf_d = up(g, st, 4 * ns), *dattf_d = up(g, st, 4 * ns);
    mm_bf16 *r_d = up(g, junk, 2 * nb);
    cr_assert(ns == nl + no, "%s: the fp32 flash path keeps lse and a copy of O (%zu floats)", shape, ns);
    g->attention_forward(outf_d, stf_d, qkvf_d, ld, qkvf_d + C, qkvf_d + C + KVd, ld, B, Tq, Tk, H, KV, hs);
    g->copy_h2d(stf_d + nl, of, 4 * no);  // its copy of O: the bf16 path's out
    g->attention_backward(dqkvf_d, dqkvf_d + C, dqkvf_d + C + KVd, dattf_d, doutf_d, stf_d, qkvf_d, ld,
                          qkvf_d + C, qkvf_d + C + KVd, ld, B, Tq, Tk, H, KV, hs);
    char what[192];
    g->to_bf16(r_d, outf_d, no);
    mm_bf16 *ro = down_bf16(g, r_d, no);
    snprintf(what, sizeof what, "attention_forward_bf16 out vs the fp32 flash path's, %s", shape);
    expect_bf16_ulps(g, out_d, ro, no, 1, what);
    snprintf(what, sizeof what, "attention_forward_bf16 lse vs the fp32 flash path's, %s", shape);
    expect_close(g, stf_d, hst, nl, 1e-6, what);
    g->to_bf16(r_d, dqkvf_d, nb);
    mm_bf16 *rd = down_bf16(g, r_d, nb);
    if (H != KV) fp32_path_group_sums_of_rounded_heads(g, rd, qkvf, doutf_d, stf_d, ld, B, Tq, Tk, H, KV, hs);
    snprintf(what, sizeof what, "attention_backward_bf16 dq|dk|dv vs the fp32 flash path's, %s", shape);
    expect_bf16_ulps(g, dqkv_d, rd, nb, 1, what);
    FREE_DEV(g, b1, b2, out_d, dout_d, st_d, datt_d, qkvf_d, doutf_d, outf_d, dqkvf_d, stf_d, dattf_d, r_d);
    FREE_HOST(qkv, dout, out, dqkv, att, datt, st, ho, hd, hst, qkvf, doutf, junkf, of, junk, ro, rd);
}

// The bf16 attention ops with nothing to do (no batch, no queries, no keys, no heads, no rows)
// change nothing, launch nothing (a grid of 0 blocks is an invalid launch) and refuse nothing, in
// every precision.
static void attention_bf16_zero_sized_case(const mm_backend *g) {
    enum { NB = 2048 };
    float *h = hrand(NB, 1), *buf = up(g, h, sizeof(float) * NB);
    float *cs = buf, *sn = buf + 256, *att = buf + 512, *datt = buf + 768;
    mm_bf16 *a = (mm_bf16 *)(buf + 1024), *b = (mm_bf16 *)(buf + 1280), *c = (mm_bf16 *)(buf + 1536);
    const int H = 2, KV = 1, hs = 16, ld = 64;
    static const char *const precs[] = {"bf16", "fp32"};
    for (int p = 0; p < 2; p++) {
        set_prec(g, precs[p]);
        g->rope_forward_bf16(a, ld, cs, sn, 0, 3, 2, hs, 0);
        g->rope_forward_bf16(a, ld, cs, sn, 2, 0, 2, hs, 0);
        g->rope_backward_bf16(a, ld, cs, sn, 2, 3, 0, hs, 0);
        g->rope_backward_bf16(a, ld, cs, sn, 0, 3, 2, hs, 4);
        g->attention_forward_bf16(a, att, b, ld, c, c + 16, ld, 0, 20, 20, H, KV, hs);
        g->attention_forward_bf16(a, att, b, ld, c, c + 16, ld, 2, 0, 20, H, KV, hs);
        g->attention_forward_bf16(a, att, b, ld, c, c + 16, ld, 2, 20, 0, H, KV, hs);
        g->attention_backward_bf16(a, b, c, datt, b, c, att, b, ld, c, c + 16, ld, 0, 20, 20, H, KV, hs);
        g->attention_backward_bf16(a, b, c, datt, b, c, att, b, ld, c, c + 16, ld, 2, 0, 20, H, KV, hs);
        g->attention_backward_bf16(a, b, c, datt, b, c, att, b, ld, c, c + 16, ld, 2, 20, 0, H, KV, hs);
        g->attention_backward_bf16(a, b, c, datt, b, c, att, b, ld, c, c + 16, ld, 2, 20, 20, 0, 0, hs);
        cr_assert(!g->check || g->check() == 0, "%s: a zero-sized bf16 attention call failed: %s", precs[p],
                  mm_error_message());
        expect_close(g, buf, h, NB, 0, "zero-sized bf16 attention calls left the buffers as they were");
    }
    g->free(buf);
    free(h);
}

// The backend restarted with MM_CUDA_ATTENTION and MM_CUDA_ATTN unset (flash, the bf16 block on):
// the bf16 attention ops exist on the FlashAttention path only, and engine.test_cuda_sim_gemm_attention
// runs the attention tests with MM_CUDA_ATTENTION=gemm.
static void attention_env_defaults(const mm_backend *g) {
    cr_assert(unsetenv("MM_CUDA_ATTENTION") == 0 && unsetenv("MM_CUDA_ATTN") == 0);
    cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
}

// Every op of the bf16 attention block against the CPU reference (and the attention ops against
// the fp32-storage FlashAttention kernels on the same values). RoPE: the vector path (ld even,
// rows 4-byte aligned) and value by value (ld odd, or the buffer 2 bytes off), pos0 0 and > 0, q
// and k of MiniMind's packed rows. Attention: MiniMind's heads (H 8, KV 2, hs 64) at T 80 and 129
// (not multiples of the 64-row tiles; 129: one row in the last), H == KV (dk, dv written straight
// in bf16) at hs 32 and 16, MQA at hs 16, Tq < Tk (a query block at the end of a longer key
// range), and the three ways rows are staged: cp.async (16-byte aligned rows, ld a multiple of 8:
// the model's), 8-byte loads (the buffers 8 bytes off), value by value (ld odd; 2 bytes off);
// zero-sized calls.
Test(cuda, attention_bf16_ops_match_the_cpu_reference) {
    const mm_backend *g = need_gpu();
    cr_assert(g->attention_bf16 && g->rope_forward_bf16 && g->rope_backward_bf16 &&
                  g->attention_forward_bf16 && g->attention_backward_bf16,
              "the CUDA backend has every op of the bf16 attention block");
    attention_env_defaults(g);
    set_prec(g, "bf16");
    const int QKV = 8 * 64 + 2 * 2 * 64;                // MiniMind's packed q|k|v rows
    rope_bf16_case(g, 2, 80, 8, 64, QKV, 0, 0);         // q
    rope_bf16_case(g, 2, 80, 2, 64, QKV, 5, 512);       // k (at qkv + C), positions from 5
    rope_bf16_case(g, 3, 7, 4, 16, 4 * 16, 0, 1);       // 2 bytes off: value by value
    rope_bf16_case(g, 3, 7, 3, 16, 3 * 16 + 3, 11, 0);  // ld odd
    rope_bf16_case(g, 1, 5, 1, 2, 2, 1, 2);             // one pair a row, 4 bytes off (aligned)
    attention_bf16_case(g, 2, 80, 80, 8, 2, 64, 0, 0);
    attention_bf16_case(g, 1, 129, 129, 8, 2, 64, 0, 0);
    attention_bf16_case(g, 2, 70, 70, 2, 2, 32, 0, 0);   // H == KV
    attention_bf16_case(g, 2, 40, 40, 4, 4, 16, 0, 4);   // H == KV, hs 16, 8 bytes off: 8-byte loads
    attention_bf16_case(g, 3, 33, 33, 4, 1, 16, 1, 0);   // MQA, ld odd
    attention_bf16_case(g, 2, 70, 129, 4, 2, 32, 0, 0);  // Tq < Tk
    attention_bf16_case(g, 2, 70, 70, 4, 2, 32, 0, 1);   // 2 bytes off: value by value
    attention_bf16_zero_sized_case(g);
    set_prec(g, "fp32");
}

static int attention_on(const mm_backend *g) { return g->attention_bf16(2, 80, 8, 64); }

// attention_bf16(B, T, H, hs) is 1 only in bf16, on shapes the FlashAttention path takes (hs 16,
// 32, 64, T > hs), with MM_CUDA_ATTENTION not gemm; MM_CUDA_ATTN (read when the backend starts)
// turns it off with "fp32", "bf16", empty or unset keep it, anything else is refused naming the
// variable. The attention ops refuse (an error through check, naming the op and the shape;
// nothing written) where attention_bf16 is 0.
Test(cuda, attention_bf16_follows_the_precision_the_shape_and_MM_CUDA_ATTN) {
    const mm_backend *g = need_gpu();
    attention_env_defaults(g);
    expect_on_in_bf16_only(g, "attention_bf16(2, 80, 8, 64)", attention_on);
    set_prec(g, "bf16");
    const struct {
        int B, T, H, hs, on;
    } shapes[] = {{16, 512, 8, 64, 1}, {1, 17, 2, 16, 1}, {3, 33, 4, 32, 1}, {2, 80, 8, 128, 0},
                  {2, 64, 8, 64, 0},   {2, 16, 2, 16, 0}, {2, 80, 8, 48, 0}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        cr_expect_eq(g->attention_bf16(shapes[i].B, shapes[i].T, shapes[i].H, shapes[i].hs), shapes[i].on,
                     "bf16: attention_bf16(%d, %d, %d, %d) should be %d", shapes[i].B, shapes[i].T,
                     shapes[i].H, shapes[i].hs, shapes[i].on);
    cr_assert(setenv("MM_CUDA_ATTENTION", "gemm", 1) == 0);
    cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
    cr_expect_eq(g->attention_bf16(2, 80, 8, 64), 0, "MM_CUDA_ATTENTION=gemm: no flash, no bf16 attention");
    cr_assert(unsetenv("MM_CUDA_ATTENTION") == 0);
    cr_assert(mm_backend_cuda(0) == g, "%s", mm_error_message());
    block_switch_case(g, "MM_CUDA_ATTN", attention_on);
    // refused calls: hs 128 and Tk = hs in bf16, a flash shape in fp32; nothing written, the next check clean
    enum { NB = 1 << 16 };
    float *h = hrand(NB, 1), *buf = up(g, h, sizeof(float) * NB);
    mm_bf16 *x = (mm_bf16 *)buf, *y = (mm_bf16 *)(buf + NB / 2);
    float *st = buf + NB / 4;
    g->attention_forward_bf16(x, st, y, 3 * 256, y + 256, y + 512, 3 * 256, 1, 20, 20, 2, 2, 128);
    cr_expect(g->check() != 0, "attention_forward_bf16 at hs 128 must be refused");
    cr_expect(strstr(mm_error_message(), "attention_forward_bf16") && strstr(mm_error_message(), "hs=128"),
              "the error names the op and the shape: %s", mm_error_message());
    g->attention_backward_bf16(x, x + 64, x + 128, st, y, y + 64, st, y, 192, y + 64, y + 128, 192, 1, 64, 64,
                               1, 1, 64);
    cr_expect(g->check() != 0, "attention_backward_bf16 at Tk = hs must be refused");
    cr_expect(strstr(mm_error_message(), "attention_backward_bf16") && strstr(mm_error_message(), "Tk=64"),
              "the error names the op and the shape: %s", mm_error_message());
    set_prec(g, "fp32");
    g->attention_forward_bf16(x, st, y, 192, y + 64, y + 128, 192, 1, 80, 80, 1, 1, 64);
    cr_expect(g->check() != 0, "attention_forward_bf16 in fp32 must be refused");
    cr_expect(g->check() == 0, "the refusal is reported once: %s", mm_error_message());
    expect_close(g, buf, h, NB, 0, "refused bf16 attention calls wrote nothing");
    g->free(buf);
    free(h);
}

// ---- the head in bf16 (backend.h; the reference: engine/src/cpu/crossentropy_bf16.c) ----

// The head's two bf16 ops on N rows (C, V) against the reference on the same values, with a mask
// of weights 1, 0.5 and 0 or without one (NULL): logits and dlogits (bf16, over the logits) within
// 1 ulp, few differing (the reference sums the products and the log-sum-exp in another order, and
// its expf differs: a value near a rounding boundary may flip); lse and the loss within 1e-5 of
// the largest; dx and what dwte gained (it accumulates: non-zero before, on both sides) within
// 1e-3 of the largest (a flipped dlogit moves them by 1 bf16 ulp of that value). Prints what it
// measures.
static void head_bf16_case(const mm_backend *g, int N, int C, int V, int masked) {
    const size_t nc = (size_t)N * C, vc = (size_t)V * C, nv = (size_t)N * V;
    mm_bf16 *x = hrand_bf16(nc, 1), *wte = hrand_bf16(vc, 1), *lg = hzero_bf16(nv), *junk = hrand_bf16(nv, 1);
    float *mask = masked ? hrand(N, 1) : NULL, *lse = hzero(N), *dx = hzero(nc), *dwte = hrand(vc, 1);
    float *dwte0 = hzero(vc), *junkf = hrand(nc + (size_t)N, 1);  // what the outputs hold before
    int32_t *tgt = malloc(sizeof(int32_t) * (size_t)N);
    cr_assert(tgt);
    memcpy(dwte0, dwte, sizeof(float) * vc);
    for (int n = 0; n < N; n++) {
        tgt[n] = (int32_t)(((size_t)n * 71 + 5) % (size_t)V);
        if (mask) mask[n] = n % 5 == 1 ? 0.0f : n % 5 == 3 ? 0.5f : 1.0f;
    }
    mm_bf16 *x_d = up(g, x, 2 * nc), *wte_d = up(g, wte, 2 * vc), *lg_d = up(g, junk, 2 * nv);
    float *mask_d = mask ? up(g, mask, sizeof(float) * N) : NULL, *lse_d = up(g, junkf, sizeof(float) * N);
    float *dx_d = up(g, junkf, sizeof(float) * nc), *dwte_d = up(g, dwte, sizeof(float) * vc);
    int32_t *tgt_d = up(g, tgt, sizeof(int32_t) * N);
    char what[96], lw[128];
    snprintf(what, sizeof what, "head bf16, N %d C %d V %d, mask %d", N, C, V, masked);
    const float lc = mm_cpu_crossentropy_forward_bf16(lg, lse, x, wte, tgt, mask, N, C, V);
    const float lgpu = g->crossentropy_forward_bf16(lg_d, lse_d, x_d, wte_d, tgt_d, mask_d, N, C, V);
    snprintf(lw, sizeof lw, "%s: logits", what);
    const size_t logits_off = expect_bf16_ulps(g, lg_d, lg, nv, 1, lw);
    const double e_lse = rel_error(g, lse_d, lse, N), e_loss = fabs((double)lgpu - lc) / fmax(1.0, fabs(lc));
    cr_expect(e_lse <= 1e-5, "%s: lse relative error %g > 1e-5", what, e_lse);
    cr_expect(e_loss <= 1e-5, "%s: loss reference %.9g gpu %.9g", what, lc, lgpu);
    mm_cpu_crossentropy_backward_bf16(dx, dwte, lg, lse, x, wte, tgt, mask, 0.75f, N, C, V);
    g->crossentropy_backward_bf16(dx_d, dwte_d, lg_d, lse_d, x_d, wte_d, tgt_d, mask_d, 0.75f, N, C, V);
    snprintf(lw, sizeof lw, "%s: dlogits", what);
    const size_t dlogits_off = expect_bf16_ulps(g, lg_d, lg, nv, 1, lw);
    const double e_dx = rel_error(g, dx_d, dx, nc);
    float *gw = down(g, dwte_d, vc);
    for (size_t i = 0; i < vc; i++) gw[i] -= dwte0[i], dwte[i] -= dwte0[i];  // what each side added
    const double e_dwte = rel_diff(gw, dwte, vc);
    cr_expect(e_dx <= 1e-3, "%s: dx relative error %g > 1e-3", what, e_dx);
    cr_expect(e_dwte <= 1e-3, "%s: dwte's increment relative error %g > 1e-3", what, e_dwte);
    fprintf(
        stderr,
        "test_cuda: %s: logits %zu and dlogits %zu of %zu differ; relative errors lse %.2g, loss %.2g, dx "
        "%.2g, dwte %.2g\n",
        what, logits_off, dlogits_off, nv, e_lse, e_loss, e_dx, e_dwte);
    FREE_DEV(g, x_d, wte_d, lg_d, mask_d, lse_d, dx_d, dwte_d, tgt_d);
    FREE_HOST(x, wte, lg, junk, mask, lse, dx, dwte, dwte0, junkf, tgt, gw);
}

// No rows: the two ops launch nothing, write nothing (dwte += a sum over no rows is unchanged), and
// the loss is 0.
static void head_bf16_zero_sized_case(const mm_backend *g) {
    enum { NB = 2048 };
    float *h = hrand(NB, 1), *buf = up(g, h, sizeof(float) * NB);
    int32_t tok[8] = {0};
    int32_t *tok_d = up(g, tok, sizeof tok);
    float *lse = buf, *dx = buf + 256, *dwte = buf + 512, *mask = buf + 1024;
    mm_bf16 *lg = (mm_bf16 *)(buf + 1280), *x = (mm_bf16 *)(buf + 1536), *wte = (mm_bf16 *)(buf + 1792);
    const int C = 8, V = 16;
    const float loss = g->crossentropy_forward_bf16(lg, lse, x, wte, tok_d, mask, 0, C, V);
    g->crossentropy_backward_bf16(dx, dwte, lg, lse, x, wte, tok_d, mask, 1.0f, 0, C, V);
    cr_assert(!g->check || g->check() == 0, "a zero-sized bf16 head call failed: %s", mm_error_message());
    cr_expect(loss == 0.0f, "crossentropy_forward_bf16 with no rows: loss %g (expected 0)", loss);
    expect_close(g, buf, h, NB, 0, "zero-sized bf16 head calls left the buffers as they were");
    FREE_DEV(g, buf, tok_d);
    free(h);
}

// The bf16 head's ops against the CPU reference: an odd shape (V not a multiple of the row
// kernels' block) and a larger one, each with and without a mask; no rows.
Test(cuda, crossentropy_bf16_ops_match_the_cpu_reference) {
    const mm_backend *g = need_gpu();
    cr_assert(g->head_bf16 && g->crossentropy_forward_bf16 && g->crossentropy_backward_bf16,
              "the CUDA backend has every op of the bf16 head");
    set_prec(g, "bf16");
    for (int masked = 0; masked < 2; masked++) {
        head_bf16_case(g, 37, 24, 101, masked);
        head_bf16_case(g, 64, 64, 512, masked);
    }
    head_bf16_zero_sized_case(g);
    set_prec(g, "fp32");
}

static int head_on(const mm_backend *g) { return g->head_bf16(); }

// head_bf16() is 1 in bf16 only, and MM_CUDA_HEAD (read when the backend starts) turns it off with
// "fp32"; "bf16", empty or unset keep it; anything else is refused, naming the variable.
Test(cuda, head_bf16_follows_the_precision_and_MM_CUDA_HEAD) {
    block_follows_the_precision_case(need_gpu(), "head_bf16()", "MM_CUDA_HEAD", head_on);
}

// ---- zero-sized calls (no rows / no batch / no parameters) ----

// Every op called with nothing to do must change nothing and launch nothing: on CUDA a grid of
// 0 blocks is an invalid launch configuration (reported by `check`). The outputs all point into
// one buffer holding a pattern that must survive; "+=" outputs (dw, dwte, dkeys) are unchanged
// by a sum over no rows.
static void zero_rows_case(const mm_backend *be) {
    enum { NB = 4096 };
    float *h = hrand(NB, 1);
    float *buf = up(be, h, sizeof(float) * NB);
    int32_t tok[64] = {0};
    int32_t *tok_d = up(be, tok, sizeof tok);
    uint16_t bank[64] = {0};
    uint16_t *bank_d = up(be, bank, sizeof bank);
    float *a = buf, *b = buf + 512, *c = buf + 1024, *d = buf + 1536, *e = buf + 2048, *f = buf + 2560;
    const int C = 8, V = 16, F = 4, K = 4, D = 4, S = 4, H = 2, KV = 1, hs = 4, ld = 16;
    be->matmul_forward(a, b, c, 0, C, C, 0);
    be->matmul_backward(a, c, d, b, e, 0, C, C, 0);
    be->embedding_forward(a, tok_d, b, 0, C);
    be->embedding_backward(c, d, tok_d, 0, C);
    be->rmsnorm_forward(a, b, d, e, 0, C, 1e-5f);
    be->rmsnorm_backward(a, c, d, e, f, b, 0, C);
    be->rope_forward(a, ld, b, c, 0, 3, 2, hs, 0);
    be->rope_backward(a, ld, b, c, 2, 0, 2, hs, 0);
    be->attention_forward(a, b, d, ld, e, f, ld, 0, 3, 3, H, KV, hs);
    be->attention_backward(a, b, c, f, d, e, d, ld, e, f, ld, 0, 3, 3, H, KV, hs);
    be->swiglu_forward(a, d, 0, F);
    be->swiglu_backward(a, d, e, 0, F);
    float loss = be->crossentropy_forward(a, b, d, e, tok_d, f, 0, C, V);
    be->crossentropy_backward(a, c, d, b, e, f, tok_d, f, 1.0f, 0, C, V);
    be->adamw_update(a, d, b, c, 0, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1);
    float norm = be->gradnorm_clip(a, 0, 1.0f);
    be->scale(a, 0, 0.5f);
    be->memory_topk(tok_d, a, d, e, 0, D, S, K, b);
    be->memory_topk_backward(a, c, d, tok_d, e, f, 0, D, S, K);
    be->memory_weights_forward(a, b, d, NULL, 0, K, 1);
    be->memory_weights_backward(a, d, e, 0, K);
    be->memory_read_forward(a, tok_d, d, bank_d, 4, e, 0, K, C, V);
    be->memory_read_backward(a, c, d, tok_d, e, bank_d, 4, f, 0, K, C, V);
    be->copy_rows(a, ld, d, ld, 0, C, 0);
    be->copy_rows(a, ld, d, ld, 3, 0, 1);
    cr_assert(!be->check || be->check() == 0, "%s: a zero-sized call failed: %s", be->name, mm_error_message());
    cr_expect(loss == 0.0f && norm == 0.0f, "%s: loss %g, norm %g (expected 0, 0)", be->name, loss, norm);
    expect_close(be, buf, h, NB, 0, "zero-sized calls left the buffers as they were");
    int32_t *t = calloc(64, sizeof(int32_t));
    be->copy_d2h(t, tok_d, sizeof tok);
    cr_expect(memcmp(t, tok, sizeof tok) == 0, "%s: memory_topk with no rows wrote idx", be->name);
    free(t);
    be->free(buf), be->free(tok_d), be->free(bank_d);
    free(h);
}

// The CUDA model in bf16 with both blocks and the head stored in bf16 against the same model on
// the CPU reference table (tests/engine/cpu_bf16.h: the CPU ops plus the bf16 blocks' reference),
// which stores the same tensors in bf16; every variant. What remains between them is the summation
// order and what the GPU rounds inside (flash attention's P and dS in bf16, the fp32-operand
// products of the memory layer): in the simulator the loss within 1.5e-4, the
// gradients within 1.4 % (model_original) and 2.6 % (the memory variants, apart from the
// selection's, which near-tie top-K flips move by up to 17 %).
static void model_bf16_reference_case(const mm_backend *g, mm_model_type type) {
    const char *tn = mm_model_type_name(type);
    const mm_backend *ref = mm_test_cpu_bf16(1, 1, 1);
    mm_model_config cfg = tiny_config();
    cfg.model_type = type;
    cfg.knowledge_num = 256, cfg.knowledge_length = 6, cfg.knowledge_dim = 32;
    mm_model mc, mg;
    const int mem = type != MM_MODEL_ORIGINAL;
    cr_assert((mem ? mm_model_init_memory(&mc, &cfg, 8, MM_MEMORY_SELECT_SOFTMAX, ref, 5)
                   : mm_model_init(&mc, &cfg, ref, 5)) == 0,
              "%s", mm_error_message());
    cr_assert((mem ? mm_model_init_memory(&mg, &cfg, 8, MM_MEMORY_SELECT_SOFTMAX, g, 5)
                   : mm_model_init(&mg, &cfg, g, 5)) == 0,
              "%s", mm_error_message());
    if (mem) set_random_bank(&mc, &mg);
    set_prec(g, "bf16");
    set_prec(ref, "bf16");
    int32_t X[PB * PT], Y[PB * PT];
    float lc, lg;
    parity_step(&mc, &mg, X, Y, 4, &lc, &lg);
    cr_expect(mg.att_bf16 && mc.att_bf16, "%s: the attention block not in bf16 (gpu %d, reference %d)", tn,
              mg.att_bf16, mc.att_bf16);
    cr_expect_eq(mg.ffn_bf16, mc.ffn_bf16, "%s", tn);
    cr_expect(mg.head_bf16 && mc.head_bf16, "%s: the head not in bf16 (gpu %d, reference %d)", tn, mg.head_bf16,
              mc.head_bf16);
    cr_expect(fabsf(lc - lg) < 1e-3f * lc, "%s: loss reference %.7f gpu %.7f", tn, lc, lg);
    float *gg = down(g, mg.grads, mg.num_params);
    expect_tensor_grads(&mc, gg, mem ? 5e-2 : 3e-2, 0.5, tn);
    set_prec(g, "fp32");
    set_prec(ref, "fp32");
    free(gg);
    mm_model_free(&mc);
    mm_model_free(&mg);
}

Test(cuda, model_in_bf16_matches_the_cpu_reference_of_the_bf16_blocks) {
    const mm_backend *g = need_gpu();
    model_bf16_reference_case(g, MM_MODEL_ORIGINAL);
    model_bf16_reference_case(g, MM_MODEL_MEMORY);
    model_bf16_reference_case(g, MM_MODEL_NO_FEED);
}

Test(cuda, zero_sized_calls_are_no_ops) { zero_rows_case(need_gpu()); }

// The same calls on the CPU kernels (runs everywhere): the contract the CUDA test checks.
Test(cuda_fake_device, zero_sized_calls_are_no_ops_on_the_cpu) {
    zero_rows_case(mm_backend_cpu());
    zero_rows_case(mm_backend_cpu_staged());
}

// ---- device selection (runs everywhere) ----

static char *tiny_train_ini(mm_fx_data *d, const char *tag) {
    mm_fx_data_make(d, tag, 100, 20, 300, 32);
    return mm_fx_ini(d, "cuda.ini", "dim = 32\nn_layers = 1\nn_heads = 2\nn_kv_heads = 1\nvocab_size = 300\nmax_seq_len = 32\n",
                     "batch_size = 2\nepochs = 1\nmax_steps = 3\nlog_interval = 1\nsave_interval = 100\n");
}

Test(cuda_select, auto_runs_on_the_cpu_without_a_gpu_and_cuda_fails_clearly) {
    const char *why = NULL;
    if (mm_cuda_device_count(&why) > 0) cr_skip_test("a CUDA device is present: the no-GPU behaviour is not testable");
    mm_fx_data d;
    char *ini = tiny_train_ini(&d, "cuda_select");
    char *out = mm_test_path(d.dir, "out_auto");
    const char *argv_auto[] = {MM_MINIMIND_EXE, "train", "--config", ini, "--out", out, "--device", "auto",
                               "--precision", "bf16", NULL};
    mm_proc_result r;
    mm_fx_run(argv_auto, &r);
    cr_expect_eq(r.status, 0, "train --device auto failed: %s", r.err);
    cr_expect(strstr(r.err, "device: auto -> cpu (no CUDA device: ") != NULL, "no auto line in: %s", r.err);
    mm_proc_result_free(&r);
    char *cfg_path = mm_test_path(out, "config.ini"), *cfg = mm_fx_slurp(cfg_path);
    cr_expect(strstr(cfg, "device = auto") && strstr(cfg, "mixed_precision = bf16"),
              "--device / --precision are [train] device / mixed_precision:\n%s", cfg);
    free(cfg), free(cfg_path);
    char *out2 = mm_test_path(d.dir, "out_cuda");
    const char *sets_cuda[] = {"train.device=cuda", NULL};
    mm_fx_train(ini, out2, sets_cuda, 0, &r);
    cr_expect_eq(r.status, 1, "train with device=cuda must fail here (status %d)", r.status);
    const char *want = mm_cuda_built() ? "no CUDA device: " : "built without CUDA";
    cr_expect(strstr(r.err, want) != NULL, "expected '%s' in: %s", want, r.err);
    cr_expect(strstr(r.err, "minimind: error:") != NULL, "%s", r.err);
    mm_proc_result_free(&r);
    free(out), free(out2), free(ini);
    mm_fx_data_free(&d);
}

Test(cuda_select, device_names_parse) {
    int kind, idx;
    cr_expect(mm_device_parse("auto", &kind, &idx) == 0 && kind == MM_DEVICE_AUTO);
    cr_expect(mm_device_parse("cpu", &kind, &idx) == 0 && kind == MM_DEVICE_CPU);
    cr_expect(mm_device_parse("cuda", &kind, &idx) == 0 && kind == MM_DEVICE_CUDA && idx == 0);
    cr_expect(mm_device_parse("cuda:3", &kind, &idx) == 0 && kind == MM_DEVICE_CUDA && idx == 3);
    cr_expect(mm_device_parse("cuda:", &kind, &idx) != 0);
    cr_expect(mm_device_parse("gpu", &kind, &idx) != 0);
    cr_expect(mm_device_parse("cuda:1x", &kind, &idx) != 0);
    const mm_backend *be = NULL;
    cr_expect(mm_backend_select("cpu", &be) == 0 && be == mm_backend_cpu());
    cr_expect(mm_backend_check_precision(mm_backend_cpu(), "bf16") == 0);
}
