// The model against an independent PyTorch MiniMind (tests/reference/model_ref.py, written from
// the spec): C writes its initial parameters and a batch (X, Y, a mask with zeros) as safetensors;
// Python loads them by name (strict), returns logits, loss, every parameter gradient and the losses
// of 10 AdamW steps (MiniMind lr schedule, clipping 1.0, weight decay 0.01); C compares.
// Relative error of a tensor: max|a - b| / max|b| (b = PyTorch). Also: parameter count at the
// defaults, the lr schedule against hand-computed values, and KV-cache inference against the full
// forward.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "minimind/model.h"
#include "minimind/optim.h"
#include "minimind/safetensors.h"
#include "parity_util.h"
#include "test_util.h"

#define REF_SCRIPT MM_SOURCE_DIR "/tests/reference/model_ref.py"

static uint64_t rs = 0x243F6A8885A308D3ull;
static uint32_t rnd(void) {
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (uint32_t)(rs >> 32);
}

enum { STEPS = 10 };

static void parity(const mm_model_config *cfg_in, int B, int T, double tol) {
    const float lr = 1e-3f, wd = 0.01f, clip = 1.0f;
    mm_model m;
    cr_assert_eq(mm_model_init(&m, cfg_in, NULL, 1234), 0, "%s", mm_error_message());
    const mm_model_config *cfg = &m.config;
    const int N = B * T, V = m.V;
    mm_parity_batch b;
    mm_parity_batch_make(&b, B, T, V, rnd);

    // --- write parameters + batch
    char *dir = mm_test_tmpdir("parity");
    char *in = mm_test_path(dir, "in.safetensors"), *out = mm_test_path(dir, "out.safetensors");
    mm_safetensors st;
    mm_st_init(&st);
    mm_parity_add_model_and_batch(&st, &m, &b);
    set_meta_shape(&st, cfg);
    set_meta_num(&st, "hidden_dim", cfg->hidden_dim);
    set_meta_steps(&st, STEPS, lr, wd, clip);
    cr_assert_eq(mm_st_write(&st, in), 0, "%s", mm_error_message());
    mm_st_free(&st);

    // --- C forward/backward on the initial parameters, then PyTorch
    float loss;
    float *logits = mm_parity_forward_backward(&m, &b, &loss);
    const char *argv[] = {mm_test_python(), REF_SCRIPT, in, out, NULL};
    mm_safetensors ref;
    mm_parity_run_reference(argv, out, &ref);
    char tag[32];
    snprintf(tag, sizeof tag, "dim %d", cfg->dim);
    mm_parity_expect_logits_loss(&ref, logits, loss, (size_t)N * V, tol, tag);

    double worst = 0;
    const char *worst_name = "";
    int n_grads = 0;
    for (int i = 0; i < m.n_table; i++) {
        const mm_param *p = &m.table[i];
        char name[96];
        snprintf(name, sizeof name, "grad.%s", p->name);
        if (p->tied) {  // PyTorch lists the tied table once, as tok_embeddings.weight
            cr_expect_null(mm_st_find(&ref, name), "tied '%s' listed twice by named_parameters", p->name);
            continue;
        }
        const mm_st_tensor *g = need(&ref, name, p->numel);
        double e = rel_err(p->grad, g->data, p->numel);
        cr_expect(e <= tol, "gradient of %s: rel err %.3e > %.1e", p->name, e, tol);
        if (e > worst) worst = e, worst_name = p->name;
        n_grads++;
    }
    cr_log_info("dim %d: %d gradients, worst rel err %.3e (%s)", cfg->dim, n_grads, worst, worst_name);
    cr_expect_eq(n_grads, m.n_table - 1);

    // --- 10 training steps, as MiniMind's loop: lr per step, clip 1.0, AdamW
    const float *ref_losses = need(&ref, "losses", STEPS)->data;
    double worst_step = adamw_steps_rel_err(&m, b.X, b.Y, b.mask, B, T, ref_losses, STEPS, lr, wd, clip, tag);
    cr_expect(ref_losses[STEPS - 1] < ref_losses[0] - 0.1f, "reference did not train: %g -> %g", ref_losses[0],
              ref_losses[STEPS - 1]);
    cr_expect(worst_step <= 1e-4, "training-step losses differ: worst rel %.3e", worst_step);

    mm_st_free(&ref);
    mm_test_rmtree(dir);
    free(dir), free(in), free(out), free(logits);
    mm_parity_batch_free(&b);
    mm_model_free(&m);
}

Test(model_parity, small_config_vs_pytorch) {
    MM_NEED_PYTHON("torch,safetensors");
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    cfg.dim = 64, cfg.n_layers = 2, cfg.n_heads = 4, cfg.n_kv_heads = 2, cfg.vocab_size = 256;
    cfg.max_seq_len = 32;
    parity(&cfg, 2, 16, 1e-4);
}

Test(model_parity, default_config_vs_pytorch, .timeout = 600) {
    MM_NEED_PYTHON("torch,safetensors");
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    parity(&cfg, 1, 64, 1e-4);
}

