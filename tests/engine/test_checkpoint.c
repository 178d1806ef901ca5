// Checkpoints: weights + resume state round trip, loading into a PyTorch MiniMind with strict
// state-dict names, strict load errors naming the tensor, tied weights, save-pair consistency,
// and atomic replacement (a failed save keeps the previous checkpoint).
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "minimind/checkpoint.h"
#include "minimind/error.h"
#include "test_util.h"

#define TORCH_SCRIPT MM_SOURCE_DIR "/tests/reference/ckpt_torch_load.py"
#define MAXP 64

// A tiny model_original parameter table with MiniMind's state-dict names (what the model module
// exposes), output.weight tied to tok_embeddings.weight.
typedef struct tiny {
    mm_run_config cfg;
    mm_named_tensor p[MAXP];
    char names[MAXP][96];
    int n;
    float *m[MAXP], *v[MAXP];  // AdamW moments per parameter (NULL for the tied alias)
    uint16_t bank[6 * 4];      // an extra U16 tensor
    mm_ckpt_extra extra;
} tiny;

static char *g_dir;
static void setup(void) { g_dir = mm_test_tmpdir("ckpt"); }
static void teardown(void) {
    mm_test_rmtree(g_dir);
    free(g_dir);
}
TestSuite(checkpoint, .init = setup, .fini = teardown);

static float value(int tensor, size_t i, int seed) {
    return (float)((int)((i * 7 + (size_t)tensor * 5 + (size_t)seed * 13) % 17) - 8) * 0.125f;
}

static void add(tiny *t, const char *name, int64_t d0, int64_t d1, float *shared) {
    mm_named_tensor *p = &t->p[t->n];
    snprintf(t->names[t->n], sizeof t->names[0], "%s", name);
    p->name = t->names[t->n];
    p->ndim = d1 ? 2 : 1;
    p->shape[0] = d0;
    p->shape[1] = d1;
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    p->data = shared ? shared : calloc(n, sizeof(float));
    if (!shared) {
        t->m[t->n] = calloc(n, sizeof(float));
        t->v[t->n] = calloc(n, sizeof(float));
    }
    t->n++;
}

// Fills every buffer from seed (weights, moments, bank).
static void fill(tiny *t, int seed) {
    for (int i = 0; i < t->n; i++) {
        if (!t->m[i]) continue;  // alias
        size_t n = (size_t)t->p[i].shape[0] * (size_t)(t->p[i].ndim == 2 ? t->p[i].shape[1] : 1);
        for (size_t k = 0; k < n; k++) {
            t->p[i].data[k] = value(i, k, seed);
            t->m[i][k] = value(i, k, seed + 1) * 0.5f;
            t->v[i][k] = value(i, k, seed + 2) * 0.25f + 2.0f;
        }
    }
    for (int k = 0; k < 24; k++) t->bank[k] = (uint16_t)(k * 997 + seed);
}

