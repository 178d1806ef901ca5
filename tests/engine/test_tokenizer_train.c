// Tokenizer training: the same vocabulary and merges as Hugging Face's BpeTrainer on the same
// text, the trained tokenizer.json loads in HF and encodes held-out text as we do, the MiniMind id
// layout, determinism across thread counts, and input errors.
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/error.h"
#include "minimind/jsonl.h"
#include "minimind/tokenizer.h"
#include "test_util.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static const char *const words[] = {
    "the", " the", " model", " training", " data", "language", " is", " a", " of", "I'll", " don't", " we're",
    "Hello", " world", "人工智能", "模型", "训练", "数据", "的", "是", "马克思主义", "基本原理", "，", "。", "！",
    "？", "123", " 456", "3.14", " ", "  ", "\n", "\t", "😀", "<s>", "</s>", "<unk>", "café", "def f(x):",
    "    return", " x**2", "世界", "你好", "中文", "文本", " mixed", " text", "(", ")", "-", "2024年",
};
#define N_WORDS (sizeof words / sizeof words[0])

static char *gen_text(size_t *len) {
    size_t cap = 1024, n = 0;
    char *s = malloc(cap);
    int k = 1 + (int)(rnd() % 30);
    for (int i = 0; i < k; i++) {
        const char *w = words[rnd() % N_WORDS];
        size_t wl = strlen(w);
        if (n + wl + 2 > cap) s = realloc(s, cap = 2 * (n + wl + 2));
        memcpy(s + n, w, wl);
        n += wl;
        if (rnd() % 5 == 0) s[n++] = (char)"abcxyz"[rnd() % 6];  // some rarer pieces
    }
    s[n] = '\0';
    *len = n;
    return s;
}

// Writes n generated texts as JSON Lines.
static void write_corpus(const char *path, int n) {
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    for (int i = 0; i < n; i++) {
        size_t len;
        char *t = gen_text(&len);
        json_t *o = json_pack("{s:s%}", "text", t, len);
        char *line = json_dumps(o, JSON_COMPACT);
        fprintf(fp, "%s\n", line);
        free(line);
        json_decref(o);
        free(t);
    }
    fclose(fp);
}

