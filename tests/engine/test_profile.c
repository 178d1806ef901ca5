// The timed backend (minimind/profile.h, `minimind bench --profile`): the same numbers as the
// backend it wraps, every op counted where the model calls it, and the bench's per-op split.
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "minimind/backend.h"
#include "minimind/error.h"
#include "minimind/model.h"
#include "minimind/profile.h"
#include "profile_util.h"
#include "test_util.h"


// Loss and gradients of one forward/backward on `be`; the gradients are copied into grads.
static float loss_and_grads(const mm_backend *be, float *grads, size_t *n) {
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    cfg.dim = 64, cfg.n_layers = 3, cfg.n_heads = 4, cfg.n_kv_heads = 2, cfg.vocab_size = 200, cfg.max_seq_len = 32;
    mm_model m;
    cr_assert_eq(mm_model_init(&m, &cfg, be, 5), 0, "%s", mm_error_message());
    int32_t X[64], Y[64];
    for (int i = 0; i < 64; i++) X[i] = (i * 37) % 200, Y[i] = (i * 11 + 3) % 200;
    float loss = 0.0f;
    mm_model_zero_grad(&m);
    cr_assert_eq(mm_model_forward(&m, X, Y, NULL, 2, 32, &loss, NULL), 0, "%s", mm_error_message());
    cr_assert_eq(mm_model_backward(&m, 1.0f), 0, "%s", mm_error_message());
    if (grads) memcpy(grads, m.grads, m.num_params * sizeof(float));
    *n = m.num_params;
    mm_model_free(&m);
    return loss;
}

Test(profile, same_numbers_as_the_inner_backend_and_every_op_counted) {
    size_t n = 0;
    loss_and_grads(mm_backend_cpu(), NULL, &n);
    float *g0 = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float));
    cr_assert(g0 && g1);
    float l0 = loss_and_grads(mm_backend_cpu(), g0, &n);
    const mm_backend *timed = mm_backend_profiled(mm_backend_cpu());
    cr_expect_str_eq(timed->name, "cpu");
    mm_profile_reset();
    float l1 = loss_and_grads(timed, g1, &n);
    cr_expect_eq(l0, l1, "loss %.9g vs %.9g through the timed backend", l0, l1);
    cr_expect_eq(memcmp(g0, g1, n * sizeof(float)), 0, "gradients differ through the timed backend");
    // 3 layers: one attention, two RMSNorms and one SwiGLU each; one final norm, embedding, loss
    cr_expect_eq(find_op("attention_forward")->calls, 3);
    cr_expect_eq(find_op("attention_backward")->calls, 3);
    cr_expect_eq(find_op("rmsnorm_forward")->calls, 7);
    cr_expect_eq(find_op("swiglu_forward")->calls, 3);
    cr_expect_eq(find_op("embedding_forward")->calls, 1);
    cr_expect_eq(find_op("crossentropy_forward")->calls, 1);
    cr_expect_eq(find_op("adamw_update")->calls, 0, "no optimizer step was taken");
    const mm_profile_op *mm = find_op("matmul_forward");
    cr_expect_gt(mm->calls, 0);
    cr_expect_gt(mm->seconds, 0.0, "matmul_forward took no time");
    mm_profile_reset();
    cr_expect_eq(find_op("matmul_forward")->calls, 0, "reset keeps counts");
    cr_expect_eq(find_op("matmul_forward")->seconds, 0.0);
    free(g0), free(g1);
}

Test(profile, an_op_counts_the_work_its_arguments_ask_for) {
    const mm_backend *be = mm_backend_profiled(mm_backend_cpu());
    enum { M = 6, K = 8, N = 5 };
    float x[M * K], w[N * K], y[M * N], dy[M * N], dx[M * K], dw[N * K];
    for (int i = 0; i < M * K; i++) x[i] = 0.01f * (float)i;
    for (int i = 0; i < N * K; i++) w[i] = 0.02f * (float)(i % 7), dw[i] = 0.0f;
    for (int i = 0; i < M * N; i++) dy[i] = 0.03f * (float)(i % 5);
    mm_profile_reset();
    be->matmul_forward(y, x, w, M, K, N, 0);
    be->matmul_forward(y, x, w, M, K, N, 1);  // accumulating: reads out too
    const mm_profile_op *f = find_op("matmul_forward");
    cr_expect_eq(f->calls, 2);
    cr_expect_eq(f->rate, MM_RATE_PRODUCTS);
    cr_expect_float_eq(f->flops, 2 * 2.0 * M * K * N, 1e-9);
    cr_expect_float_eq(f->bytes, 4.0 * (2 * (M * K + N * K + M * N) + M * N), 1e-9);
    be->matmul_backward(dx, dw, dy, x, w, M, K, N, 0);    // dx = dy w (reads w), dw += dy^T x
    be->matmul_backward(NULL, dw, dy, x, w, M, K, N, 0);  // dw only
    const mm_profile_op *b = find_op("matmul_backward");
    cr_expect_float_eq(b->flops, 4.0 * M * K * N + 2.0 * M * K * N, 1e-9);
    cr_expect_float_eq(b->bytes, 4.0 * (2 * (M * N + M * K + 2 * N * K) + N * K + M * K), 1e-9);
    be->copy_h2d(dx, x, sizeof x);
    cr_expect_eq(find_op("copy_h2d")->rate, MM_RATE_HOST);
    cr_expect_float_eq(find_op("copy_h2d")->bytes, (double)sizeof x, 1e-9);
}

