// The model's head in bf16 storage (model.c, backend.h "the head in bf16") on the CPU, through the
// reference ops (cpu_bf16.h): the stored tensors — the final norm's output, the logits, dlogits —
// are what a plain recomputation (loops here, not the reference code) gives, rounded to bf16; the
// loss and every gradient stay close to the fp32 model's, alone and with both blocks in bf16, in
// every variant; the buffers follow the precision; logits asked for come back widened.
#include "bf16_model_util.h"

Test(head_bf16, loss_and_gradients_close_to_fp32_alone_and_with_both_blocks_in_bf16) {
    bf16_close_to_fp32_case(MM_MODEL_ORIGINAL, mm_test_cpu_bf16(0, 0, 1));
    bf16_close_to_fp32_case(MM_MODEL_ORIGINAL, mm_test_cpu_bf16(1, 1, 1));
}

Test(head_bf16, the_memory_variants_too) {
    bf16_close_to_fp32_case(MM_MODEL_MEMORY, mm_test_cpu_bf16(1, 1, 1));
    bf16_close_to_fp32_case(MM_MODEL_NO_FEED, mm_test_cpu_bf16(0, 1, 1));
}

// The model freed and the backend back in fp32 (the tables are shared by the tests).
static void finish(mm_model *m, const mm_backend *be) {
    mm_model_free(m);
    cr_assert_eq(be->set_precision(MM_PRECISION_FP32), 0);
}

// |got - want| within one bf16 ulp of want (or both tiny).
static int within_ulp(float got, double want) { return fabs(got - want) <= fabs(want) / 128.0 + 1e-30; }

// The head of a model_original step in bf16 with only the head on the reference ops: lnf16 is the
// last layer's output normed, logits16 its product with the embeddings' bf16 copy, the loss their
// masked mean cross-entropy, and after the backward logits16 holds (softmax - onehot) / N — each
// recomputed here in double from the stored inputs, and within one bf16 ulp (the loss 1e-5).
Test(head_bf16, the_stored_tensors_are_the_heads_values_rounded_to_bf16) {
    const mm_backend *be = mm_test_cpu_bf16(0, 0, 1);
    mm_model m;
    int32_t X[N], Y[N];
    bf16_start(&m, MM_MODEL_ORIGINAL, be, MM_PRECISION_BF16, X, Y);
    float loss;
    cr_assert_eq(mm_model_forward(&m, X, Y, NULL, B, T, &loss, NULL), 0, "%s", mm_error_message());
    cr_assert(m.head_bf16 && !m.a.lnf && !m.a.logits && m.a.lnf16 && m.a.logits16 && m.a.wte16);
    const int C = m.C, V = m.V;
    const float *x = m.a.res + (size_t)m.L * N * C;
    int bad_ln = 0, bad_wte = 0, bad_logit = 0, bad_d = 0;
    for (size_t i = 0; i < (size_t)V * C; i++) bad_wte += bf(m.a.wte16[i]) != bf16_of(m.tok_embeddings[i]);
    double total = 0.0, *l = malloc((size_t)V * sizeof(double)), *lse = malloc(N * sizeof(double));
    cr_assert(l && lse);
    for (int r = 0; r < N; r++) {
        double ss = 0.0;
        for (int c = 0; c < C; c++) ss += (double)x[(size_t)r * C + c] * x[(size_t)r * C + c];
        const double rstd = 1.0 / sqrt(ss / C + m.config.norm_eps);
        for (int c = 0; c < C; c++)
            bad_ln += !within_ulp(bf(m.a.lnf16[(size_t)r * C + c]), x[(size_t)r * C + c] * rstd * m.norm[c]);
        double mx = -INFINITY;
        for (int v = 0; v < V; v++) {
            double s = 0.0;
            for (int c = 0; c < C; c++)
                s += (double)bf(m.a.lnf16[(size_t)r * C + c]) * bf(m.a.wte16[(size_t)v * C + c]);
            bad_logit += !within_ulp(bf(m.a.logits16[(size_t)r * V + v]), s);
            l[v] = bf(m.a.logits16[(size_t)r * V + v]);  // the loss is the stored logits'
            mx = l[v] > mx ? l[v] : mx;
        }
        double se = 0.0;
        for (int v = 0; v < V; v++) se += exp(l[v] - mx);
        lse[r] = mx + log(se);
        total += lse[r] - l[Y[r]];
    }
    cr_expect_eq(bad_wte, 0, "%d embedding values are not their bf16 rounding", bad_wte);
    cr_expect_eq(bad_ln, 0, "%d final-norm values off by more than 1 bf16 ulp", bad_ln);
    cr_expect_eq(bad_logit, 0, "%d logits off by more than 1 bf16 ulp", bad_logit);
    cr_expect(fabs(loss - total / N) <= 1e-5 * fabs(total / N), "loss %.9g, from the stored logits %.9g",
              loss, total / N);
    mm_bf16 *stored = malloc((size_t)N * V * sizeof(mm_bf16));
    cr_assert(stored);
    memcpy(stored, m.a.logits16, (size_t)N * V * sizeof(mm_bf16));
    cr_assert_eq(mm_model_backward(&m, 1.0f), 0, "%s", mm_error_message());
    for (int r = 0; r < N; r++)
        for (int v = 0; v < V; v++) {
            const double p = exp(bf(stored[(size_t)r * V + v]) - lse[r]) - (v == Y[r]);
            bad_d += !within_ulp(bf(m.a.logits16[(size_t)r * V + v]), p / N);
        }
    cr_expect_eq(bad_d, 0, "%d dlogits off by more than 1 bf16 ulp", bad_d);
    free(l), free(lse), free(stored);
    finish(&m, be);
}

