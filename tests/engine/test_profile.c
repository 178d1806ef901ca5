// The timed backend (minimind/profile.h, `minimind bench --profile`): the same numbers as the
// backend it wraps, every op counted where the model calls it, and the bench's per-op split.
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "minimind/backend.h"
#include "minimind/error.h"
#include "minimind/model.h"
#include "minimind/profile.h"
#include "test_util.h"

static const mm_profile_op *find_op(const char *name) {
    int n;
    const mm_profile_op *ops = mm_profile_ops(&n);
    for (int i = 0; i < n; i++)
        if (!strcmp(ops[i].name, name)) return &ops[i];
    cr_assert_fail("no op %s in the profile", name);
    return NULL;
}

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

static json_t *bench_json(int profile) {
    const char *argv[] = {MM_MINIMIND_EXE, "bench", "--dim", "64", "--n-layers", "2", "--n-heads", "4",
                          "--n-kv-heads", "2", "--vocab", "300", "--seq-len", "32", "--batch", "2", "--steps", "2",
                          "--peak-size", "128", "--json", profile ? "--profile" : NULL, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "bench failed:\n%s", r.err);
    json_error_t e;
    json_t *j = json_loads(r.out, 0, &e);
    cr_assert(j, "not one JSON line (%s): %s", e.text, r.out);
    mm_proc_result_free(&r);
    return j;
}

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
    json_decref(j);
}