static void make_tiny(tiny *t, int seed) {
    memset(t, 0, sizeof *t);
    mm_config_default(&t->cfg);
    const char *sets[] = {"model.dim=16", "model.n_layers=2", "model.n_heads=4", "model.n_kv_heads=2",
                          "model.vocab_size=32", "model.max_seq_len=16", "train.batch_size=3"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        cr_assert_eq(mm_config_override(&t->cfg, sets[i], 0), 0, "%s", mm_error_message());
    cr_assert_eq(mm_config_finalize(&t->cfg, 0), 0, "%s", mm_error_message());
    const mm_model_config *c = &t->cfg.model;
    int hd = c->dim / c->n_heads;
    add(t, "tok_embeddings.weight", c->vocab_size, c->dim, NULL);
    char name[96];
    for (int l = 0; l < c->n_layers; l++) {
        snprintf(name, sizeof name, "layers.%d.attention.wq.weight", l);
        add(t, name, c->n_heads * hd, c->dim, NULL);
        snprintf(name, sizeof name, "layers.%d.attention.wk.weight", l);
        add(t, name, c->n_kv_heads * hd, c->dim, NULL);
        snprintf(name, sizeof name, "layers.%d.attention.wv.weight", l);
        add(t, name, c->n_kv_heads * hd, c->dim, NULL);
        snprintf(name, sizeof name, "layers.%d.attention.wo.weight", l);
        add(t, name, c->dim, c->n_heads * hd, NULL);
        snprintf(name, sizeof name, "layers.%d.attention_norm.weight", l);
        add(t, name, c->dim, 0, NULL);
        snprintf(name, sizeof name, "layers.%d.ffn_norm.weight", l);
        add(t, name, c->dim, 0, NULL);
        snprintf(name, sizeof name, "layers.%d.feed_forward.w1.weight", l);
        add(t, name, c->hidden_dim, c->dim, NULL);
        snprintf(name, sizeof name, "layers.%d.feed_forward.w2.weight", l);
        add(t, name, c->dim, c->hidden_dim, NULL);
        snprintf(name, sizeof name, "layers.%d.feed_forward.w3.weight", l);
        add(t, name, c->hidden_dim, c->dim, NULL);
    }
    add(t, "norm.weight", c->dim, 0, NULL);
    add(t, "output.weight", c->vocab_size, c->dim, t->p[0].data);  // tied
    t->extra = (mm_ckpt_extra){"knowledge_dataset.keys_u16", MM_U16, 2, {6, 4}, t->bank};
    fill(t, seed);
}

static void free_tiny(tiny *t) {
    for (int i = 0; i < t->n; i++)
        if (t->m[i]) {
            free(t->p[i].data);
            free(t->m[i]);
            free(t->v[i]);
        }
}

static size_t numel(const mm_named_tensor *p) {
    size_t n = 1;
    for (int d = 0; d < p->ndim; d++) n *= (size_t)p->shape[d];
    return n;
}

static void assert_same_weights(const tiny *a, const tiny *b) {
    for (int i = 0; i < a->n; i++)
        cr_assert_eq(memcmp(a->p[i].data, b->p[i].data, numel(&a->p[i]) * sizeof(float)), 0, "'%s' differs",
                     a->p[i].name);
    cr_assert_eq(memcmp(a->bank, b->bank, sizeof a->bank), 0, "memory bank differs");
}

static mm_resume_state resume_of(tiny *t) {
    static const uint8_t rng[] = {1, 2, 3, 250, 0, 9};
    static const char pos[] = "{\"shard\":3,\"offset\":123456}";
    mm_resume_state r = {0};
    r.step = 1234;
    r.epoch = 2;
    r.tokens_seen = 9876543210LL;
    r.adam_m = t->m;
    r.adam_v = t->v;
    r.rng = (uint8_t *)rng;
    r.rng_len = sizeof rng;
    r.data_pos = (uint8_t *)pos;
    r.data_pos_len = strlen(pos);
    return r;
}

static char *ckpt_path(const char *name) { return mm_test_path(g_dir, name); }

Test(checkpoint, names) {
    char buf[256];
    mm_model_config m;
    mm_model_config_default(&m);
    mm_checkpoint_default_name(&m, buf, sizeof buf);
    cr_assert_str_eq(buf, "pretrain_512.safetensors");
    cr_assert_eq(mm_checkpoint_state_path("out/x/pretrain_512.safetensors", buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "out/x/pretrain_512.state.safetensors");
    cr_assert_eq(mm_checkpoint_state_path("model.bin", buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "model.bin.state.safetensors");
    cr_assert_eq(mm_checkpoint_state_path("a.safetensors", buf, 8), -1);
}

Test(checkpoint, round_trip_weights_config_and_resume_state) {
    tiny a, b;
    make_tiny(&a, 1);
    make_tiny(&b, 2);
    char *path = ckpt_path("pretrain_16.safetensors");
    mm_resume_state r = resume_of(&a);
    cr_assert_eq(mm_checkpoint_save(path, &a.cfg, a.p, a.n, &a.extra, 1, &r), 0, "%s", mm_error_message());

    // eval's view: the configuration alone, from the header.
    mm_run_config cfg;
    cr_assert_eq(mm_checkpoint_read_config(path, &cfg), 0, "%s", mm_error_message());
    cr_assert_eq(mm_config_compare(&cfg, "checkpoint", &a.cfg, "saved", MM_CONFIG_ALL), 0, "%s", mm_error_message());

    mm_run_config loaded_cfg;
    cr_assert_eq(mm_checkpoint_load(path, b.p, b.n, &b.extra, 1, &loaded_cfg), 0, "%s", mm_error_message());
    assert_same_weights(&a, &b);
    cr_assert_eq(b.p[b.n - 1].data, b.p[0].data, "tie kept");
    cr_assert_eq(loaded_cfg.model.dim, 16);
    cr_assert_eq(loaded_cfg.train.batch_size, 3);

    mm_resume_state got = {0};
    got.adam_m = b.m;
    got.adam_v = b.v;
    mm_run_config state_cfg;
    cr_assert_eq(mm_checkpoint_load_resume(path, b.p, b.n, &got, &state_cfg), 0, "%s", mm_error_message());
    cr_assert_eq(got.step, 1234);
    cr_assert_eq(got.epoch, 2);
    cr_assert_eq(got.tokens_seen, 9876543210LL);
    cr_assert_eq(got.rng_len, r.rng_len);
    cr_assert_eq(memcmp(got.rng, r.rng, r.rng_len), 0);
    cr_assert_eq(got.data_pos_len, r.data_pos_len);
    cr_assert_eq(memcmp(got.data_pos, r.data_pos, r.data_pos_len), 0);
    cr_assert_eq(got.config_hash, mm_config_hash(&a.cfg, MM_CONFIG_ALL));
    cr_assert_eq(strlen(got.save_id), 32);
    cr_assert_eq(mm_config_compare(&state_cfg, "state", &a.cfg, "saved", MM_CONFIG_ALL), 0, "%s", mm_error_message());
    for (int i = 0; i < a.n; i++) {
        if (!a.m[i]) continue;
        size_t n = numel(&a.p[i]) * sizeof(float);
        cr_assert_eq(memcmp(a.m[i], b.m[i], n), 0, "adam_m of '%s'", a.p[i].name);
        cr_assert_eq(memcmp(a.v[i], b.v[i], n), 0, "adam_v of '%s'", a.p[i].name);
    }
    mm_resume_state_free_blobs(&got);
    cr_assert_null(got.rng);

    // Both files are safetensors with the documented names and metadata.
    mm_safetensors st;
    cr_assert_eq(mm_st_read_header(&st, path), 0);
    cr_assert_eq(st.n_tensors, a.n + 1);  // both tied names + the bank
    cr_assert_not_null(mm_st_find(&st, "output.weight"));
    cr_assert_str_eq(mm_st_get_meta(&st, "mm.kind"), "weights");
    cr_assert_str_eq(mm_st_get_meta(&st, "model.dim"), "16");
    cr_assert_str_eq(mm_st_get_meta(&st, "format"), "pt");
    char wid[33];
    snprintf(wid, sizeof wid, "%s", mm_st_get_meta(&st, "mm.save_id"));
    cr_assert_str_eq(wid, got.save_id);
    mm_st_free(&st);
    char *state = ckpt_path("pretrain_16.state.safetensors");
    cr_assert_eq(mm_st_read_header(&st, state), 0, "%s", mm_error_message());
    cr_assert_eq(st.n_tensors, 2 * (a.n - 1) + 2, "moments once per distinct parameter + rng + data_position");
    cr_assert_not_null(mm_st_find(&st, "adam_m.layers.1.feed_forward.w2.weight"));
    cr_assert_null(mm_st_find(&st, "adam_m.output.weight"));
    cr_assert_str_eq(mm_st_get_meta(&st, "mm.step"), "1234");
    mm_st_free(&st);
    free(state);
    free(path);
    free_tiny(&a);
    free_tiny(&b);
}

Test(checkpoint, pytorch_loads_our_checkpoint_with_strict_names) {
    MM_NEED_PYTHON("safetensors,torch");
    tiny a;
    make_tiny(&a, 5);
    char *path = ckpt_path("pretrain_16.safetensors");
    cr_assert_eq(mm_checkpoint_save(path, &a.cfg, a.p, a.n, NULL, 0, NULL), 0, "%s", mm_error_message());
    const mm_model_config *c = &a.cfg.model;
    char args[6][16];
    int vals[6] = {c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->hidden_dim};
    for (int i = 0; i < 6; i++) snprintf(args[i], sizeof args[i], "%d", vals[i]);
    const char *argv[] = {mm_test_python(), TORCH_SCRIPT, path, args[0], args[1], args[2], args[3], args[4], args[5], NULL};
    mm_proc_result res;
    cr_assert_eq(mm_test_run(argv, NULL, &res), 0);
    cr_assert_eq(res.status, 0, "PyTorch load_state_dict(strict=True) failed:\n%s", res.err);
    json_error_t jerr;
    json_t *root = json_loads(res.out, 0, &jerr);
    cr_assert_not_null(root, "%s", jerr.text);
    json_t *keys = json_object_get(root, "keys"), *shapes = json_object_get(root, "shapes"),
           *sums = json_object_get(root, "sums");
    cr_assert_eq(json_array_size(keys), (size_t)a.n, "PyTorch state_dict has %zu keys, we wrote %d",
                 json_array_size(keys), a.n);
    for (int i = 0; i < a.n; i++) {
        const mm_named_tensor *p = &a.p[i];
        json_t *shape = json_object_get(shapes, p->name);
        cr_assert_not_null(shape, "PyTorch state_dict lacks '%s'", p->name);
        cr_assert_eq(json_array_size(shape), (size_t)p->ndim);
        for (int d = 0; d < p->ndim; d++) cr_assert_eq(json_integer_value(json_array_get(shape, (size_t)d)), p->shape[d]);
        double want = 0;  // values are multiples of 1/8: exact in double
        for (size_t k = 0; k < numel(p); k++) want += p->data[k];
        cr_assert_eq(json_number_value(json_object_get(sums, p->name)), want, "'%s': torch sum %.17g, ours %.17g",
                     p->name, json_number_value(json_object_get(sums, p->name)), want);
    }
    cr_assert(json_is_true(json_object_get(root, "tied")), "output/tok_embeddings no longer tied in PyTorch");
    json_t *meta = json_object_get(root, "metadata");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "model.dim")), "16");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "model.model_type")), "model_original");
    json_decref(root);
    mm_proc_result_free(&res);

    // Same check with one parameter renamed: PyTorch's strict load must refuse it (the test can fail).
    snprintf(a.names[3], sizeof a.names[3], "layers.0.attention.wv_renamed.weight");
    cr_assert_eq(mm_checkpoint_save(path, &a.cfg, a.p, a.n, NULL, 0, NULL), 0, "%s", mm_error_message());
    cr_assert_eq(mm_test_run(argv, NULL, &res), 0);
    cr_assert_neq(res.status, 0, "PyTorch accepted a wrong name");
    cr_assert(strstr(res.err, "wv_renamed"), "%s", res.err);
    mm_proc_result_free(&res);
    free(path);
    free_tiny(&a);
}

