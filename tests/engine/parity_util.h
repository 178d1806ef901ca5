// Helpers shared by the suites that compare the engine with a PyTorch reference through
// safetensors files (test_model_parity.c, test_memory_model.c, test_memory.c).
#ifndef MM_TEST_PARITY_UTIL_H
#define MM_TEST_PARITY_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "minimind/model.h"
#include "minimind/model_config.h"
#include "minimind/optim.h"
#include "minimind/safetensors.h"
#include "test_util.h"

// max|a - b| / max|b| over n values (the tolerance measure of the parity tests).
static inline double rel_err(const float *a, const float *b, size_t n) {
    double emax = 0, bmax = 0;
    for (size_t i = 0; i < n; i++) {
        emax = fmax(emax, fabs((double)a[i] - b[i]));
        bmax = fmax(bmax, fabs((double)b[i]));
    }
    return emax / fmax(bmax, 1e-30);
}

// Stores a number as metadata text (%.9g) for the reference script.
static inline void set_meta_num(mm_safetensors *st, const char *key, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    cr_assert_eq(mm_st_set_meta(st, key, buf), 0, "%s", mm_error_message());
}

// The model's shape for the reference script's metadata.
static inline void set_meta_shape(mm_safetensors *st, const mm_model_config *cfg) {
    set_meta_num(st, "dim", cfg->dim);
    set_meta_num(st, "n_layers", cfg->n_layers);
    set_meta_num(st, "n_heads", cfg->n_heads);
    set_meta_num(st, "n_kv_heads", cfg->n_kv_heads);
    set_meta_num(st, "vocab_size", cfg->vocab_size);
    set_meta_num(st, "norm_eps", cfg->norm_eps);
    set_meta_num(st, "rope_theta", cfg->rope_theta);
    set_meta_num(st, "max_seq_len", cfg->max_seq_len);
}

// The training check: `steps` AdamW steps (no warm-up) at lr, weight decay wd, clipping at clip.
static inline void set_meta_steps(mm_safetensors *st, int steps, double lr, double wd, double clip) {
    set_meta_num(st, "steps", steps);
    set_meta_num(st, "warmup", 0);
    set_meta_num(st, "lr", lr);
    set_meta_num(st, "weight_decay", wd);
    set_meta_num(st, "grad_clip", clip);
}

// The F32 tensor `name` of numel values in the reference's output (the test fails otherwise).
static inline const mm_st_tensor *need(const mm_safetensors *st, const char *name, size_t numel) {
    const mm_st_tensor *t = mm_st_find(st, name);
    cr_assert_not_null(t, "python output lacks tensor '%s'", name);
    cr_assert_eq(t->dtype, MM_F32, "'%s' is not F32", name);
    cr_assert_eq(t->nbytes, numel * sizeof(float), "'%s' has %zu bytes, want %zu", name, t->nbytes,
                 numel * sizeof(float));
    return t;
}

// Runs `steps` training steps as MiniMind's loop (lr schedule per step, clipping, AdamW) on one
// batch and returns the worst relative difference of the losses to the reference's `losses`.
static inline double adamw_steps_rel_err(mm_model *m, const int32_t *X, const int32_t *Y, const float *mask, int B,
                                         int T, const float *ref_losses, int steps, float lr, float wd, float clip,
                                         const char *tag) {
    mm_adamw opt;
    cr_assert_eq(mm_adamw_init(&opt, m->num_params, MM_ADAMW_BETA1, MM_ADAMW_BETA2, MM_ADAMW_EPS, wd, NULL), 0);
    double worst = 0;
    for (int s = 0; s < steps; s++) {
        float loss;
        mm_model_zero_grad(m);
        cr_assert_eq(mm_model_forward(m, X, Y, mask, B, T, &loss, NULL), 0, "%s", mm_error_message());
        cr_assert_eq(mm_model_backward(m, 1.0f), 0);
        mm_model_clip_grad_norm(m, clip);
        mm_adamw_step(&opt, m->params, m->grads, mm_lr_schedule(s, steps, lr, 0));
        double e = fabs(loss - ref_losses[s]) / fabs(ref_losses[s]);
        cr_log_info("%s: step %d loss C %.6f torch %.6f (rel %.2e)", tag, s, loss, ref_losses[s], e);
        worst = fmax(worst, e);
    }
    mm_adamw_free(&opt);
    return worst;
}

