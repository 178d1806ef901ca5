// The memory variants `model` and `model_no_feed` against an independent PyTorch model
// (tests/reference/memory_ref.py model: the baseline's attention from model_ref.py, the memory
// layer with a brute-force top-K over all entries, autograd): logits, loss, every parameter
// gradient (incl. the tied embedding, which the memory values read) and 10 AdamW steps. Also the
// KV-cache inference against the full forward, the parameter table, and the shape checks.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/checkpoint.h"
#include "minimind/error.h"
#include "minimind/model.h"
#include "minimind/optim.h"
#include "minimind/safetensors.h"
#include "parity_util.h"
#include "test_util.h"

#define REF_SCRIPT MM_SOURCE_DIR "/tests/reference/memory_ref.py"

static uint64_t rs = 0x13198A2E03707344ull;
static uint32_t rnd(void) {
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (uint32_t)(rs >> 32);
}

static void small_config(mm_model_config *cfg, mm_model_type type) {
    mm_model_config_default(cfg);
    cfg->model_type = type;
    cfg->dim = 64, cfg->n_layers = 2, cfg->n_heads = 4, cfg->n_kv_heads = 2, cfg->vocab_size = 256;
    cfg->max_seq_len = 32;
    cfg->knowledge_num = 64, cfg->knowledge_length = 6, cfg->knowledge_dim = 16;
}

// A bank with text of random length (every 7th entry empty).
static void random_bank(mm_model *m) {
    size_t n = (size_t)m->ms.num * m->ms.LK;
    uint16_t *ids = calloc(n, sizeof *ids);
    for (int e = 0; e < m->ms.num; e++) {
        int len = e % 7 == 3 ? 0 : 1 + (int)(rnd() % (uint32_t)m->ms.LK);
        for (int t = 0; t < len; t++) ids[(size_t)e * m->ms.LK + t] = (uint16_t)(1 + rnd() % (uint32_t)(m->V - 1));
    }
    cr_assert_eq(mm_model_set_bank(m, ids, "test bank"), 0, "%s", mm_error_message());
    free(ids);
}

enum { STEPS = 10, K = 8 };

// muted: a layer that reads an empty bank (mm_model.mem_muted; metadata muted_layers), or -1.
static void parity(mm_model_type type, int B, int T, double tol, int muted) {
    const float lr = 1e-3f, wd = 0.01f, clip = 1.0f;
    mm_model_config cfg_in;
    small_config(&cfg_in, type);
    mm_model m;
    cr_assert_eq(mm_model_init_memory(&m, &cfg_in, K, MM_MEMORY_SELECT_SOFTMAX, NULL, 4321), 0, "%s",
                 mm_error_message());
    random_bank(&m);
    if (muted >= 0) m.mem_muted[muted] = 1;
    const mm_model_config *cfg = &m.config;
    const int N = B * T, V = m.V;
    mm_parity_batch b;
    mm_parity_batch_make(&b, B, T, V, rnd);
    char *dir = mm_test_tmpdir("memparity");
    char *in = mm_test_path(dir, "in.safetensors"), *out = mm_test_path(dir, "out.safetensors");
    mm_safetensors st;
    mm_st_init(&st);
    mm_parity_add_model_and_batch(&st, &m, &b);
    size_t nb = (size_t)m.ms.num * m.ms.LK;
    int32_t *bank32 = malloc(sizeof(int32_t) * nb);
    for (size_t i = 0; i < nb; i++) bank32[i] = m.bank[i];
    int64_t bs[2] = {m.ms.num, m.ms.LK};
    cr_assert_eq(mm_st_add(&st, "memory_bank", MM_I32, 2, bs, bank32), 0);
    cr_assert_eq(mm_st_set_meta(&st, "model_type", mm_model_type_name(type)), 0);
    set_meta_shape(&st, cfg);
    set_meta_num(&st, "knowledge_dim", cfg->knowledge_dim);
    set_meta_num(&st, "knowledge_num", cfg->knowledge_num);
    set_meta_num(&st, "knowledge_length", cfg->knowledge_length);
    set_meta_num(&st, "num_candidates", K);
    set_meta_num(&st, "fusion_hidden", m.F);
    if (muted >= 0) set_meta_num(&st, "muted_layers", muted);
    set_meta_steps(&st, STEPS, lr, wd, clip);
    cr_assert_eq(mm_st_write(&st, in), 0, "%s", mm_error_message());
    mm_st_free(&st);

    float loss;
    float *logits = mm_parity_forward_backward(&m, &b, &loss);
    const char *argv[] = {mm_test_python(), REF_SCRIPT, "model", in, out, NULL};
    mm_safetensors ref;
    mm_parity_run_reference(argv, out, &ref);
    const char *tn = mm_model_type_name(type);
    mm_parity_expect_logits_loss(&ref, logits, loss, (size_t)N * V, tol, tn);
    double worst = 0;
    const char *worst_name = "";
    int n_grads = 0, n_memory = 0;
    for (int i = 0; i < m.n_table; i++) {
        const mm_param *p = &m.table[i];
        if (p->tied) continue;
        char name[96];
        snprintf(name, sizeof name, "grad.%s", p->name);
        const mm_st_tensor *g = need(&ref, name, p->numel);
        double e = rel_err(p->grad, g->data, p->numel);
        cr_expect(e <= tol, "%s: gradient of %s: rel err %.3e > %.1e", tn, p->name, e, tol);
        if (e > worst) worst = e, worst_name = p->name;
        n_grads++;
        n_memory += strstr(p->name, ".memory.") != NULL;
    }
    cr_log_info("%s: %d gradients (%d memory), worst rel err %.3e (%s)", tn, n_grads, n_memory, worst, worst_name);
    cr_expect_eq(n_memory, cfg->n_layers * (type == MM_MODEL_MEMORY ? 5 : 2));
    cr_expect_null(mm_st_find(&ref, "grad.layers.0.feed_forward.w1.weight"));

    const float *ref_losses = need(&ref, "losses", STEPS)->data;
    double worst_step = adamw_steps_rel_err(&m, b.X, b.Y, b.mask, B, T, ref_losses, STEPS, lr, wd, clip, tn);
    cr_expect(ref_losses[STEPS - 1] < ref_losses[0] - 0.1f, "reference did not train: %g -> %g", ref_losses[0],
              ref_losses[STEPS - 1]);
    cr_expect(worst_step <= 1e-4, "%s: training-step losses differ: worst rel %.3e", tn, worst_step);
    mm_st_free(&ref);
    mm_test_rmtree(dir);
    free(dir), free(in), free(out), free(logits), free(bank32);
    mm_parity_batch_free(&b);
    mm_model_free(&m);
}

