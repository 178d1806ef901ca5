// The model's feed-forward block in bf16 storage (engine/src/model_ffn_bf16.c, backend.h "the
// feed-forward block in bf16") on the CPU, through the reference ops (cpu_bf16.h): the stored
// tensors are what a plain recomputation from the layer's inputs gives, rounded to bf16 (loops
// here, not the reference code); the loss and every gradient stay close to the fp32 model's; the
// buffers follow the precision, and the fp32 path is the CPU's bit for bit.
#include "bf16_model_util.h"
#include "minimind/profile.h"
#include "profile_util.h"

// A fresh model_original on be in precision p, and the batch.
static void start(mm_model *m, const mm_backend *be, mm_precision p, int32_t *X, int32_t *Y) {
    bf16_start(m, MM_MODEL_ORIGINAL, be, p, X, Y);
}

Test(ffn_bf16, loss_and_gradients_close_to_fp32_and_the_fp32_path_is_the_cpus) {
    bf16_close_to_fp32_case(MM_MODEL_ORIGINAL, mm_test_cpu_ffn_bf16());
}

Test(ffn_bf16, the_memory_models_fusion_mlp_too) {
    bf16_close_to_fp32_case(MM_MODEL_MEMORY, mm_test_cpu_ffn_bf16());
    // model_no_feed has no feed-forward block: nothing changes
    const mm_backend *ref = mm_test_cpu_ffn_bf16();
    mm_model m;
    int32_t X[N], Y[N];
    bf16_start(&m, MM_MODEL_NO_FEED, ref, MM_PRECISION_BF16, X, Y);
    float loss;
    cr_assert_eq(mm_model_forward(&m, X, Y, NULL, B, T, &loss, NULL), 0, "%s", mm_error_message());
    cr_expect_eq(m.ffn_bf16, 0);
    cr_expect_null(mm_model_ffn_storage(&m));
    cr_assert_eq(ref->set_precision(MM_PRECISION_FP32), 0);
    mm_model_free(&m);
}

// |got - want| within one bf16 ulp of want (or both tiny).
static int within_ulp(float got, float want) {
    const float ulp = fabsf(want) * (1.0f / 128.0f);
    return fabsf(got - want) <= ulp + 1e-30f;
}

// The last layer's stored tensors against a recomputation from its input hres with plain loops.
Test(ffn_bf16, the_stored_tensors_are_the_layers_values_rounded_to_bf16) {
    const mm_backend *be = mm_test_cpu_ffn_bf16();
    mm_model m;
    int32_t X[N], Y[N];
    start(&m, be, MM_PRECISION_BF16, X, Y);
    const mm_model_config cfg = m.config;
    float loss;
    cr_assert_eq(mm_model_forward(&m, X, Y, NULL, B, T, &loss, NULL), 0, "%s", mm_error_message());
    cr_assert(m.ffn_bf16 && !m.a.ln2 && !m.a.h13 && !m.a.g && m.a.ln2_16 && m.a.h13_16 && m.a.g_16);
    const int C = m.C, F = m.F, l = m.L - 1;
    const float *hres = m.a.hres + (size_t)l * N * C, *xo = m.a.res + (size_t)(l + 1) * N * C;
    const float *nw = m.layers[l].ffn_norm, *w13 = m.layers[l].w13, *w2 = m.layers[l].w2;
    const mm_bf16 *ln2 = m.a.ln2_16 + (size_t)l * N * C, *h13 = m.a.h13_16 + (size_t)l * N * 2 * F;
    const mm_bf16 *g = m.a.g_16 + (size_t)l * N * F;
    int bad_ln = 0, bad_h = 0, bad_g = 0, bad_out = 0;
    for (int r = 0; r < N; r++) {
        const float *x = hres + (size_t)r * C;
        double ss = 0.0;
        for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
        const double rstd = 1.0 / sqrt(ss / C + cfg.norm_eps);
        for (int c = 0; c < C; c++) bad_ln += !within_ulp(bf(ln2[(size_t)r * C + c]), (float)(x[c] * rstd * nw[c]));
        for (int j = 0; j < 2 * F; j++) {  // h13 = bf16(ln2) bf16(w13)^T
            double s = 0.0;
            for (int c = 0; c < C; c++)
                s += (double)bf(ln2[(size_t)r * C + c]) * bf16_of(w13[(size_t)j * C + c]);
            bad_h += !within_ulp(bf(h13[(size_t)r * 2 * F + j]), (float)s);
        }
        for (int f = 0; f < F; f++) {
            const double h1 = bf(h13[(size_t)r * 2 * F + f]), h3 = bf(h13[(size_t)r * 2 * F + F + f]);
            bad_g += !within_ulp(bf(g[(size_t)r * F + f]), (float)(h1 / (1.0 + exp(-h1)) * h3));
        }
        for (int c = 0; c < C; c++) {  // out = hres + bf16(g) bf16(w2)^T, fp32
            double s = x[c];
            for (int f = 0; f < F; f++)
                s += (double)bf(g[(size_t)r * F + f]) * bf16_of(w2[(size_t)c * F + f]);
            bad_out += !(fabs(xo[(size_t)r * C + c] - s) <= 1e-5 * (1.0 + fabs(s)));
        }
    }
    cr_expect_eq(bad_ln, 0, "%d of %d ln2 values off by more than a bf16 ulp", bad_ln, N * C);
    cr_expect_eq(bad_h, 0, "%d of %d h13 values off by more than a bf16 ulp", bad_h, N * 2 * F);
    cr_expect_eq(bad_g, 0, "%d of %d g values off by more than a bf16 ulp", bad_g, N * F);
    cr_expect_eq(bad_out, 0, "%d of %d block outputs off", bad_out, N * C);
    cr_assert_eq(be->set_precision(MM_PRECISION_FP32), 0);
    mm_model_free(&m);
}