Test(checkpoint, flag_mismatch_with_metadata_is_named) {
    tiny a;
    make_tiny(&a, 1);
    char *path = ckpt_path("p.safetensors");
    cr_assert_eq(mm_checkpoint_save(path, &a.cfg, a.p, a.n, NULL, 0, NULL), 0, "%s", mm_error_message());
    mm_run_config from_ckpt, flags = a.cfg;
    cr_assert_eq(mm_checkpoint_read_config(path, &from_ckpt), 0, "%s", mm_error_message());
    cr_assert_eq(mm_config_set(&flags, "model", "n_layers", "3", 0, "--n_layers"), 0);
    cr_assert_eq(mm_config_compare(&flags, "command line", &from_ckpt, path, MM_CONFIG_ARCH), -1);
    char want[4400];
    snprintf(want, sizeof want, "[model] n_layers differs: 3 (command line) vs 2 (%s)", path);
    cr_assert_str_eq(mm_error_message(), want);
    // A checkpoint without configuration metadata (cfg NULL) cannot supply one.
    cr_assert_eq(mm_checkpoint_save(path, NULL, a.p, a.n, NULL, 0, NULL), 0);
    cr_assert_eq(mm_checkpoint_read_config(path, &from_ckpt), -1);
    cr_assert(strstr(mm_error_message(), "metadata lacks 'model.model_type'"), "%s", mm_error_message());
    cr_assert_eq(mm_checkpoint_load(path, a.p, a.n, NULL, 0, &from_ckpt), -1);
    cr_assert_eq(mm_checkpoint_load(path, a.p, a.n, NULL, 0, NULL), 0, "weights alone still load: %s", mm_error_message());
    free(path);
    free_tiny(&a);
}