// A batch for the parity runs: random X, Y < V and a mask with a padded tail (the last 3 positions
// of each row) and scattered zeros. Arrays malloc'd (N = B*T).
typedef struct mm_parity_batch {
    int B, T;
    int32_t *X, *Y;
    float *mask;
} mm_parity_batch;

static inline void mm_parity_batch_make(mm_parity_batch *b, int B, int T, int V, uint32_t (*rnd)(void)) {
    const int N = B * T;
    b->B = B, b->T = T;
    b->X = malloc(sizeof(int32_t) * N), b->Y = malloc(sizeof(int32_t) * N), b->mask = malloc(sizeof(float) * N);
    cr_assert(b->X && b->Y && b->mask);
    for (int i = 0; i < N; i++) {
        b->X[i] = (int32_t)(rnd() % (uint32_t)V);
        b->Y[i] = (int32_t)(rnd() % (uint32_t)V);
        b->mask[i] = (i % T) >= T - 3 || i % 7 == 3 ? 0.0f : 1.0f;
    }
}

static inline void mm_parity_batch_free(mm_parity_batch *b) { free(b->X), free(b->Y), free(b->mask); }

// The reference's input file: every parameter of m under its state-dict name, then the batch.
static inline void mm_parity_add_model_and_batch(mm_safetensors *st, const mm_model *m, const mm_parity_batch *b) {
    for (int i = 0; i < m->n_table; i++) {
        const mm_param *p = &m->table[i];
        cr_assert_eq(mm_st_add(st, p->name, MM_F32, p->ndim, p->shape, p->data), 0, "%s", mm_error_message());
    }
    int64_t bt[2] = {b->B, b->T};
    cr_assert_eq(mm_st_add(st, "X", MM_I32, 2, bt, b->X), 0);
    cr_assert_eq(mm_st_add(st, "Y", MM_I32, 2, bt, b->Y), 0);
    cr_assert_eq(mm_st_add(st, "mask", MM_F32, 2, bt, b->mask), 0);
}

// C forward + backward on the batch from zeroed gradients; returns the loss, logits (N, V) malloc'd.
static inline float *mm_parity_forward_backward(mm_model *m, const mm_parity_batch *b, float *loss) {
    float *logits = malloc(sizeof(float) * (size_t)b->B * b->T * m->V);
    cr_assert(logits);
    mm_model_zero_grad(m);
    cr_assert_eq(mm_model_forward(m, b->X, b->Y, b->mask, b->B, b->T, loss, logits), 0, "%s", mm_error_message());
    cr_assert_eq(mm_model_backward(m, 1.0f), 0, "%s", mm_error_message());
    return logits;
}

// Runs the reference script (argv) and reads its output file `out` into ref.
static inline void mm_parity_run_reference(const char *const *argv, const char *out, mm_safetensors *ref) {
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0, "cannot start %s", argv[0]);
    cr_assert_eq(r.status, 0, "%s failed (%d):\n%s", argv[1], r.status, r.err);
    mm_proc_result_free(&r);
    cr_assert_eq(mm_st_read(ref, out), 0, "%s", mm_error_message());
}

// Logits and loss against the reference's "logits" / "loss" (relative errors within tol).
static inline void mm_parity_expect_logits_loss(const mm_safetensors *ref, const float *logits, float loss, size_t n,
                                                double tol, const char *tag) {
    double e_logits = rel_err(logits, need(ref, "logits", n)->data, n);
    float ref_loss;
    memcpy(&ref_loss, need(ref, "loss", 1)->data, sizeof ref_loss);
    double e_loss = fabs(loss - ref_loss) / fabs(ref_loss);
    cr_log_info("%s: loss C %.7f torch %.7f (rel %.2e); logits rel err %.2e", tag, loss, ref_loss, e_loss, e_logits);
    cr_expect(e_logits <= tol, "%s: logits rel err %.3e > %.1e", tag, e_logits, tol);
    cr_expect(e_loss <= tol, "%s: loss rel err %.3e", tag, e_loss);
}

#endif