Test(memory_model, model_vs_pytorch) {
    MM_NEED_PYTHON("torch,safetensors");
    parity(MM_MODEL_MEMORY, 2, 16, 1e-4, -1);
}

Test(memory_model, model_no_feed_vs_pytorch) {
    MM_NEED_PYTHON("torch,safetensors");
    parity(MM_MODEL_NO_FEED, 2, 16, 1e-4, -1);
}

// `eval --bank empty@L`: the layer's read-out is 0, the others read the bank; the reference
// multiplies that layer's m by 0.
Test(memory_model, muted_layer_vs_pytorch) {
    MM_NEED_PYTHON("torch,safetensors");
    parity(MM_MODEL_MEMORY, 2, 16, 1e-4, 1);
    parity(MM_MODEL_NO_FEED, 2, 16, 1e-4, 0);
}

// Every layer muted reads what an all-padding bank gives: the same loss, gradients and cached
// logits bit for bit (the muted backward skips the memory; the empty bank's backward adds zeros).
static void all_muted_case(mm_model_type type) {
    mm_model_config cfg;
    small_config(&cfg, type);
    mm_model muted, empty;
    cr_assert_eq(mm_model_init_memory(&muted, &cfg, K, MM_MEMORY_SELECT_SOFTMAX, NULL, 99), 0);
    cr_assert_eq(mm_model_init_memory(&empty, &cfg, K, MM_MEMORY_SELECT_SOFTMAX, NULL, 99), 0);
    random_bank(&muted);  // `empty` keeps its all-padding bank
    for (int l = 0; l < muted.L; l++) muted.mem_muted[l] = 1;
    mm_parity_batch b;
    mm_parity_batch_make(&b, 2, 12, muted.V, rnd);
    float lm, le;
    float *xm = mm_parity_forward_backward(&muted, &b, &lm),
          *xe = mm_parity_forward_backward(&empty, &b, &le);
    const char *tn = mm_model_type_name(type);
    const int V = muted.V;
    cr_assert_eq(memcmp(&lm, &le, sizeof lm), 0, "%s: loss %.9g (all muted) vs %.9g (empty bank)", tn, lm,
                 le);
    cr_assert_eq(memcmp(xm, xe, sizeof(float) * 24 * V), 0, "%s: logits differ", tn);
    for (int i = 0; i < muted.n_table; i++) {
        const mm_param *p = &muted.table[i], *q = &empty.table[i];
        for (size_t j = 0; j < p->numel; j++)
            cr_assert_eq(p->grad[j], q->grad[j],
                         "%s: gradient of %s [%zu]: %.9g (all muted) vs %.9g (empty bank)", tn, p->name, j,
                         p->grad[j], q->grad[j]);
    }
    float *cm = malloc(sizeof(float) * V), *ce = malloc(sizeof(float) * V);
    cr_assert_eq(mm_model_forward_cached(&muted, b.X, 9, 0, cm), 0, "%s", mm_error_message());
    cr_assert_eq(mm_model_forward_cached(&empty, b.X, 9, 0, ce), 0, "%s", mm_error_message());
    cr_assert_eq(memcmp(cm, ce, sizeof(float) * V), 0, "%s: cached logits differ", tn);
    // one layer alone: another loss, and no gradient reaches that layer's memory
    muted.mem_muted[0] = 0;
    free(xm);
    xm = mm_parity_forward_backward(&muted, &b, &lm);
    cr_assert(lm != le, "%s: muting layer 1 alone gives the empty bank's loss", tn);
    const mm_param *q1 = mm_model_find_param(&muted, "layers.1.memory.query.weight");
    const mm_param *q0 = mm_model_find_param(&muted, "layers.0.memory.query.weight");
    cr_assert(q0 && q1);
    double n0 = 0, n1 = 0;
    for (size_t j = 0; j < q0->numel; j++) n0 += fabs(q0->grad[j]), n1 += fabs(q1->grad[j]);
    cr_assert(n0 > 0 && n1 == 0, "%s: |grad W_q| layer 0 %.3g (reads), layer 1 %.3g (muted)", tn, n0, n1);
    free(xm), free(xe), free(cm), free(ce);
    mm_parity_batch_free(&b);
    mm_model_free(&muted);
    mm_model_free(&empty);
}