// fp32 -> bf16 -> fp32 on one model: the head's buffers are laid out again each time, and the
// fp32 steps are the CPU's bit for bit.
Test(head_bf16, the_buffers_follow_the_precision) {
    const mm_backend *be = mm_test_cpu_bf16(0, 0, 1);
    mm_model m;
    int32_t X[N], Y[N];
    bf16_start(&m, MM_MODEL_ORIGINAL, be, MM_PRECISION_FP32, X, Y);
    float l[3];
    const mm_precision ps[3] = {MM_PRECISION_FP32, MM_PRECISION_BF16, MM_PRECISION_FP32};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(be->set_precision(ps[i]), 0);
        cr_assert_eq(mm_model_forward(&m, X, Y, NULL, B, T, &l[i], NULL), 0, "%s", mm_error_message());
        const int h = ps[i] == MM_PRECISION_BF16;
        cr_expect_eq(m.head_bf16, h, "step %d", i);
        cr_expect_eq(m.a.lnf == NULL, h, "step %d: lnf", i);
        cr_expect_eq(m.a.logits == NULL, h, "step %d: logits", i);
        cr_expect_eq(m.a.logits16 != NULL && m.a.lnf16 != NULL && m.a.wte16 != NULL, h,
                     "step %d: bf16 buffers", i);
        cr_assert_eq(mm_model_backward(&m, 1.0f), 0, "%s", mm_error_message());
    }
    cr_expect_eq(l[0], l[2], "fp32 after bf16: loss %.9g, first %.9g", l[2], l[0]);
    cr_expect_neq(l[0], l[1], "the bf16 head gave the fp32 loss exactly: not taken?");
    finish(&m, be);
}

// Logits asked of a bf16 forward are the stored bf16 logits, widened.
Test(head_bf16, logits_out_are_the_stored_logits_widened) {
    const mm_backend *be = mm_test_cpu_bf16(0, 0, 1);
    mm_model m;
    int32_t X[N], Y[N];
    bf16_start(&m, MM_MODEL_ORIGINAL, be, MM_PRECISION_BF16, X, Y);
    float *out = malloc((size_t)N * m.V * sizeof(float));
    cr_assert(out);
    cr_assert_eq(mm_model_forward(&m, X, NULL, NULL, B, T, NULL, out), 0, "%s", mm_error_message());
    int bad = 0;
    for (size_t i = 0; i < (size_t)N * m.V; i++) bad += out[i] != bf(m.a.logits16[i]);
    cr_expect_eq(bad, 0, "%d of %d logits differ from the stored bf16 values", bad, N * m.V);
    free(out);
    finish(&m, be);
}
