// The model's attention block in bf16 storage (engine/src/model_attention_bf16.c, backend.h "the
// attention block in bf16") on the CPU, through the reference ops (cpu_bf16.h): the stored
// tensors are what a plain recomputation from the layer's input gives, rounded to bf16 (loops
// here, not the reference code); the loss and every gradient stay close to the fp32 model's in
// every variant, alone and with the feed-forward block in bf16; the buffers follow the precision
// and the shape the backend accepts; the profile counts the path's ops.
#include "bf16_model_util.h"
#include "minimind/profile.h"
#include "profile_util.h"

// A fresh model_original on be in precision p, and the batch.
static void start(mm_model *m, const mm_backend *be, mm_precision p, int32_t *X, int32_t *Y) {
    bf16_start(m, MM_MODEL_ORIGINAL, be, p, X, Y);
}

Test(attention_bf16, loss_and_gradients_close_to_fp32_alone_and_with_the_ffn_in_bf16) {
    bf16_close_to_fp32_case(MM_MODEL_ORIGINAL, mm_test_cpu_bf16(0, 1, 0));
    bf16_close_to_fp32_case(MM_MODEL_ORIGINAL, mm_test_cpu_bf16(1, 1, 0));
}

Test(attention_bf16, the_memory_variants_too) {
    bf16_close_to_fp32_case(MM_MODEL_MEMORY, mm_test_cpu_bf16(1, 1, 0));
    bf16_close_to_fp32_case(MM_MODEL_NO_FEED, mm_test_cpu_bf16(0, 1, 0));
}

// |got - want| within `ulps` bf16 ulps of `scale` (or both tiny).
static int within(float got, double want, double scale, double ulps) {
    return fabs(got - want) <= ulps * fabs(scale) / 128.0 + 1e-30;
}

// ln1 (N, C) of layer input x, in double.
static void norm_rows(double *ln, const float *x, const float *w, int C, float eps) {
    for (int r = 0; r < N; r++) {
        double ss = 0.0;
        for (int c = 0; c < C; c++) ss += (double)x[(size_t)r * C + c] * x[(size_t)r * C + c];
        const double rstd = 1.0 / sqrt(ss / C + eps);
        for (int c = 0; c < C; c++) ln[(size_t)r * C + c] = x[(size_t)r * C + c] * rstd * w[c];
    }
}