static json_t *bench_json_model(int profile, const char *model_type) {
    const char *argv[] = {MM_MINIMIND_EXE,
                          "bench",
                          "--dim",
                          "64",
                          "--n-layers",
                          "2",
                          "--n-heads",
                          "4",
                          "--n-kv-heads",
                          "2",
                          "--vocab",
                          "300",
                          "--seq-len",
                          "32",
                          "--batch",
                          "2",
                          "--steps",
                          "2",
                          "--peak-size",
                          "128",
                          "--knowledge-num",
                          "4096",
                          "--knowledge-length",
                          "8",
                          "--knowledge-dim",
                          "32",
                          "--model-type",
                          model_type,
                          "--json",
                          profile ? "--profile" : NULL,
                          NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "bench failed:\n%s", r.err);
    json_error_t e;
    json_t *j = json_loads(r.out, 0, &e);
    cr_assert(j, "not one JSON line (%s): %s", e.text, r.out);
    mm_proc_result_free(&r);
    return j;
}

static json_t *bench_json(int profile) { return bench_json_model(profile, "model_original"); }

Test(profile, bench_prints_the_per_op_split_only_when_asked) {
    json_t *plain = bench_json(0);
    cr_expect_null(json_object_get(plain, "profile"));
    json_decref(plain);
    json_t *j = bench_json(1);
    json_t *p = json_object_get(j, "profile");
    cr_assert(json_is_object(p), "no profile object");
    cr_expect_eq(json_number_value(json_object_get(json_object_get(p, "attention_forward"), "calls")), 2.0,
                 "attention_forward: not once per layer and step");
    cr_expect_eq(json_number_value(json_object_get(json_object_get(p, "adamw_update"), "calls")), 1.0);
    double ms = 0.0;
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v) ms += json_number_value(json_object_get(v, "ms"));
    cr_expect_gt(ms, 0.0);
    cr_expect_gt(json_number_value(json_object_get(j, "tokens_per_s")), 0.0);
    cr_expect_str_eq(json_string_value(json_object_get(j, "profile_clock")), "host",
                     "the CPU has no device clock");
    json_decref(j);
}

// The ops' products, counted from each call's arguments, add up to the model's FLOP count (the MFU
// numerator, mm_model_train_flops: derived from the configuration) in every variant; each op
// has its work and a floor against the measured peaks (host copies none).
Test(profile, the_ops_products_add_up_to_the_models_flops) {
    const char *types[] = {"model_original", "model", "model_no_feed"};
    const char *products[] = {"matmul_forward",        "matmul_backward",     "matmul_forward_residual",
                              "attention_forward",     "attention_backward",  "crossentropy_forward",
                              "crossentropy_backward", "memory_topk",         "memory_topk_backward",
                              "memory_read_forward",   "memory_read_backward", "matmul_forward_bf16",
                              "matmul_backward_bf16",  "matmul_forward_residual_bf16"};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        json_t *j = bench_json_model(1, types[t]);
        json_t *p = json_object_get(j, "profile");
        cr_assert(json_is_object(p), "%s: no profile", types[t]);
        double sum = 0.0;
        for (size_t i = 0; i < sizeof products / sizeof products[0]; i++)
            sum += json_number_value(json_object_get(json_object_get(p, products[i]), "gflop"));
        const double model = json_number_value(json_object_get(j, "gflop_per_step"));
        cr_expect(fabs(sum - model) <= 1e-5 * model, "%s: ops' products %.9g GFLOP, model %.9g", types[t],
                  sum, model);
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v) {
            cr_expect_gt(json_number_value(json_object_get(v, "mb")), 0.0, "%s: %s moves no bytes", types[t],
                         k);
            json_t *fl = json_object_get(v, "floor_ms");
            if (!strncmp(k, "copy_h2d", 8) || !strncmp(k, "copy_d2h", 8))
                cr_expect(json_is_null(fl), "%s: a host copy has a floor", k);
            else
                cr_expect_gt(json_number_value(fl), 0.0, "%s: %s has no floor", types[t], k);
        }
        json_t *roof = json_object_get(j, "roof");
        cr_expect_gt(json_number_value(json_object_get(roof, "bandwidth_gbs")), 0.0);
        cr_expect_gt(json_number_value(json_object_get(roof, "products_gflops")), 0.0);
        json_decref(j);
    }
}