Test(memory_model, all_layers_muted_equal_an_empty_bank) {
    all_muted_case(MM_MODEL_MEMORY);
    all_muted_case(MM_MODEL_NO_FEED);
}

static void kv_case(mm_model_type type) {
    mm_model_config cfg;
    small_config(&cfg, type);
    cfg.max_seq_len = 40;
    mm_model m;
    cr_assert_eq(mm_model_init_memory(&m, &cfg, K, MM_MEMORY_SELECT_GUMBEL, NULL, 7), 0, "%s", mm_error_message());
    random_bank(&m);
    enum { T = 37 };
    const int V = m.V;
    int32_t X[T];
    for (int i = 0; i < T; i++) X[i] = (int32_t)(rnd() % (uint32_t)V);
    float *full = malloc(sizeof(float) * T * V), *step = malloc(sizeof(float) * V);
    cr_assert_eq(mm_model_forward(&m, X, NULL, NULL, 1, T, NULL, full), 0, "%s", mm_error_message());
    cr_assert_eq(mm_model_forward_cached(&m, X, 5, 0, step), 0, "%s", mm_error_message());
    cr_assert(rel_err(step, full + 4 * V, V) < 1e-5);
    for (int pos = 5; pos < T; pos++) {
        cr_assert_eq(mm_model_forward_cached(&m, X + pos, 1, pos, step), 0, "%s", mm_error_message());
        double e = rel_err(step, full + (size_t)pos * V, V);
        cr_assert(e < 1e-5, "%s position %d: cached logits rel err %.3e", mm_model_type_name(type), pos, e);
    }
    free(full), free(step);
    mm_model_free(&m);
}

Test(memory_model, kv_cache_equals_full_forward) {
    kv_case(MM_MODEL_MEMORY);
    kv_case(MM_MODEL_NO_FEED);
}