Test(model_parity, default_parameter_count) {
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    mm_model m;
    cr_assert_eq(mm_model_init(&m, &cfg, NULL, 1), 0, "%s", mm_error_message());
    cr_assert_eq(m.num_params, (size_t)25829888, "parameter count %zu", m.num_params);
    cr_assert_eq(m.F, 1408);
    // the table (minus the tied alias) covers every parameter exactly once
    size_t sum = 0;
    for (int i = 0; i < m.n_table; i++)
        if (!m.table[i].tied) sum += m.table[i].numel;
    cr_assert_eq(sum, m.num_params);
    const mm_param *o = mm_model_find_param(&m, "output.weight"), *e = mm_model_find_param(&m, "tok_embeddings.weight");
    cr_assert(o && e && o->data == e->data && o->tied);
    cr_assert_eq(mm_model_find_param(&m, "layers.7.feed_forward.w3.weight")->shape[0], 1408);
    cr_assert_null(mm_model_find_param(&m, "layers.8.ffn_norm.weight"));
    // init: U(±1/sqrt(fan_in)) — w2 has fan_in 1408, others 512; norms are 1
    const mm_param *w2 = mm_model_find_param(&m, "layers.0.feed_forward.w2.weight");
    float mx = 0;
    for (size_t i = 0; i < w2->numel; i++) mx = fmaxf(mx, fabsf(w2->data[i]));
    cr_assert(mx <= 1.0f / sqrtf(1408.0f) && mx > 0.95f / sqrtf(1408.0f), "w2 init bound %g", mx);
    cr_assert_eq(mm_model_find_param(&m, "norm.weight")->data[17], 1.0f);
    mm_model_free(&m);
}

Test(model_parity, unsupported_inputs_are_errors) {
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    cfg.dim = 32, cfg.n_layers = 1, cfg.n_heads = 2, cfg.n_kv_heads = 1, cfg.vocab_size = 16, cfg.max_seq_len = 8;
    mm_model m;
    cr_assert_eq(mm_model_init(&m, &cfg, NULL, 1), 0);
    int32_t X[9] = {1, 2, 3, 16, 0, 0, 0, 0, 0}, Y[9] = {0};
    float loss;
    cr_assert_eq(mm_model_forward(&m, X, Y, NULL, 1, 4, &loss, NULL), -1);
    cr_assert(strstr(mm_error_message(), "input[3] = 16") != NULL, "%s", mm_error_message());
    cr_assert_eq(mm_model_forward(&m, X, Y, NULL, 1, 9, &loss, NULL), -1);
    cr_assert(strstr(mm_error_message(), "max_seq_len") != NULL, "%s", mm_error_message());
    cr_assert_eq(mm_model_backward(&m, 1.0f), -1);
    float logits[16];
    cr_assert_eq(mm_model_forward_cached(&m, X, 2, 7, logits), -1);
    cr_assert(strstr(mm_error_message(), "context full") != NULL, "%s", mm_error_message());
    mm_model_free(&m);
    cfg.model_type = MM_MODEL_MEMORY;  // the memory variants need a perfect-square knowledge_num
    cfg.knowledge_num = 1000;
    cr_assert_eq(mm_model_init(&m, &cfg, NULL, 1), -1);
}

Test(optim, lr_schedule_matches_minimind_get_lr) {
    // get_lr(it, all, lr) = lr/10 + 0.5*lr*(1 + cos(pi*it/all)), hand-evaluated for lr = 5e-4, all = 100
    cr_assert_float_eq(mm_lr_schedule(0, 100, 5e-4f, 0), 5.5e-4f, 1e-9);
    cr_assert_float_eq(mm_lr_schedule(50, 100, 5e-4f, 0), 3.0e-4f, 1e-9);
    cr_assert_float_eq(mm_lr_schedule(100, 100, 5e-4f, 0), 5.0e-5f, 1e-9);
    cr_assert_float_eq(mm_lr_schedule(25, 100, 5e-4f, 0), 5e-5f + 2.5e-4f * (1 + 0.70710678f), 1e-9);
    // linear warm-up scales the scheduled value by (step+1)/warmup
    cr_assert_float_eq(mm_lr_schedule(0, 100, 5e-4f, 10), 5.5e-5f, 1e-9);
    cr_assert_float_eq(mm_lr_schedule(10, 100, 5e-4f, 10), mm_lr_schedule(10, 100, 5e-4f, 0), 1e-12);
}