// The linear layers' products split by shape: one entry per (op, M, K, N, with dinp), whose
// counts, work and time add up to the op's.
Test(profile, the_products_by_shape_add_up_to_their_ops) {
    const mm_backend *be = mm_backend_profiled(mm_backend_cpu());
    enum { M = 6, K = 8, N = 5 };
    float x[M * K], w[N * K], y[M * N], dy[M * N], dx[M * K], dw[N * K];
    for (int i = 0; i < M * K; i++) x[i] = 0.01f * (float)i, dx[i] = 0.0f;
    for (int i = 0; i < N * K; i++) w[i] = 0.02f * (float)(i % 7), dw[i] = 0.0f;
    for (int i = 0; i < M * N; i++) dy[i] = 0.03f * (float)(i % 5);
    mm_profile_reset();
    be->matmul_forward(y, x, w, M, K, N, 0);
    be->matmul_forward(y, x, w, M, K, N, 1);
    be->matmul_forward(y, x, w, M, K - 2, N, 0);  // another shape
    be->matmul_backward(dx, dw, dy, x, w, M, K, N, 0);
    be->matmul_backward(NULL, dw, dy, x, w, M, K, N, 0);  // same shape, no dinp: its own entry
    int n;
    const mm_profile_product *p = mm_profile_products(&n);
    cr_assert_eq(n, 4, "%d product shapes, not 4", n);
    cr_expect(p[0].M == M && p[0].K == K && p[0].N == N && p[0].op.calls == 2 && !strcmp(p[0].op.name, "matmul_forward"));
    cr_expect(p[1].K == K - 2 && p[1].op.calls == 1);
    cr_expect(p[2].dinp == 1 && p[3].dinp == 0 && !strcmp(p[3].op.name, "matmul_backward"));
    for (int o = 0; o < 2; o++) {
        const mm_profile_op *op = find_op(o ? "matmul_backward" : "matmul_forward");
        long calls = 0;
        double flops = 0, bytes = 0, seconds = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(p[i].op.name, op->name))
                calls += p[i].op.calls, flops += p[i].op.flops, bytes += p[i].op.bytes, seconds += p[i].op.seconds;
        cr_expect_eq(calls, op->calls, "%s: calls", op->name);
        cr_expect_float_eq(flops, op->flops, 1e-9 * op->flops, "%s: flops", op->name);
        cr_expect_float_eq(bytes, op->bytes, 1e-9 * op->bytes, "%s: bytes", op->name);
        cr_expect_float_eq(seconds, op->seconds, 1e-9 + 1e-9 * op->seconds, "%s: seconds", op->name);
    }
    mm_profile_reset();
    mm_profile_products(&n);
    cr_expect_eq(n, 0, "reset keeps product shapes");
    // the bench JSON: every product of the model in "profile_products", adding up to its op
    json_t *j = bench_json(1);
    json_t *prof = json_object_get(j, "profile"), *prods = json_object_get(j, "profile_products");
    cr_assert(json_is_array(prods) && json_array_size(prods) >= 4, "no profile_products");
    const char *ops[] = {"matmul_forward", "matmul_backward", "matmul_forward_residual"};
    for (size_t o = 0; o < 3; o++) {
        double gflop = 0, calls = 0;
        size_t i;
        json_t *e;
        json_array_foreach(prods, i, e) if (!strcmp(json_string_value(json_object_get(e, "op")), ops[o])) {
            gflop += json_number_value(json_object_get(e, "gflop"));
            calls += json_number_value(json_object_get(e, "calls"));
        }
        json_t *whole = json_object_get(prof, ops[o]);
        const double want = whole ? json_number_value(json_object_get(whole, "gflop")) : 0.0;
        cr_expect(fabs(gflop - want) <= 1e-5 * want, "%s: shapes %.9g GFLOP, op %.9g", ops[o], gflop, want);
        cr_expect_eq(calls, whole ? json_number_value(json_object_get(whole, "calls")) : 0.0, "%s: calls", ops[o]);
    }
    json_decref(j);
}