static void expect_load_error(const char *path, tiny *t, int n, const mm_ckpt_extra *ex, int n_ex, const char *want) {
    cr_assert_eq(mm_checkpoint_load(path, t->p, n, ex, n_ex, NULL), -1, "loaded despite: %s", want);
    char full[4400];
    snprintf(full, sizeof full, "%s: %s", path, want);
    cr_assert(strstr(mm_error_message(), full) != NULL, "\n got: %s\nwant: %s", mm_error_message(), full);
}

Test(checkpoint, strict_load_errors_name_the_tensor) {
    tiny a, b;
    make_tiny(&a, 1);
    make_tiny(&b, 2);
    char *path = ckpt_path("c.safetensors");
    cr_assert_eq(mm_checkpoint_save(path, &a.cfg, a.p, a.n, &a.extra, 1, NULL), 0, "%s", mm_error_message());

    // The file has the bank, the model does not expect it; then the model expects one more extra.
    expect_load_error(path, &b, b.n, NULL, 0, "unexpected tensor 'knowledge_dataset.keys_u16'");
    mm_ckpt_extra other = b.extra;
    other.name = "knowledge_dataset.values";
    mm_ckpt_extra two[2] = {b.extra, other};
    expect_load_error(path, &b, b.n, two, 2, "missing tensor 'knowledge_dataset.values'");
    // Extra dtype/shape mismatch.
    mm_ckpt_extra wrong = b.extra;
    wrong.dtype = MM_I32;
    expect_load_error(path, &b, b.n, &wrong, 1, "tensor 'knowledge_dataset.keys_u16': dtype U16 in the file, the model expects I32");
    wrong = b.extra;
    wrong.shape[0] = 4;
    wrong.shape[1] = 6;
    expect_load_error(path, &b, b.n, &wrong, 1, "tensor 'knowledge_dataset.keys_u16': shape [6, 4] in the file, the model expects [4, 6]");

    // Parameter shape mismatch (a model built with other dimensions).
    int64_t keep = b.p[1].shape[0];
    b.p[1].shape[0] = 8;
    expect_load_error(path, &b, b.n, &b.extra, 1,
                      "tensor 'layers.0.attention.wq.weight': shape [16, 16] in the file, the model expects [8, 16]");
    b.p[1].shape[0] = keep;
    // The model has a parameter the file lacks.
    cr_assert_eq(mm_checkpoint_save(path, &a.cfg, a.p + 1, a.n - 2, &a.extra, 1, NULL), 0, "%s", mm_error_message());
    expect_load_error(path, &b, b.n, &b.extra, 1, "missing tensor 'tok_embeddings.weight'");
    // The file has a parameter the model lacks (strict).
    cr_assert_eq(mm_checkpoint_save(path, &a.cfg, a.p, a.n, &a.extra, 1, NULL), 0);
    expect_load_error(path, &b, b.n - 2, &b.extra, 1, "unexpected tensor 'norm.weight'");
    // A parameter stored with another dtype.
    mm_safetensors st;
    mm_st_init(&st);
    for (int i = 0; i < a.n; i++)
        cr_assert_eq(mm_st_add(&st, a.p[i].name, i == a.n - 2 ? MM_I32 : MM_F32, a.p[i].ndim, a.p[i].shape, a.p[i].data), 0);
    cr_assert_eq(mm_st_write(&st, path), 0);
    mm_st_free(&st);
    expect_load_error(path, &b, b.n, NULL, 0, "tensor 'norm.weight': dtype I32 in the file, the model expects F32");
    // A corrupt file: the safetensors reader's error, naming the file.
    cr_assert_eq(truncate(path, 100), 0);
    cr_assert_eq(mm_checkpoint_load(path, b.p, b.n, NULL, 0, NULL), -1);
    cr_assert(strstr(mm_error_message(), path) && strstr(mm_error_message(), "exceeds the file size"), "%s", mm_error_message());

    // None of the failed loads wrote into the model.
    tiny fresh;
    make_tiny(&fresh, 2);
    assert_same_weights(&fresh, &b);
    free_tiny(&fresh);
    free(path);
    free_tiny(&a);
    free_tiny(&b);
}