// The last layer's stored ln1, qkv (q, k rotated), attention output and the block's fp32 output
// against a recomputation from its input with plain loops.
Test(attention_bf16, the_stored_tensors_are_the_layers_values_rounded_to_bf16) {
    const mm_backend *be = mm_test_cpu_bf16(0, 1, 0);
    mm_model m;
    int32_t X[N], Y[N];
    start(&m, be, MM_PRECISION_BF16, X, Y);
    float loss;
    cr_assert_eq(mm_model_forward(&m, X, Y, NULL, B, T, &loss, NULL), 0, "%s", mm_error_message());
    cr_assert(m.att_bf16 && !m.a.ln1 && !m.a.qkv && !m.a.atty && m.a.ln1_16 && m.a.qkv_16 && m.a.atty_16);
    const int C = m.C, QKV = m.QKV, H = m.H, KV = m.KV, hs = m.hs, l = m.L - 1;
    const float *x = m.a.res + (size_t)l * N * C, *hres = m.a.hres + (size_t)l * N * C;
    const float *wqkv = m.layers[l].wqkv, *wo = m.layers[l].wo;
    const mm_bf16 *ln1 = m.a.ln1_16 + (size_t)l * N * C, *qkv = m.a.qkv_16 + (size_t)l * N * QKV;
    const mm_bf16 *atty = m.a.atty_16 + (size_t)l * N * C;
    double *want_ln = malloc((size_t)N * C * sizeof(double));
    cr_assert(want_ln);
    norm_rows(want_ln, x, m.layers[l].attention_norm, C, m.config.norm_eps);
    int bad_ln = 0, bad_qkv = 0, bad_att = 0, bad_out = 0;
    for (size_t i = 0; i < (size_t)N * C; i++) bad_ln += !within(bf(ln1[i]), want_ln[i], want_ln[i], 1.0);
    for (int r = 0; r < N; r++) {
        const int t = r % T;
        for (int j = 0; j < QKV; j += 2) {  // the pair (j, j+1) = bf16(ln1) bf16(wqkv)^T, rotated when q or k
            double p[2];
            for (int e = 0; e < 2; e++) {
                double s = 0.0;
                for (int c = 0; c < C; c++)
                    s += (double)bf(ln1[(size_t)r * C + c]) * bf16_of(wqkv[(size_t)(j + e) * C + c]);
                p[e] = bf16_of((float)s);  // the product is stored before the rotation
            }
            double g0 = p[0], g1 = p[1];
            if (j < C + KV * hs) {  // q or k: RoPE at position t, pair i of its head
                const int i = (j % hs) / 2;
                const double ang = t * pow(m.config.rope_theta, -(double)(2 * i) / hs);
                g0 = p[0] * cos(ang) - p[1] * sin(ang);
                g1 = p[0] * sin(ang) + p[1] * cos(ang);
            }
            const double scale = fabs(p[0]) + fabs(p[1]);
            bad_qkv += !within(bf(qkv[(size_t)r * QKV + j]), g0, scale, 1.0);
            bad_qkv += !within(bf(qkv[(size_t)r * QKV + j + 1]), g1, scale, 1.0);
        }
    }
    // attention from the stored q, k, v: softmax over keys 0..t of the row's batch, scale 1/sqrt(hs)
    for (int r = 0; r < N; r++)
        for (int h = 0; h < H; h++) {
            const int b = r / T, t = r % T, g = h / (H / KV);
            double sc[T], mx = -INFINITY, sum = 0.0;
            for (int k = 0; k <= t; k++) {
                double s = 0.0;
                for (int d = 0; d < hs; d++)
                    s += (double)bf(qkv[(size_t)r * QKV + h * hs + d]) *
                         bf(qkv[(size_t)(b * T + k) * QKV + C + g * hs + d]);
                sc[k] = s / sqrt((double)hs);
                if (sc[k] > mx) mx = sc[k];
            }
            for (int k = 0; k <= t; k++) sum += sc[k] = exp(sc[k] - mx);
            for (int d = 0; d < hs; d++) {
                double o = 0.0, mag = 0.0;
                for (int k = 0; k <= t; k++) {
                    const double v = bf(qkv[(size_t)(b * T + k) * QKV + C + KV * hs + g * hs + d]);
                    o += sc[k] / sum * v, mag += sc[k] / sum * fabs(v);
                }
                bad_att += !within(bf(atty[(size_t)r * C + h * hs + d]), o, fabs(o) + 1e-6 * mag, 1.0);
            }
        }
    for (int r = 0; r < N; r++)
        for (int c = 0; c < C; c++) {  // hres = x + bf16(atty) bf16(wo)^T, fp32
            double s = x[(size_t)r * C + c];
            for (int e = 0; e < C; e++)
                s += (double)bf(atty[(size_t)r * C + e]) * bf16_of(wo[(size_t)c * C + e]);
            bad_out += !(fabs(hres[(size_t)r * C + c] - s) <= 1e-5 * (1.0 + fabs(s)));
        }
    cr_expect_eq(bad_ln, 0, "%d of %d ln1 values off by more than a bf16 ulp", bad_ln, N * C);
    cr_expect_eq(bad_qkv, 0, "%d of %d qkv values off by more than a bf16 ulp", bad_qkv, N * QKV);
    cr_expect_eq(bad_att, 0, "%d of %d attention outputs off by more than a bf16 ulp", bad_att, N * C);
    cr_expect_eq(bad_out, 0, "%d of %d block outputs off", bad_out, N * C);
    free(want_ln);
    cr_assert_eq(be->set_precision(MM_PRECISION_FP32), 0);
    mm_model_free(&m);
}