Test(memory_model, parameter_table_and_counts) {
    mm_model_config cfg;
    mm_model_config_default(&cfg);  // dim 512, hidden 1408, knowledge 1024^2 x 32, knowledge_dim 128
    cfg.model_type = MM_MODEL_MEMORY;
    mm_model m;
    cr_assert_eq(mm_model_init(&m, &cfg, NULL, 1), 0, "%s", mm_error_message());
    cr_assert_eq(m.F, 896);  // 64 * ceil(3 * 1408 / 320)
    cr_assert_eq(m.ms.S, 1024);
    const mm_param *k = mm_model_find_param(&m, "layers.3.memory.keys");
    cr_assert(k && k->ndim == 3 && k->shape[0] == 2 && k->shape[1] == 1024 && k->shape[2] == 64);
    const mm_param *w1 = mm_model_find_param(&m, "layers.0.memory.fusion.w1.weight");
    cr_assert(w1 && w1->shape[0] == 896 && w1->shape[1] == 1024);
    cr_assert_null(mm_model_find_param(&m, "layers.0.feed_forward.w1.weight"));
    size_t sum = 0;
    for (int i = 0; i < m.n_table; i++)
        if (!m.table[i].tied) sum += m.table[i].numel;
    cr_assert_eq(sum, m.num_params);
    // per layer: 2C + QKV*C + C*C + 5*F*C + D*C + S*D (QKV = 768)
    size_t per_layer = 2 * 512 + 768 * 512 + 512 * 512 + 5 * 896 * 512 + 128 * 512 + 1024 * 128;
    cr_assert_eq(m.num_params, (size_t)6400 * 512 + 8 * per_layer + 512);
    mm_model_free(&m);

    cfg.model_type = MM_MODEL_NO_FEED;
    cr_assert_eq(mm_model_init(&m, &cfg, NULL, 1), 0, "%s", mm_error_message());
    cr_assert_eq(m.F, 0);
    for (int i = 0; i < m.n_table; i++) cr_assert_null(strstr(m.table[i].name, "fusion"), "%s", m.table[i].name);
    cr_assert_null(mm_model_find_param(&m, "layers.0.feed_forward.w2.weight"));
    mm_model_free(&m);

    cfg.knowledge_num = 1000;
    cr_assert_eq(mm_model_init(&m, &cfg, NULL, 1), -1);
    cr_assert(strstr(mm_error_message(), "not a perfect square"), "%s", mm_error_message());
}

Test(memory_model, bank_ids_checked) {
    mm_model_config cfg;
    small_config(&cfg, MM_MODEL_NO_FEED);
    mm_model m;
    cr_assert_eq(mm_model_init(&m, &cfg, NULL, 1), 0, "%s", mm_error_message());
    uint16_t *ids = calloc((size_t)64 * 6, sizeof *ids);
    ids[6 * 5 + 2] = 256;
    cr_assert_eq(mm_model_set_bank(&m, ids, "bank.bin"), -1);
    cr_assert(strstr(mm_error_message(), "bank.bin: entry 5 position 2 holds token id 256"), "%s", mm_error_message());
    free(ids);
    mm_model_free(&m);
}

// Save with the bank as a U16 extra tensor, load into a fresh model: every parameter, the bank and
// the logits come back bit for bit; the file holds the memory tensors under their documented names.
Test(memory_model, checkpoint_round_trip) {
    mm_run_config rc;
    mm_config_default(&rc);
    small_config(&rc.model, MM_MODEL_MEMORY);
    rc.knowledge.num_candidates = K;
    mm_model a, b;
    cr_assert_eq(mm_model_init_run(&a, &rc, NULL, 11, 0), 0, "%s", mm_error_message());
    cr_assert_eq(mm_model_init_run(&b, &rc, NULL, 12, 0), 0, "%s", mm_error_message());
    random_bank(&a);
    char *dir = mm_test_tmpdir("memckpt"), *path = mm_test_path(dir, "m.safetensors");
    mm_named_tensor *na = calloc((size_t)a.n_table, sizeof *na), *nb = calloc((size_t)b.n_table, sizeof *nb);
    for (int i = 0; i < a.n_table; i++) {
        na[i] = (mm_named_tensor){a.table[i].name, a.table[i].ndim, {0}, a.table[i].data};
        nb[i] = (mm_named_tensor){b.table[i].name, b.table[i].ndim, {0}, b.table[i].data};
        for (int d = 0; d < 3; d++) na[i].shape[d] = nb[i].shape[d] = a.table[i].shape[d];
    }
    mm_ckpt_extra ea = {MM_MEMORY_BANK_NAME, MM_U16, 2, {64, 6}, a.bank}, eb = ea;
    eb.data = b.bank;
    cr_assert_eq(mm_checkpoint_save(path, &rc, na, a.n_table, &ea, 1, NULL), 0, "%s", mm_error_message());
    mm_safetensors st;
    cr_assert_eq(mm_st_read(&st, path), 0);
    const mm_st_tensor *t = mm_st_find(&st, "layers.1.memory.keys");
    cr_assert(t && t->ndim == 3 && t->shape[0] == 2 && t->shape[1] == 8 && t->shape[2] == 8);
    t = mm_st_find(&st, "memory_bank");
    cr_assert(t && t->dtype == MM_U16 && t->shape[0] == 64 && t->shape[1] == 6);
    cr_assert_not_null(mm_st_find(&st, "layers.0.memory.fusion.w2.weight"));
    mm_st_free(&st);
    cr_assert_eq(mm_checkpoint_load(path, nb, b.n_table, &eb, 1, NULL), 0, "%s", mm_error_message());
    cr_assert_eq(memcmp(a.params, b.params, a.num_params * sizeof(float)), 0);
    cr_assert_eq(memcmp(a.bank, b.bank, 64 * 6 * sizeof(uint16_t)), 0);
    int32_t X[12];
    for (int i = 0; i < 12; i++) X[i] = (int32_t)(rnd() % 256u);
    float *la = malloc(sizeof(float) * 12 * 256), *lb = malloc(sizeof(float) * 12 * 256);
    cr_assert_eq(mm_model_forward(&a, X, NULL, NULL, 1, 12, NULL, la), 0);
    cr_assert_eq(mm_model_forward(&b, X, NULL, NULL, 1, 12, NULL, lb), 0);
    cr_assert_eq(memcmp(la, lb, sizeof(float) * 12 * 256), 0);
    // a checkpoint without the bank is refused
    cr_assert_eq(mm_checkpoint_save(path, &rc, na, a.n_table, NULL, 0, NULL), 0);
    cr_assert_eq(mm_checkpoint_load(path, nb, b.n_table, &eb, 1, NULL), -1);
    cr_assert(strstr(mm_error_message(), "memory_bank"), "%s", mm_error_message());
    mm_test_rmtree(dir);
    free(dir), free(path), free(na), free(nb), free(la), free(lb);
    mm_model_free(&a);
    mm_model_free(&b);
}

