// Run configuration: defaults, INI parsing with FILE:LINE errors, --set overrides, config.ini
// round trip, checkpoint metadata form, comparison.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/config.h"
#include "minimind/error.h"
#include "test_util.h"

static char *g_dir;

static void setup(void) { g_dir = mm_test_tmpdir("cfg"); }
static void teardown(void) {
    mm_test_rmtree(g_dir);
    free(g_dir);
}

TestSuite(config, .init = setup, .fini = teardown);

// Writes text to DIR/name and returns the path (malloc'd).
static char *write_ini(const char *name, const char *text) {
    char *path = mm_test_path(g_dir, name);
    mm_test_write_file(path, text, strlen(text));
    return path;
}

// Loads text from a real file and expects exactly "PATH:LINE: what" (what as a prefix of the rest).
static void expect_load_error(const char *text, int line, const char *what) {
    char *path = write_ini("bad.ini", text);
    mm_run_config c;
    mm_config_default(&c);
    cr_assert_eq(mm_config_load(&c, path, MM_CONFIG_CHECK_PATHS), -1, "accepted:\n%s", text);
    char want[8192];
    snprintf(want, sizeof want, "%s:%d: %s", path, line, what);
    cr_assert_eq(strncmp(mm_error_message(), want, strlen(want)), 0, "\n got: %s\nwant: %s...", mm_error_message(),
                 want);
    free(path);
}

Test(config, defaults_equal_the_original) {
    mm_run_config c;
    mm_config_default(&c);
    cr_assert_eq(c.model.model_type, MM_MODEL_ORIGINAL);
    cr_assert(c.model.dim == 512 && c.model.n_layers == 8 && c.model.n_heads == 8 && c.model.n_kv_heads == 2);
    cr_assert(c.model.vocab_size == 6400 && c.model.multiple_of == 64 && c.model.max_seq_len == 512);
    cr_assert(c.model.norm_eps == 1e-5f && c.model.rope_theta == 1e6f && c.model.dropout == 0.0f);
    cr_assert(c.model.knowledge_num == 1024 * 1024 && c.model.knowledge_length == 32 && c.model.knowledge_dim == 128);
    cr_assert(c.knowledge.num_candidates == 16 && c.knowledge.memory_select == MM_MEMORY_SELECT_SOFTMAX);
    cr_assert_str_empty(c.knowledge.database_init_path);
    cr_assert_str_empty(c.data.data_path);
    const mm_train_config *t = &c.train;
    cr_assert(t->epochs == 1 && t->batch_size == 32 && t->accumulation_steps == 8 && t->warmup_iters == 0);
    cr_assert(t->learning_rate == 5e-4 && t->weight_decay == 0.01 && t->beta1 == 0.9 && t->beta2 == 0.999);
    cr_assert(t->adam_eps == 1e-8 && t->grad_clip == 1.0 && t->seed == 42);
    cr_assert(t->log_interval == 100 && t->save_interval == 100 && t->threads == 0 && t->max_steps == 0);
    cr_assert_str_eq(t->mixed_precision, "bf16");
    cr_assert_str_eq(t->device, "auto");
    cr_assert(c.eval.num_samples == 10 && c.eval.prompt_tokens == 30 && c.eval.max_new_tokens == 100);
    cr_assert(c.eval.temperature == 0.85 && c.eval.top_p == 0.85);
    cr_assert_eq(c.model.hidden_dim, 0);
    cr_assert_eq(mm_config_finalize(&c, 0), 0, "%s", mm_error_message());
    cr_assert_eq(c.model.hidden_dim, 1408, "SwiGLU hidden at dim 512");
    // Without data_path, a training configuration is incomplete.
    cr_assert_eq(mm_config_finalize(&c, MM_CONFIG_FOR_TRAINING), -1);
    cr_assert_str_eq(mm_error_message(), "configuration: key 'data_path' in section [data] is required for training (not set)");
}