Test(optim, adamw_first_step_by_hand) {
    // step 1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2 -> p = p(1 - lr wd) - lr * g/(|g| + eps)
    float p[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.5f, -0.25f, 0.0f};
    mm_adamw o;
    cr_assert_eq(mm_adamw_init(&o, 3, 0.9f, 0.999f, 1e-8f, 0.1f, NULL), 0);
    mm_adamw_step(&o, p, g, 0.01f);
    cr_assert_float_eq(p[0], 1.0f * 0.999f - 0.01f, 1e-6);
    cr_assert_float_eq(p[1], -2.0f * 0.999f + 0.01f, 1e-6);
    cr_assert_float_eq(p[2], 0.5f * 0.999f, 1e-7);
    // clipping: norm of (3, 4) is 5; clipped to 1 -> (0.6, 0.8)
    float gg[2] = {3.0f, 4.0f};
    cr_assert_float_eq(mm_grad_clip(NULL, gg, 2, 1.0f), 5.0f, 1e-6);
    cr_assert_float_eq(gg[0], 0.6f, 1e-6);
    cr_assert_float_eq(gg[1], 0.8f, 1e-6);
    mm_adamw_free(&o);
}

// KV cache: token-by-token (and chunked) cached logits equal the full forward's logits.
static void kv_cache_case(mm_model_config *cfg, int T) {
    mm_model m;
    cr_assert_eq(mm_model_init(&m, cfg, NULL, 99), 0, "%s", mm_error_message());
    const int V = m.V;
    int32_t *X = malloc(sizeof(int32_t) * T);
    for (int i = 0; i < T; i++) X[i] = (int32_t)(rnd() % (uint32_t)V);
    float *full = malloc(sizeof(float) * (size_t)T * V), *step = malloc(sizeof(float) * V);
    cr_assert_eq(mm_model_forward(&m, X, NULL, NULL, 1, T, NULL, full), 0, "%s", mm_error_message());
    double worst = 0;
    for (int pass = 0; pass < 2; pass++) {
        // pass 0: one token at a time; pass 1: a 5-token prefill, then one at a time
        int pos = 0;
        if (pass == 1) {
            cr_assert_eq(mm_model_forward_cached(&m, X, 5, 0, step), 0, "%s", mm_error_message());
            worst = fmax(worst, rel_err(step, full + (size_t)4 * V, V));
            pos = 5;
        }
        for (; pos < T; pos++) {
            cr_assert_eq(mm_model_forward_cached(&m, X + pos, 1, pos, step), 0, "%s", mm_error_message());
            double e = rel_err(step, full + (size_t)pos * V, V);
            cr_assert(e < 1e-5, "pass %d position %d: cached logits rel err %.3e", pass, pos, e);
            worst = fmax(worst, e);
        }
    }
    cr_log_info("kv cache dim %d T %d: worst rel err %.3e", cfg->dim, T, worst);
    free(X), free(full), free(step);
    mm_model_free(&m);
}

Test(kv_cache, cached_logits_equal_full_forward_small) {
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    cfg.dim = 64, cfg.n_layers = 2, cfg.n_heads = 4, cfg.n_kv_heads = 2, cfg.vocab_size = 256, cfg.max_seq_len = 160;
    kv_cache_case(&cfg, 140);  // crosses the attention kernel's 128-row block
}

Test(kv_cache, cached_logits_equal_full_forward_default) {
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    kv_cache_case(&cfg, 24);
}

// `minimind bench` runs a tiny configuration end to end and reports consistent numbers.
Test(bench_cli, tiny_run_reports_json_and_rejects_bad_options) {
    const char *argv[] = {MM_MINIMIND_EXE, "bench", "--dim", "32", "--n-layers", "1", "--n-heads", "2",
                          "--n-kv-heads", "1", "--vocab", "64", "--seq-len", "8", "--batch", "2", "--steps", "2",
                          "--threads", "1", "--peak-size", "128", "--json", NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "bench failed: %s", r.err);
    double ms = 0, tps = 0, gflop = 0;
    const char *p = strstr(r.out, "\"ms_per_step\": "), *q = strstr(r.out, "\"tokens_per_s\": ");
    const char *g = strstr(r.out, "\"gflop_per_step\": ");
    cr_assert(p && q && g, "unexpected output: %s", r.out);
    ms = atof(p + 15), tps = atof(q + 16), gflop = atof(g + 18);
    cr_assert(ms > 0 && tps > 0, "%s", r.out);
    cr_assert_float_eq(tps, 16.0 / (ms / 1000.0), tps * 1e-3, "tokens/s must equal B*T / step time: %s", r.out);
    // 3 x (2*N*C*(QKV + C + 3F) + 4*B*C*T(T+1)/2 + 2*N*C*V), C=32 QKV=64 F=128(hidden 85 -> 128) N=16 V=64
    double want = 3.0 * (2.0 * 16 * 32 * (64 + 32 + 3 * 128) + 4.0 * 2 * 32 * 36 + 2.0 * 16 * 32 * 64) / 1e9;
    cr_assert_float_eq(gflop, want, 1e-6, "%s", r.out);
    mm_proc_result_free(&r);
    const char *bad[] = {MM_MINIMIND_EXE, "bench", "--steps", "zero", NULL};
    cr_assert_eq(mm_test_run(bad, NULL, &r), 0);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "minimind: error: bench: --steps: expected an integer") != NULL, "%s", r.err);
    mm_proc_result_free(&r);
}