Test(checkpoint, tied_weights) {
    tiny a, b;
    make_tiny(&a, 1);
    make_tiny(&b, 2);
    char *path = ckpt_path("t.safetensors");
    // The two copies in the file disagree: refused, naming both.
    float *other = malloc(numel(&a.p[0]) * sizeof(float));
    memcpy(other, a.p[0].data, numel(&a.p[0]) * sizeof(float));
    other[5] += 1.0f;
    mm_safetensors st;
    mm_st_init(&st);
    for (int i = 0; i < a.n; i++)
        cr_assert_eq(mm_st_add(&st, a.p[i].name, MM_F32, a.p[i].ndim, a.p[i].shape, i == a.n - 1 ? other : a.p[i].data), 0);
    cr_assert_eq(mm_st_write(&st, path), 0);
    mm_st_free(&st);
    expect_load_error(path, &b, b.n, NULL, 0, "tensor 'output.weight' differs from 'tok_embeddings.weight', to which it is tied");
    // A file with only the first name (as safetensors' save_model dedups) fills the alias too.
    cr_assert_eq(mm_checkpoint_save(path, &a.cfg, a.p, a.n - 1, NULL, 0, NULL), 0);
    cr_assert_eq(mm_checkpoint_load(path, b.p, b.n, NULL, 0, NULL), 0, "%s", mm_error_message());
    cr_assert_eq(memcmp(b.p[b.n - 1].data, a.p[0].data, numel(&a.p[0]) * sizeof(float)), 0);
    // Saving a tie whose shapes disagree is refused.
    a.p[a.n - 1].shape[0] = 8;
    cr_assert_eq(mm_checkpoint_save(path, &a.cfg, a.p, a.n, NULL, 0, NULL), -1);
    cr_assert(strstr(mm_error_message(), "parameter 'output.weight' [8, 16] shares its data with 'tok_embeddings.weight' [32, 16] but not its shape"),
              "%s", mm_error_message());
    free(other);
    free(path);
    free_tiny(&a);
    free_tiny(&b);
}