Test(config, parses_a_file_with_comments_and_all_sections) {
    char *data = write_ini("data.bin", "x");
    char text[4096];
    snprintf(text, sizeof text,
             "; experiment 1.2.3\n"
             "# comment\n"
             "[model]\n"
             "model_type = model\n"
             "dim = 256   ; inline comment\n"
             "n_layers: 4\n"
             "norm_eps = 1e-6\n"
             "\n"
             "[knowledge]\n"
             "knowledge_num = 65536\n"
             "memory_select = gumbel\n"
             "cluster_cache_path = does/not/exist/yet.pt\n"
             "[data]\n"
             "data_path = %s\n"
             "[train]\n"
             "learning_rate = 2e-4\n"
             "mixed_precision = fp32\n"
             "device = cuda:1\n"
             "seed = 1234567890123\n"
             "[eval]\n"
             "temperature = 0\n",
             data);
    char *path = write_ini("ok.ini", text);
    mm_run_config c;
    mm_config_default(&c);
    cr_assert_eq(mm_config_load(&c, path, MM_CONFIG_CHECK_PATHS), 0, "%s", mm_error_message());
    cr_assert_eq(mm_config_finalize(&c, MM_CONFIG_FOR_TRAINING), 0, "%s", mm_error_message());
    cr_assert_eq(c.model.model_type, MM_MODEL_MEMORY);
    cr_assert_eq(c.model.dim, 256);
    cr_assert_eq(c.model.n_layers, 4);
    cr_assert_eq(c.model.norm_eps, 1e-6f);
    cr_assert_eq(c.model.hidden_dim, 704);  // 64 * ceil(int(2*4*256/3) / 64) = 64 * ceil(682/64)
    cr_assert_eq(c.model.knowledge_num, 65536);
    cr_assert_eq(c.knowledge.memory_select, MM_MEMORY_SELECT_GUMBEL);
    cr_assert_str_eq(c.knowledge.cluster_cache_path, "does/not/exist/yet.pt");
    cr_assert_str_eq(c.data.data_path, data);
    cr_assert_eq(c.train.learning_rate, 2e-4);
    cr_assert_str_eq(c.train.mixed_precision, "fp32");
    cr_assert_str_eq(c.train.device, "cuda:1");
    cr_assert_eq(c.train.seed, 1234567890123LL);
    cr_assert_eq(c.eval.temperature, 0.0);
    cr_assert_eq(c.train.batch_size, 32, "unset keys keep their defaults");
    cr_assert_str_eq(c.source, path);
    free(path);
    free(data);
}