// Precision switches between steps re-lay out the buffers: fp32 -> bf16 -> fp32 -> bf16 on one
// model gives each precision's own loss every time.
Test(ffn_bf16, the_buffers_follow_the_precision) {
    const mm_backend *be = mm_test_cpu_ffn_bf16();
    mm_model m;
    int32_t X[N], Y[N];
    start(&m, be, MM_PRECISION_FP32, X, Y);
    const mm_precision order[] = {MM_PRECISION_FP32, MM_PRECISION_BF16, MM_PRECISION_FP32, MM_PRECISION_BF16};
    float loss[4];
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(be->set_precision(order[i]), 0);
        cr_assert_eq(mm_model_forward(&m, X, Y, NULL, B, T, &loss[i], NULL), 0, "%s", mm_error_message());
        cr_assert_eq(mm_model_backward(&m, 1.0f), 0, "%s", mm_error_message());
        cr_expect_eq(m.ffn_bf16, order[i] == MM_PRECISION_BF16);
        cr_expect_eq(m.a.ln2 == NULL, order[i] == MM_PRECISION_BF16);
    }
    cr_expect_eq(loss[0], loss[2], "fp32 %.9g then %.9g", loss[0], loss[2]);
    cr_expect_str_eq(mm_model_ffn_storage(&m) ? mm_model_ffn_storage(&m) : "(none)", "bf16", "runs record it");
    cr_expect_eq(loss[1], loss[3], "bf16 %.9g then %.9g", loss[1], loss[3]);
    cr_expect_neq(loss[0], loss[1]);
    cr_assert_eq(be->set_precision(MM_PRECISION_FP32), 0);
    mm_model_free(&m);
}

// Through the timed backend: each bf16 op counted where the path calls it, and the step's products
// still add up to the model's FLOP count (the MFU numerator).
Test(ffn_bf16, the_profile_counts_the_bf16_ops_and_the_products_add_up) {
    const mm_backend *be = mm_backend_profiled(mm_test_cpu_ffn_bf16());
    mm_model m;
    int32_t X[N], Y[N];
    start(&m, be, MM_PRECISION_BF16, X, Y);
    float loss;
    mm_profile_reset();
    cr_assert_eq(mm_model_forward(&m, X, Y, NULL, B, T, &loss, NULL), 0, "%s", mm_error_message());
    cr_assert_eq(mm_model_backward(&m, 1.0f), 0, "%s", mm_error_message());
    const long L = m.L;
    cr_expect_eq(find_op("to_bf16")->calls, L, "the weights' copies, per layer (dres: the norm backward)");
    cr_expect_eq(find_op("rmsnorm_backward_bf16")->calls, 2 * L + 1, "every norm's backward");
    cr_expect_eq(find_op("rmsnorm_backward")->calls, 0, "the fp32 norm backward ran too");
    cr_expect_eq(find_op("rmsnorm_forward_bf16")->calls, L);
    cr_expect_eq(find_op("swiglu_forward_bf16")->calls, L);
    cr_expect_eq(find_op("swiglu_backward_bf16")->calls, L);
    cr_expect_eq(find_op("matmul_forward_bf16")->calls, L);
    cr_expect_eq(find_op("matmul_forward_residual_bf16")->calls, L);
    cr_expect_eq(find_op("matmul_backward_bf16")->calls, 2 * L);
    cr_expect_eq(find_op("swiglu_forward")->calls, 0, "the fp32 SwiGLU ran too");
    const char *products[] = {"matmul_forward",        "matmul_backward",      "matmul_forward_residual",
                              "matmul_forward_bf16",   "matmul_backward_bf16", "matmul_forward_residual_bf16",
                              "attention_forward",     "attention_backward",   "crossentropy_forward",
                              "crossentropy_backward"};
    double sum = 0.0;
    for (size_t i = 0; i < sizeof products / sizeof products[0]; i++) sum += find_op(products[i])->flops;
    const double model = mm_model_train_flops(&m, B, T);
    cr_expect(fabs(sum - model) <= 1e-9 * model, "ops' products %.9g FLOP, model %.9g", sum, model);
    cr_assert_eq(be->set_precision(MM_PRECISION_FP32), 0);
    mm_model_free(&m);
}