// The cluster cache places bank rows as the permutation says and starts every layer's keys at the
// projected, RMS-normalised centroid of their grid row (K1) / column (K2), recomputed here in double.
Test(memory_model, cluster_keys_start_at_centroids) {
    mm_model_config cfg;
    small_config(&cfg, MM_MODEL_NO_FEED);
    mm_model m;
    cr_assert_eq(mm_model_init_memory(&m, &cfg, K, MM_MEMORY_SELECT_SOFTMAX, NULL, 5), 0, "%s", mm_error_message());
    random_bank(&m);
    const int NUMm = 64, S = 8, LKm = 6, C = 64, D = 16, Dh = 8;
    uint16_t *orig = malloc(sizeof(uint16_t) * NUMm * LKm);
    memcpy(orig, m.bank, sizeof(uint16_t) * NUMm * LKm);
    uint32_t perm[64];
    cr_assert_eq(mm_memory_cluster_compute(m.bank, NUMm, LKm, m.tok_embeddings, C, perm), 0, "%s", mm_error_message());
    int seen[64] = {0};
    for (int p = 0; p < NUMm; p++) cr_assert(perm[p] < 64 && !seen[perm[p]]++, "not a permutation");
    cr_assert_eq(mm_model_apply_cluster(&m, perm), 0);
    for (int p = 0; p < NUMm; p++) cr_assert_eq(memcmp(m.bank + p * LKm, orig + perm[p] * LKm, LKm * 2), 0);
    double worst = 0;
    int checked = 0;
    for (int half = 0; half < 2; half++)
        for (int i = 0; i < S; i++) {
            double c[64] = {0};
            int n = 0;
            for (int p = 0; p < NUMm; p++) {
                if ((half ? p % S : p / S) != i) continue;
                const uint16_t *row = m.bank + p * LKm;
                double v[64] = {0};
                int cnt = 0;
                for (int t = 0; t < LKm; t++)
                    if (row[t]) {
                        for (int k = 0; k < C; k++) v[k] += m.tok_embeddings[row[t] * C + k];
                        cnt++;
                    }
                if (!cnt) continue;
                for (int k = 0; k < C; k++) c[k] += v[k] / cnt;
                n++;
            }
            if (n == 0) continue;  // a grid line of empty entries keeps its random key
            checked++;
            double ss = 0;
            for (int k = 0; k < C; k++) c[k] /= n, ss += c[k] * c[k];
            double r = 1.0 / sqrt(ss / C + cfg.norm_eps);
            for (int l = 0; l < 2; l++)
                for (int d = 0; d < Dh; d++) {
                    double s = 0;
                    for (int k = 0; k < C; k++) s += m.layers[l].mem_query[(half * Dh + d) * C + k] * c[k] * r;
                    worst = fmax(worst, fabs(s - m.layers[l].mem_keys[(half * S + i) * Dh + d]));
                }
        }
    cr_assert_lt(worst, 1e-5, "keys differ from the centroids by %g", worst);
    cr_assert_geq(checked, 2 * S - 2);
    (void)D;
    free(orig);
    mm_model_free(&m);
}