static mm_proc_result run_train(const char *out, const char *vocab, const char *threads, const char *d1,
                                const char *d2) {
    const char *argv[] = {MM_MINIMIND_EXE, "tokenizer", "train", "--data", d1, "--out", out, "--vocab-size", vocab,
                          "--threads", threads, d2 ? "--data" : NULL, d2, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    return r;
}

static json_t *load_json(const char *dir, const char *name) {
    char *p = mm_test_path(dir, name);
    json_error_t e;
    json_t *v = json_load_file(p, 0, &e);
    cr_assert_not_null(v, "%s: %s", p, e.text);
    free(p);
    return v;
}

// HF writes merges as ["a","b"] (since 0.20), we write "a b" like the shared MiniMind file.
static char *merge_str(json_t *m) {
    if (json_is_string(m)) return strdup(json_string_value(m));
    size_t n = strlen(json_string_value(json_array_get(m, 0))) + strlen(json_string_value(json_array_get(m, 1))) + 2;
    char *s = malloc(n);
    snprintf(s, n, "%s %s", json_string_value(json_array_get(m, 0)), json_string_value(json_array_get(m, 1)));
    return s;
}

static int files_equal(const char *a, const char *b) {
    json_t *x = json_load_file(a, 0, NULL), *y = json_load_file(b, 0, NULL);
    int eq = x && y && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

Test(tokenizer_train, matches_hf_trainer_and_hf_encodes_identically) {
    MM_NEED_PYTHON("tokenizers");
    char *dir = mm_test_tmpdir("toktrain");
    char *d1 = mm_test_path(dir, "a.jsonl"), *d2 = mm_test_path(dir, "b.jsonl");
    char *ours = mm_test_path(dir, "ours"), *hf = mm_test_path(dir, "hf");
    rng_state = 99;
    write_corpus(d1, 1500);
    write_corpus(d2, 700);

    const char *quiet = getenv("MM_QUIET");
    char *saved = quiet ? strdup(quiet) : NULL;
    unsetenv("MM_QUIET");  // this run shows its progress lines
    mm_proc_result r = run_train(ours, "700", "2", d1, d2);
    if (saved) setenv("MM_QUIET", saved, 1);
    free(saved);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "distinct words") != NULL, "no progress output: %s", r.err);
    mm_proc_result_free(&r);
    // No temporary files left next to the outputs.
    DIR *dp = opendir(ours);
    struct dirent *de;
    int n_files = 0;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.') continue;
        cr_assert(!strcmp(de->d_name, "tokenizer.json") || !strcmp(de->d_name, "tokenizer_config.json"), "%s",
                  de->d_name);
        n_files++;
    }
    closedir(dp);
    cr_assert_eq(n_files, 2);

    const char *script = MM_SOURCE_DIR "/tests/reference/hf_tokenizer.py";
    const char *hf_argv[] = {mm_test_python(), script, "train", hf, "700", "2", d1, d2, NULL};
    cr_assert_eq(mm_test_run(hf_argv, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);

    // Same vocabulary (token -> id) and the same merges in the same order.
    json_t *a = load_json(ours, "tokenizer.json"), *b = load_json(hf, "tokenizer.json");
    json_t *ma = json_object_get(a, "model"), *mb = json_object_get(b, "model");
    cr_assert_eq(json_object_size(json_object_get(ma, "vocab")), 700);
    cr_assert(json_equal(json_object_get(ma, "vocab"), json_object_get(mb, "vocab")), "vocabularies differ");
    json_t *ga = json_object_get(ma, "merges"), *gb = json_object_get(mb, "merges");
    cr_assert_eq(json_array_size(ga), json_array_size(gb));
    cr_assert_eq(json_array_size(ga), 700 - 259);
    for (size_t i = 0; i < json_array_size(ga); i++) {
        char *x = merge_str(json_array_get(ga, i)), *y = merge_str(json_array_get(gb, i));
        cr_assert_str_eq(x, y, "merge %zu differs", i);
        free(x);
        free(y);
    }
    cr_assert(json_equal(json_object_get(a, "added_tokens"), json_object_get(b, "added_tokens")));
    cr_assert(json_equal(json_object_get(a, "pre_tokenizer"), json_object_get(b, "pre_tokenizer")));
    cr_assert(json_equal(json_object_get(a, "decoder"), json_object_get(b, "decoder")));
    json_decref(a);
    json_decref(b);

    // HF loads our tokenizer.json and encodes held-out text exactly as we do.
    char *held = mm_test_path(dir, "held.jsonl"), *hf_out = mm_test_path(dir, "hf_out.jsonl");
    rng_state = 31337;
    write_corpus(held, 300);
    char *tok_json = mm_test_path(ours, "tokenizer.json");
    const char *enc_argv[] = {mm_test_python(), script, "encode", tok_json, held, hf_out, NULL};
    cr_assert_eq(mm_test_run(enc_argv, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    mm_tokenizer *tok;
    cr_assert_eq(mm_tokenizer_load(ours, &tok), 0, "%s", mm_error_message());
    mm_jsonl_reader in, out;
    cr_assert_eq(mm_jsonl_open(&in, held), 0);
    cr_assert_eq(mm_jsonl_open(&out, hf_out), 0);
    json_t *oi, *oo;
    mm_ids ids = {0};
    int n = 0;
    while (mm_jsonl_next(&in, &oi) == 1) {
        cr_assert_eq(mm_jsonl_next(&out, &oo), 1);
        const char *text;
        size_t tl;
        cr_assert_eq(mm_jsonl_string_field(&in, oi, "text", &text, &tl), 0);
        ids.len = 0;
        cr_assert_eq(mm_tokenizer_encode(tok, text, tl, &ids), 0);
        json_t *want = json_object_get(oo, "ids");
        cr_assert_eq(ids.len, json_array_size(want), "held-out text %d '%s'", n, text);
        for (size_t k = 0; k < ids.len; k++)
            cr_assert_eq(ids.data[k], json_integer_value(json_array_get(want, k)), "held-out text %d '%s' id %zu", n,
                         text, k);
        json_decref(oi);
        json_decref(oo);
        n++;
    }
    cr_assert_eq(n, 300);
    mm_jsonl_close(&in);
    mm_jsonl_close(&out);
    mm_ids_free(&ids);
    mm_tokenizer_free(tok);
    mm_test_rmtree(dir);
    free(tok_json);
    free(held);
    free(hf_out);
    free(d1);
    free(d2);
    free(ours);
    free(hf);
    free(dir);
}

Test(tokenizer_train, minimind_layout_and_determinism) {
    char *dir = mm_test_tmpdir("toklayout");
    char *d1 = mm_test_path(dir, "a.jsonl");
    char *o1 = mm_test_path(dir, "t1"), *o2 = mm_test_path(dir, "t4");
    rng_state = 7;
    write_corpus(d1, 800);
    mm_tokenizer_train_opts opts;
    mm_tokenizer_train_opts_default(&opts);
    cr_assert_eq(opts.vocab_size, 6400);
    cr_assert_eq(opts.min_frequency, 2);
    opts.vocab_size = 500;
    opts.threads = 1;
    const char *paths[] = {d1};
    cr_assert_eq(mm_tokenizer_train(paths, 1, &opts, o1), 0, "%s", mm_error_message());
    opts.threads = 4;
    cr_assert_eq(mm_tokenizer_train(paths, 1, &opts, o2), 0, "%s", mm_error_message());
    char *f1 = mm_test_path(o1, "tokenizer.json"), *f2 = mm_test_path(o2, "tokenizer.json");
    cr_assert(files_equal(f1, f2), "1 and 4 threads gave different tokenizers");

    mm_tokenizer *tok;
    cr_assert_eq(mm_tokenizer_load(o1, &tok), 0, "%s", mm_error_message());
    cr_assert_eq(mm_tokenizer_vocab_size(tok), 500);
    static const char *const specials[] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) {
        size_t n;
        const char *b = mm_tokenizer_token_bytes(tok, i, &n);
        cr_assert(b && n == strlen(specials[i]) && !memcmp(b, specials[i], n));
    }
    // Ids 3..258: the 256 bytes in the byte-level alphabet's code point order: '!'..'~' (3..96),
    // then 0xA1.., and the remapped bytes (0x00 -> 'Ā' U+0100 is id 191, ' ' -> 'Ġ' is 223).
    size_t n;
    const char *b = mm_tokenizer_token_bytes(tok, 3, &n);
    cr_assert(n == 1 && b[0] == '!');
    b = mm_tokenizer_token_bytes(tok, 96, &n);
    cr_assert(n == 1 && b[0] == '~');
    b = mm_tokenizer_token_bytes(tok, 191, &n);
    cr_assert(n == 1 && b[0] == 0);
    b = mm_tokenizer_token_bytes(tok, 223, &n);
    cr_assert(n == 1 && b[0] == ' ');
    // The same as the shared MiniMind tokenizer's ids 0..258, when it is there.
    char *shared = mm_test_path(MM_SHARED_DATA_DIR, "minimind_tokenizer/tokenizer.json");
    mm_tokenizer *ref;
    if (access(shared, R_OK) == 0 && mm_tokenizer_load(shared, &ref) == 0) {
        for (int id = 0; id < 259; id++) {
            size_t n1, n2;
            const char *x = mm_tokenizer_token_bytes(tok, id, &n1), *y = mm_tokenizer_token_bytes(ref, id, &n2);
            cr_assert(n1 == n2 && !memcmp(x, y, n1), "id %d differs from the MiniMind tokenizer", id);
        }
        mm_tokenizer_free(ref);
    }
    free(shared);
    // The specials are never produced by merges: "<s>" in text is the special only.
    mm_ids ids = {0};
    cr_assert_eq(mm_tokenizer_encode(tok, "<s>x</s>", 8, &ids), 0);
    cr_assert(ids.len >= 3 && ids.data[0] == 1 && ids.data[ids.len - 1] == 2);
    mm_ids_free(&ids);
    mm_tokenizer_free(tok);

    json_t *cfg = load_json(o1, "tokenizer_config.json");
    cr_assert_str_eq(json_string_value(json_object_get(cfg, "bos_token")), "<s>");
    cr_assert_str_eq(json_string_value(json_object_get(cfg, "eos_token")), "</s>");
    cr_assert_str_eq(json_string_value(json_object_get(cfg, "pad_token")), "<unk>");
    cr_assert_str_eq(json_string_value(json_object_get(cfg, "tokenizer_class")), "PreTrainedTokenizerFast");
    cr_assert_not_null(json_object_get(json_object_get(cfg, "added_tokens_decoder"), "2"));
    json_decref(cfg);
    mm_test_rmtree(dir);
    free(f1);
    free(f2);
    free(d1);
    free(o1);
    free(o2);
    free(dir);
}

Test(tokenizer_train, input_errors) {
    char *dir = mm_test_tmpdir("tokerr");
    char *bad = mm_test_path(dir, "bad.jsonl"), *nofield = mm_test_path(dir, "nofield.jsonl");
    char *out = mm_test_path(dir, "out");
    const char bad_text[] = "{\"text\":\"ok\"}\n{\"text\": oops}\n";
    mm_test_write_file(bad, bad_text, sizeof bad_text - 1);
    const char nf_text[] = "{\"text\":\"ok\"}\n{\"body\":\"x\"}\n";
    mm_test_write_file(nofield, nf_text, sizeof nf_text - 1);

    mm_proc_result r = run_train(out, "300", "1", bad, NULL);
    cr_assert_eq(r.status, 1);
    char want[4200];
    snprintf(want, sizeof want, "minimind: error: %s:2:", bad);
    cr_assert(strstr(r.err, want) != NULL, "%s", r.err);
    mm_proc_result_free(&r);

    r = run_train(out, "300", "1", nofield, NULL);
    cr_assert_eq(r.status, 1);
    snprintf(want, sizeof want, "%s:2: missing field 'text'", nofield);
    cr_assert(strstr(r.err, want) != NULL, "%s", r.err);
    mm_proc_result_free(&r);
    char *tj = mm_test_path(out, "tokenizer.json");
    cr_assert_neq(access(tj, F_OK), 0, "a failed training must not write tokenizer.json");
    free(tj);

    r = run_train(out, "300", "1", "/nonexistent/x.jsonl", NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "/nonexistent/x.jsonl") != NULL, "%s", r.err);
    mm_proc_result_free(&r);

    r = run_train(out, "100", "1", nofield, NULL);
    cr_assert_eq(r.status, 2, "vocab size below 259 is a usage error");
    mm_proc_result_free(&r);

    const char *noout[] = {MM_MINIMIND_EXE, "tokenizer", "train", "--data", bad, NULL};
    cr_assert_eq(mm_test_run(noout, NULL, &r), 0);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "--out DIR is required") != NULL, "%s", r.err);
    mm_proc_result_free(&r);
    mm_test_rmtree(dir);
    free(bad);
    free(nofield);
    free(out);
    free(dir);
}