Test(checkpoint, resume_pair_must_come_from_one_save) {
    tiny a, b;
    make_tiny(&a, 1);
    make_tiny(&b, 2);
    char *p1 = ckpt_path("one.safetensors"), *p2 = ckpt_path("two.safetensors");
    mm_resume_state r = resume_of(&a);
    cr_assert_eq(mm_checkpoint_save(p1, &a.cfg, a.p, a.n, NULL, 0, &r), 0, "%s", mm_error_message());
    cr_assert_eq(mm_checkpoint_save(p2, &a.cfg, a.p, a.n, NULL, 0, &r), 0, "%s", mm_error_message());
    // Mix the pair: weights of one save, state of another.
    char s1[4200], s2[4200];
    cr_assert_eq(mm_checkpoint_state_path(p1, s1, sizeof s1), 0);
    cr_assert_eq(mm_checkpoint_state_path(p2, s2, sizeof s2), 0);
    cr_assert_eq(rename(s2, s1), 0);
    mm_resume_state got = {0};
    got.adam_m = b.m;
    got.adam_v = b.v;
    cr_assert_eq(mm_checkpoint_load_resume(p1, b.p, b.n, &got, NULL), -1);
    cr_assert(strstr(mm_error_message(), "resume state belongs to a different save than"), "%s", mm_error_message());
    cr_assert(strstr(mm_error_message(), s1), "%s", mm_error_message());
    // A later weights-only save leaves the old state file stale: detected too.
    cr_assert_eq(mm_checkpoint_save(p2, &a.cfg, a.p, a.n, NULL, 0, &r), 0);
    cr_assert_eq(mm_checkpoint_load_resume(p2, b.p, b.n, &got, NULL), 0, "%s", mm_error_message());
    mm_resume_state_free_blobs(&got);
    cr_assert_eq(mm_checkpoint_save(p2, &a.cfg, a.p, a.n, NULL, 0, NULL), 0);
    cr_assert_eq(mm_checkpoint_load_resume(p2, b.p, b.n, &got, NULL), -1);
    cr_assert(strstr(mm_error_message(), "different save"), "%s", mm_error_message());
    // No state file at all.
    cr_assert_eq(unlink(s2), 0);
    cr_assert_eq(mm_checkpoint_load_resume(p2, b.p, b.n, &got, NULL), -1);
    cr_assert(strstr(mm_error_message(), s2) && strstr(mm_error_message(), "cannot open"), "%s", mm_error_message());
    // Moments asked for but absent / present but not asked for.
    mm_resume_state nom = resume_of(&a);
    nom.adam_m = nom.adam_v = NULL;
    cr_assert_eq(mm_checkpoint_save(p2, &a.cfg, a.p, a.n, NULL, 0, &nom), 0);
    cr_assert_eq(mm_checkpoint_load_resume(p2, b.p, b.n, &got, NULL), -1);
    cr_assert(strstr(mm_error_message(), "missing tensor 'adam_m.tok_embeddings.weight'"), "%s", mm_error_message());
    cr_assert_eq(mm_checkpoint_save(p2, &a.cfg, a.p, a.n, NULL, 0, &r), 0);
    mm_resume_state nomom = {0};
    cr_assert_eq(mm_checkpoint_load_resume(p2, b.p, b.n, &nomom, NULL), -1);
    cr_assert(strstr(mm_error_message(), "unexpected tensor 'adam_m.tok_embeddings.weight'"), "%s", mm_error_message());
    // A model with another shape: the moment's error names it.
    b.p[2].shape[0] = 4;
    cr_assert_eq(mm_checkpoint_load_resume(p2, b.p, b.n, &got, NULL), -1);
    cr_assert(strstr(mm_error_message(), "tensor 'adam_m.layers.0.attention.wk.weight': shape [8, 16] in the file, the model expects [4, 16]"),
              "%s", mm_error_message());
    free(p1);
    free(p2);
    free_tiny(&a);
    free_tiny(&b);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

Test(checkpoint, failed_save_keeps_the_previous_checkpoint) {
    tiny a, b, c;
    make_tiny(&a, 1);
    make_tiny(&b, 2);
    make_tiny(&c, 3);
    char *path = ckpt_path("pretrain_16.safetensors");
    mm_resume_state r = resume_of(&a);
    cr_assert_eq(mm_checkpoint_save(path, &a.cfg, a.p, a.n, &a.extra, 1, &r), 0, "%s", mm_error_message());
    cr_assert_eq(count_entries(g_dir), 2);

    // A save that fails half-way through writing (file size limit: EFBIG on write).
    struct rlimit old, small;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 4096;  // the checkpoint is ~60 KB
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    mm_resume_state rb = resume_of(&b);
    int rc = mm_checkpoint_save(path, &b.cfg, b.p, b.n, &b.extra, 1, &rb);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    cr_assert_eq(rc, -1, "save under a 4 KB file size limit succeeded");
    cr_assert(strstr(mm_error_message(), path), "%s", mm_error_message());
    cr_assert_eq(count_entries(g_dir), 2, "temporary files left behind");
    // The previous pair is intact and still consistent.
    cr_assert_eq(mm_checkpoint_load(path, c.p, c.n, &c.extra, 1, NULL), 0, "%s", mm_error_message());
    assert_same_weights(&a, &c);
    mm_resume_state got = {0};
    got.adam_m = c.m;
    got.adam_v = c.v;
    cr_assert_eq(mm_checkpoint_load_resume(path, c.p, c.n, &got, NULL), 0, "%s", mm_error_message());
    mm_resume_state_free_blobs(&got);

    // A save refused by validation writes nothing either.
    float *keep = b.p[3].data;
    b.p[3].data = NULL;
    cr_assert_eq(mm_checkpoint_save(path, &b.cfg, b.p, b.n, NULL, 0, NULL), -1);
    cr_assert(strstr(mm_error_message(), "parameter 'layers.0.attention.wv.weight' has no data"), "%s", mm_error_message());
    b.p[3].data = keep;
    cr_assert_eq(mm_checkpoint_load(path, c.p, c.n, &c.extra, 1, NULL), 0, "%s", mm_error_message());
    assert_same_weights(&a, &c);
    free(path);
    free_tiny(&a);
    free_tiny(&b);
    free_tiny(&c);
}