Test(config, every_error_names_file_and_line) {
    expect_load_error("[model]\ndim = 64\n[trian]\nepochs = 2\n", 3,
                      "unknown section [trian] (expected [model], [data], [knowledge], [train] or [eval])");
    expect_load_error("[model]\ndim = 64\n\n[foo]\n", 4, "unknown section [foo]");  // empty section
    expect_load_error("[train]\nepochs = 2\nfoo = 1\n", 3, "unknown key 'foo' in section [train]");
    expect_load_error("[model]\ndim = 12x\n", 2, "key 'dim' in section [model]: '12x' is not an integer");
    expect_load_error("[model]\ndim =\n", 2, "key 'dim' in section [model]: '' is not an integer");
    expect_load_error("[model]\ndim = 12.0\n", 2, "key 'dim' in section [model]: '12.0' is not an integer");
    expect_load_error("[train]\n\nbatch_size = 0\n", 3, "key 'batch_size' in section [train]: 0 is out of range [1, 1048576]");
    expect_load_error("[model]\ndim = 99999999999999999999999\n", 2,
                      "key 'dim' in section [model]: 99999999999999999999999 is out of range [1, 65536]");
    expect_load_error("[train]\nlearning_rate = 1e-3x\n", 2, "key 'learning_rate' in section [train]: '1e-3x' is not a number");
    expect_load_error("[train]\nbeta1 = 1\n", 2, "key 'beta1' in section [train]: 1 is out of range [0, 1)");
    expect_load_error("[train]\nadam_eps = nan\n", 2, "key 'adam_eps' in section [train]: nan is out of range (0, 1]");
    expect_load_error("[model]\nnorm_eps = 1e-60\n", 2, "key 'norm_eps' in section [model]: 1e-60 is out of range (0, 1]");
    expect_load_error("[model]\nmodel_type = transformer\n", 2,
                      "key 'model_type' in section [model]: 'transformer' is not one of model_original, model, model_no_feed");
    expect_load_error("[knowledge]\nmemory_select = topk\n", 2,
                      "key 'memory_select' in section [knowledge]: 'topk' is not one of softmax, gumbel");
    expect_load_error("[train]\nmixed_precision = fp8\n", 2,
                      "key 'mixed_precision' in section [train]: 'fp8' is not one of fp32, bf16, fp16");
    expect_load_error("[train]\ndevice = gpu\n", 2, "key 'device' in section [train]: 'gpu' is not one of auto, cpu, cuda, cuda:N");
    expect_load_error("[model]\ndim = 64\ndim = 128\n", 3, "key 'dim' in section [model] set twice (first on line 2)");
    expect_load_error("[model]\ndim 512\nn_layers = 2\n", 2, "syntax error");
    expect_load_error("[model\ndim = 5\n", 1, "syntax error");
    expect_load_error("dim = 5\n[model]\n", 1, "key 'dim' outside any section");
    expect_load_error("[data]\ndata_path = /nonexistent/dir/train.bin\n", 2,
                      "key 'data_path' in section [data]: path '/nonexistent/dir/train.bin' does not exist");
    expect_load_error("[knowledge]\ndatabase_init_path = no_such_file.json\n", 2,
                      "key 'database_init_path' in section [knowledge]: path 'no_such_file.json' does not exist");

    // A 300-byte line: inih would cut it at 200 bytes; we reject it with its line number.
    char text[1024];
    char long_value[301];
    memset(long_value, 'x', 300);
    long_value[300] = '\0';
    snprintf(text, sizeof text, "[data]\n\ndata_path = %s\n", long_value);
    expect_load_error(text, 3, "line longer than 199 bytes (inih's line limit)");
    // The same for a long comment line, and the last line without a newline.
    snprintf(text, sizeof text, "[model]\n# %s\ndim = 64\n", long_value);
    expect_load_error(text, 2, "line longer than 199 bytes");
    snprintf(text, sizeof text, "[model]\n# %s", long_value);
    expect_load_error(text, 2, "line longer than 199 bytes");
    // A line of exactly 199 bytes (+ newline) is fine and line counting stays right after it.
    char c199[200];
    memset(c199, 'y', 199);
    c199[0] = '#';
    c199[199] = '\0';
    snprintf(text, sizeof text, "[model]\n%s\n%s\nbogus = 1\n", c199, c199);
    expect_load_error(text, 4, "unknown key 'bogus' in section [model]");
}