// Precision switches between steps re-lay out the buffers, and so does a shape the backend
// refuses (the fp32 block then): each step gives its own configuration's loss every time.
Test(attention_bf16, the_buffers_follow_the_precision_and_the_shape) {
    const mm_backend *be = mm_test_cpu_bf16(1, 1, 0);
    mm_model m;
    int32_t X[N], Y[N];
    start(&m, be, MM_PRECISION_FP32, X, Y);
    const mm_precision order[] = {MM_PRECISION_FP32, MM_PRECISION_BF16, MM_PRECISION_FP32, MM_PRECISION_BF16};
    float loss[4];
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(be->set_precision(order[i]), 0);
        cr_assert_eq(mm_model_forward(&m, X, Y, NULL, B, T, &loss[i], NULL), 0, "%s", mm_error_message());
        cr_assert_eq(mm_model_backward(&m, 1.0f), 0, "%s", mm_error_message());
        const int on = order[i] == MM_PRECISION_BF16;
        cr_expect_eq(m.att_bf16, on);
        cr_expect_eq(m.a.ln1 == NULL && m.a.qkv == NULL && m.a.atty == NULL && m.ga.dqkv == NULL, on);
        cr_expect_eq(m.a.qkv_16 != NULL && m.ga.dqkv_16 != NULL, on);
    }
    cr_expect_eq(loss[0], loss[2], "fp32 %.9g then %.9g", loss[0], loss[2]);
    cr_expect_eq(loss[1], loss[3], "bf16 %.9g then %.9g", loss[1], loss[3]);
    cr_expect_neq(loss[0], loss[1]);
    // a shape the backend refuses: the same bf16 step with the attention block in fp32
    float lffn;
    mm_test_bf16_attention_min_T = T + 1;
    cr_assert_eq(mm_model_forward(&m, X, Y, NULL, B, T, &lffn, NULL), 0, "%s", mm_error_message());
    cr_assert_eq(mm_model_backward(&m, 1.0f), 0, "%s", mm_error_message());
    cr_expect(!m.att_bf16 && m.ffn_bf16 && m.a.qkv != NULL, "refused shape: att_bf16 %d", m.att_bf16);
    cr_expect_null(mm_model_attention_storage(&m, B, T));
    cr_expect_neq(lffn, loss[1], "the refused shape still took the bf16 attention?");
    mm_test_bf16_attention_min_T = 1;
    cr_expect_str_eq(mm_model_attention_storage(&m, B, T), "bf16", "runs record it");
    cr_assert_eq(be->set_precision(MM_PRECISION_FP32), 0);
    mm_model_free(&m);
}

// Through the timed backend: each bf16 op counted where the path calls it (none of the fp32
// attention ops), and the step's products still add up to the model's FLOP count.
Test(attention_bf16, the_profile_counts_the_bf16_ops_and_the_products_add_up) {
    const mm_backend *be = mm_backend_profiled(mm_test_cpu_bf16(1, 1, 0));
    mm_model m;
    int32_t X[N], Y[N];
    start(&m, be, MM_PRECISION_BF16, X, Y);
    float loss;
    mm_profile_reset();
    cr_assert_eq(mm_model_forward(&m, X, Y, NULL, B, T, &loss, NULL), 0, "%s", mm_error_message());
    cr_assert_eq(mm_model_backward(&m, 1.0f), 0, "%s", mm_error_message());
    const long L = m.L;
    cr_expect_eq(find_op("to_bf16")->calls, 2 * L,
                 "both blocks' weight copies, per layer (dres: the norm backward)");
    cr_expect_eq(find_op("rmsnorm_backward_bf16")->calls, 2 * L + 1, "every norm's backward");
    cr_expect_eq(find_op("rmsnorm_backward")->calls, 0, "the fp32 norm backward ran too");
    cr_expect_eq(find_op("rmsnorm_forward_bf16")->calls, 2 * L);
    cr_expect_eq(find_op("rope_forward_bf16")->calls, L);
    cr_expect_eq(find_op("rope_backward_bf16")->calls, L);
    cr_expect_eq(find_op("attention_forward_bf16")->calls, L);
    cr_expect_eq(find_op("attention_backward_bf16")->calls, L);
    cr_expect_eq(find_op("matmul_forward_bf16")->calls, 2 * L);
    cr_expect_eq(find_op("matmul_forward_residual_bf16")->calls, 2 * L);
    cr_expect_eq(find_op("matmul_backward_bf16")->calls, 4 * L);
    cr_expect_eq(find_op("rmsnorm_forward")->calls, 1, "the final norm only");
    const char *fp32_ops[] = {"rope_forward", "rope_backward", "attention_forward", "attention_backward"};
    for (size_t i = 0; i < sizeof fp32_ops / sizeof fp32_ops[0]; i++)
        cr_expect_eq(find_op(fp32_ops[i])->calls, 0, "the fp32 %s ran too", fp32_ops[i]);
    const char *products[] = {"matmul_forward",          "matmul_backward",
                              "matmul_forward_residual", "matmul_forward_bf16",
                              "matmul_backward_bf16",    "matmul_forward_residual_bf16",
                              "attention_forward_bf16",  "attention_backward_bf16",
                              "crossentropy_forward",    "crossentropy_backward"};
    double sum = 0.0;
    for (size_t i = 0; i < sizeof products / sizeof products[0]; i++) sum += find_op(products[i])->flops;
    const double model = mm_model_train_flops(&m, B, T);
    cr_expect(fabs(sum - model) <= 1e-9 * model, "ops' products %.9g FLOP, model %.9g", sum, model);
    cr_assert_eq(be->set_precision(MM_PRECISION_FP32), 0);
    mm_model_free(&m);
}