Test(config, missing_file_and_finalize_errors_name_the_file) {
    char *missing = mm_test_path(g_dir, "missing.ini");
    mm_run_config c;
    mm_config_default(&c);
    cr_assert_eq(mm_config_load(&c, missing, 0), -1);
    cr_assert(strstr(mm_error_message(), missing) && strstr(mm_error_message(), "cannot open"), "%s", mm_error_message());
    free(missing);

    char *path = write_ini("t.ini", "[model]\ndim = 100\n");
    mm_config_default(&c);
    cr_assert_eq(mm_config_load(&c, path, 0), 0, "%s", mm_error_message());
    cr_assert_eq(mm_config_finalize(&c, 0), -1);
    char want[4200];
    snprintf(want, sizeof want, "%s: model config: 'dim' (100) must be divisible by 'n_heads' (8)", path);
    cr_assert_str_eq(mm_error_message(), want);
    free(path);

    path = write_ini("t2.ini", "[train]\nepochs = 3\n");
    mm_config_default(&c);
    cr_assert_eq(mm_config_load(&c, path, MM_CONFIG_CHECK_PATHS), 0, "%s", mm_error_message());
    cr_assert_eq(mm_config_finalize(&c, MM_CONFIG_FOR_TRAINING), -1);
    snprintf(want, sizeof want, "%s: key 'data_path' in section [data] is required for training (not set)", path);
    cr_assert_str_eq(mm_error_message(), want);
    // An override can supply it.
    char *data = write_ini("train.bin", "x");
    char set[4200];
    snprintf(set, sizeof set, "data.data_path=%s", data);
    cr_assert_eq(mm_config_override(&c, set, MM_CONFIG_CHECK_PATHS), 0, "%s", mm_error_message());
    cr_assert_eq(mm_config_finalize(&c, MM_CONFIG_FOR_TRAINING), 0, "%s", mm_error_message());
    free(data);
    free(path);
}

Test(config, overrides) {
    mm_run_config c;
    mm_config_default(&c);
    cr_assert_eq(mm_config_override(&c, "train.batch_size=16", 0), 0, "%s", mm_error_message());
    cr_assert_eq(c.train.batch_size, 16);
    cr_assert_eq(mm_config_override(&c, "model.model_type=model_no_feed", 0), 0);
    cr_assert_eq(c.model.model_type, MM_MODEL_NO_FEED);
    cr_assert_eq(mm_config_override(&c, "train.learning_rate=3e-4", 0), 0);
    cr_assert_eq(c.train.learning_rate, 3e-4);
    cr_assert_eq(mm_config_override(&c, "data.data_path=a=b.bin", 0), 0, "the value may contain '='");
    cr_assert_str_eq(c.data.data_path, "a=b.bin");

    struct {
        const char *arg, *want;
    } bad[] = {
        {"train.batch_size=12x", "--set train.batch_size=12x: key 'batch_size' in section [train]: '12x' is not an integer"},
        {"train.batch_size=-1", "--set train.batch_size=-1: key 'batch_size' in section [train]: -1 is out of range [1, 1048576]"},
        {"trian.epochs=1", "--set trian.epochs=1: unknown section [trian]"},
        {"train.epoch=1", "--set train.epoch=1: unknown key 'epoch' in section [train]"},
        {"batch_size=1", "--set batch_size=1: expected SECTION.KEY=VALUE"},
        {"train.batch_size", "--set train.batch_size: expected SECTION.KEY=VALUE"},
        {".x=1", "--set .x=1: expected SECTION.KEY=VALUE"},
        {"eval.top_p=0", "--set eval.top_p=0: key 'top_p' in section [eval]: 0 is out of range (0, 1]"},
        {"data.data_path=/no/such/file", "--set data.data_path=/no/such/file: key 'data_path' in section [data]: path '/no/such/file' does not exist"},
        {"data.tokenizer_path=a ;b", "--set data.tokenizer_path=a ;b: key 'tokenizer_path' in section [data]: value contains ' ;'"},
        {"data.tokenizer_path= a", "--set data.tokenizer_path= a: key 'tokenizer_path' in section [data]: value ' a' has leading or trailing spaces"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mm_run_config before = c;
        cr_assert_eq(mm_config_override(&c, bad[i].arg, MM_CONFIG_CHECK_PATHS), -1, "accepted %s", bad[i].arg);
        cr_assert_eq(strncmp(mm_error_message(), bad[i].want, strlen(bad[i].want)), 0, "\n got: %s\nwant: %s",
                     mm_error_message(), bad[i].want);
        cr_assert_eq(memcmp(&before, &c, sizeof c), 0, "a rejected override changed the configuration (%s)", bad[i].arg);
    }
    // A path too long for an INI line is refused when set, not when config.ini is written.
    char arg[400] = "data.data_path=";
    memset(arg + strlen(arg), 'p', 250);
    cr_assert_eq(mm_config_override(&c, arg, 0), -1);
    cr_assert(strstr(mm_error_message(), "longer than an INI line allows"), "%s", mm_error_message());
    // mm_config_set names its origin.
    cr_assert_eq(mm_config_set(&c, "model", "dim", "abc", 0, "--dim"), -1);
    cr_assert_str_eq(mm_error_message(), "--dim: key 'dim' in section [model]: 'abc' is not an integer");
}

// A configuration where every key differs from the default (so the round trip covers all keys).
static void make_nondefault(mm_run_config *c) {
    char *data = write_ini("d.bin", "d"), *tok = write_ini("tokenizer.json", "{}"), *ev = write_ini("e.jsonl", "");
    char *db = write_ini("db.json", "[]");
    const char *sets[] = {
        "model.model_type=model",
        "model.dim=96",
        "model.n_layers=3",
        "model.n_heads=6",
        "model.n_kv_heads=3",
        "model.vocab_size=1000",
        "model.hidden_dim=200",
        "model.multiple_of=32",
        "model.norm_eps=1.5e-6",
        "model.rope_theta=10000.5",
        "model.max_seq_len=77",
        "knowledge.knowledge_num=4096",
        "knowledge.knowledge_length=8",
        "knowledge.knowledge_dim=24",
        "knowledge.num_candidates=9",
        "knowledge.memory_select=gumbel",
        "knowledge.cluster_cache_path=cache/c.pt",
        "knowledge.memory_update=ema",
        "knowledge.ema_update_freq=7",
        "knowledge.ema_decay=0.75",
        "knowledge.freeze_ratio=0.2",
        "train.epochs=3",
        "train.batch_size=5",
        "train.accumulation_steps=2",
        "train.learning_rate=0.1",
        "train.warmup_iters=7",
        "train.weight_decay=0.3",
        "train.beta1=0.85",
        "train.beta2=0.95",
        "train.adam_eps=1e-7",
        "train.grad_clip=0.7",
        "train.seed=9007199254740993",
        "train.log_interval=3",
        "train.save_interval=11",
        "train.mixed_precision=fp16",
        "train.device=cpu",
        "train.threads=2",
        "train.max_steps=123",
        "train.eval_interval=6",
        "train.eval_samples=3",
        "eval.num_samples=4",
        "eval.prompt_tokens=12",
        "eval.max_new_tokens=33",
        "eval.temperature=0.3",
        "eval.top_p=0.95",
        "eval.facts_max=5",
        "eval.bank_ablation=shuffle",
        "eval.retrieval=on",
    };
    mm_config_default(c);
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        cr_assert_eq(mm_config_override(c, sets[i], MM_CONFIG_CHECK_PATHS), 0, "%s", mm_error_message());
    cr_assert_eq(mm_config_set(c, "data", "data_path", data, MM_CONFIG_CHECK_PATHS, "t"), 0);
    cr_assert_eq(mm_config_set(c, "data", "tokenizer_path", tok, MM_CONFIG_CHECK_PATHS, "t"), 0);
    cr_assert_eq(mm_config_set(c, "data", "eval_data_path", ev, MM_CONFIG_CHECK_PATHS, "t"), 0);
    cr_assert_eq(mm_config_set(c, "knowledge", "database_init_path", db, MM_CONFIG_CHECK_PATHS, "t"), 0);
    cr_assert_eq(mm_config_set(c, "eval", "facts_path", ev, MM_CONFIG_CHECK_PATHS, "t"), 0);
    free(data);
    free(tok);
    free(ev);
    free(db);
    cr_assert_eq(mm_config_finalize(c, MM_CONFIG_FOR_TRAINING), 0, "%s", mm_error_message());
    // Every key really differs from its default (except dropout).
    mm_run_config d;
    mm_config_default(&d);
    for (int i = 0; i < mm_config_key_count(); i++) {
        const char *s, *k;
        char a[256], b[256];
        mm_config_key_at(i, &s, &k);
        if (!strcmp(k, "dropout")) continue;  // must stay 0 (not implemented)
        cr_assert_eq(mm_config_get(c, s, k, a, sizeof a), 0);
        cr_assert_eq(mm_config_get(&d, s, k, b, sizeof b), 0);
        cr_assert_str_neq(a, b, "[%s] %s not exercised by the round trip", s, k);
    }
}

static void assert_same(const mm_run_config *a, const mm_run_config *b) {
    cr_assert_eq(memcmp(&a->model, &b->model, sizeof a->model), 0, "[model] differs");
    cr_assert_eq(memcmp(&a->data, &b->data, sizeof a->data), 0, "[data] differs");
    cr_assert_eq(memcmp(&a->knowledge, &b->knowledge, sizeof a->knowledge), 0, "[knowledge] differs");
    cr_assert_eq(memcmp(&a->train, &b->train, sizeof a->train), 0, "[train] differs");
    cr_assert_eq(memcmp(&a->eval, &b->eval, sizeof a->eval), 0, "[eval] differs");
    cr_assert_eq(mm_config_compare(a, "a", b, "b", MM_CONFIG_ALL), 0, "%s", mm_error_message());
}

Test(config, config_ini_round_trip) {
    mm_run_config a, b;
    make_nondefault(&a);
    char *path = mm_test_path(g_dir, "config.ini");
    cr_assert_eq(mm_config_write(&a, path), 0, "%s", mm_error_message());
    mm_config_default(&b);
    cr_assert_eq(mm_config_load(&b, path, MM_CONFIG_CHECK_PATHS), 0, "%s", mm_error_message());
    cr_assert_eq(mm_config_finalize(&b, MM_CONFIG_FOR_TRAINING), 0, "%s", mm_error_message());
    assert_same(&a, &b);
    // The file lists every key once.
    size_t len;
    char *text = mm_read_file(path, &len);
    int lines = 0;
    for (char *p = text; (p = strstr(p, " = ")) != NULL; p += 3) lines++;
    cr_assert_eq(lines, mm_config_key_count());
    cr_assert(strstr(text, "[model]\nmodel_type = model\ndim = 96\n"), "%s", text);
    cr_assert(strstr(text, "learning_rate = 0.1\n"), "shortest round-trip form expected:\n%s", text);
    cr_assert(strstr(text, "cluster_cache_path = cache/c.pt\n"), "%s", text);
    free(text);
    // Defaults round trip too (hidden_dim resolved to 1408 and written out).
    mm_config_default(&a);
    cr_assert_eq(mm_config_finalize(&a, 0), 0);
    cr_assert_eq(mm_config_write(&a, path), 0, "%s", mm_error_message());
    mm_config_default(&b);
    b.train.batch_size = 1;  // overwritten by the file
    cr_assert_eq(mm_config_load(&b, path, MM_CONFIG_CHECK_PATHS), 0, "%s", mm_error_message());
    cr_assert_eq(b.model.hidden_dim, 1408);
    assert_same(&a, &b);
    free(path);
}

Test(config, metadata_round_trip_and_errors) {
    mm_run_config a, b;
    make_nondefault(&a);
    mm_safetensors st;
    mm_st_init(&st);
    cr_assert_eq(mm_st_set_meta(&st, "format", "pt"), 0);
    cr_assert_eq(mm_config_to_meta(&a, &st), 0);
    cr_assert_str_eq(mm_st_get_meta(&st, "model.dim"), "96");
    cr_assert_str_eq(mm_st_get_meta(&st, "model.model_type"), "model");
    cr_assert_str_eq(mm_st_get_meta(&st, "train.seed"), "9007199254740993");
    cr_assert_eq(st.n_meta, 1 + mm_config_key_count());
    cr_assert_eq(mm_config_from_meta(&b, &st, "ckpt.safetensors"), 0, "%s", mm_error_message());
    assert_same(&a, &b);

    cr_assert_eq(mm_st_set_meta(&st, "model.dim", "9x"), 0);
    cr_assert_eq(mm_config_from_meta(&b, &st, "ckpt.safetensors"), -1);
    cr_assert_str_eq(mm_error_message(), "ckpt.safetensors: metadata 'model.dim': key 'dim' in section [model]: '9x' is not an integer");
    cr_assert_eq(mm_st_set_meta(&st, "model.dim", "100"), 0);
    cr_assert_eq(mm_config_from_meta(&b, &st, "ckpt.safetensors"), -1);
    cr_assert(strstr(mm_error_message(), "ckpt.safetensors: metadata: model config: 'dim' (100)"), "%s", mm_error_message());
    cr_assert_eq(mm_st_set_meta(&st, "model.dim", "96"), 0);
    cr_assert_eq(mm_st_set_meta(&st, "model.flash_attn", "1"), 0);
    cr_assert_eq(mm_config_from_meta(&b, &st, "ckpt.safetensors"), -1);
    cr_assert_str_eq(mm_error_message(), "ckpt.safetensors: metadata 'model.flash_attn': unknown key 'flash_attn' in section [model]");
    mm_st_free(&st);

    // A metadata set without the model keys is not a minimind checkpoint.
    mm_st_init(&st);
    cr_assert_eq(mm_st_set_meta(&st, "format", "pt"), 0);
    cr_assert_eq(mm_st_set_meta(&st, "train.epochs", "2"), 0);
    cr_assert_eq(mm_config_from_meta(&b, &st, "x.safetensors"), -1);
    cr_assert_str_eq(mm_error_message(), "x.safetensors: metadata lacks 'model.model_type' (not a minimind checkpoint?)");
    mm_st_free(&st);
}

Test(config, compare_names_the_differing_field_and_hash) {
    mm_run_config flags, ckpt;
    mm_config_default(&ckpt);
    cr_assert_eq(mm_config_finalize(&ckpt, 0), 0);
    flags = ckpt;
    cr_assert_eq(mm_config_compare(&flags, "command line", &ckpt, "pretrain_512.safetensors", MM_CONFIG_ALL), 0);
    uint64_t h_arch = mm_config_hash(&ckpt, MM_CONFIG_ARCH), h_all = mm_config_hash(&ckpt, MM_CONFIG_ALL);
    flags.train.learning_rate = 1e-3;
    cr_assert_eq(mm_config_compare(&flags, "command line", &ckpt, "ckpt", MM_CONFIG_ARCH), 0, "training keys are not architecture");
    cr_assert_eq(mm_config_hash(&flags, MM_CONFIG_ARCH), h_arch);
    cr_assert_neq(mm_config_hash(&flags, MM_CONFIG_ALL), h_all);
    cr_assert_eq(mm_config_compare(&flags, "command line", &ckpt, "ckpt", MM_CONFIG_TRAIN), -1);
    cr_assert_str_eq(mm_error_message(), "[train] learning_rate differs: 0.001 (command line) vs 0.0005 (ckpt)");
    flags = ckpt;
    cr_assert_eq(mm_config_set(&flags, "model", "dim", "768", 0, "--dim"), 0);
    cr_assert_eq(mm_config_compare(&flags, "command line", &ckpt, "pretrain_512.safetensors", MM_CONFIG_ARCH), -1);
    cr_assert_str_eq(mm_error_message(), "[model] dim differs: 768 (command line) vs 512 (pretrain_512.safetensors)");
    cr_assert_neq(mm_config_hash(&flags, MM_CONFIG_ARCH), h_arch);
    flags = ckpt;
    flags.model.knowledge_dim = 64;  // a [knowledge] key that shapes the network
    cr_assert_eq(mm_config_compare(&flags, "a", &ckpt, "b", MM_CONFIG_ARCH), -1);
    cr_assert_str_eq(mm_error_message(), "[knowledge] knowledge_dim differs: 64 (a) vs 128 (b)");
}
