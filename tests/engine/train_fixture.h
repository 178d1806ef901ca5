// Fixtures shared by the train/eval suites: a demo corpus with its own small tokenizer and token
// file, tiny INI configurations, running `minimind` with argv, reading metrics.jsonl / JSON files.
#ifndef MM_TRAIN_FIXTURE_H
#define MM_TRAIN_FIXTURE_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "minimind/safetensors.h"
#include "test_util.h"

// 1 under AddressSanitizer (compile time) or when MM_SANITIZED is set: tests shrink their sizes.
static inline int mm_fx_sanitized(void) {
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#else
    const char *v = getenv("MM_SANITIZED");
    return v && *v && strcmp(v, "0") != 0;
#endif
}

// printf into a malloc'd string.
static inline char *mm_fx_fmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

// Runs argv (argv[0] must be a path); the test fails if it cannot be started.
static inline void mm_fx_run(const char *const *argv, mm_proc_result *r) {
    cr_assert_eq(mm_test_run(argv, NULL, r), 0, "could not start %s", argv[0]);
}

// Runs argv and requires exit status 0.
static inline void mm_fx_run_ok(const char *const *argv) {
    mm_proc_result r;
    mm_fx_run(argv, &r);
    cr_assert_eq(r.status, 0, "%s %s failed (%d):\n%s\n%s", argv[0], argv[1], r.status, r.out, r.err);
    mm_proc_result_free(&r);
}

typedef struct mm_fx_data {
    char *dir;         // the test's temporary directory
    char *demo;        // DIR/demo (minimind demo-data output)
    char *corpus;      // the jsonl the model trains on
    char *eval_jsonl;  // DIR/demo/eval.jsonl (held-out templates)
    char *tok;         // DIR/tok (tokenizer directory)
    char *tokfile;     // DIR/train.tok
} mm_fx_data;

// Demo corpus of `facts` facts; the first max_docs documents (0 = all) are the training corpus;
// tokenizer of vocab_size trained on it; token file prepared at max_seq_len.
static inline void mm_fx_data_make(mm_fx_data *d, const char *tag, int facts, int max_docs, int vocab_size,
                                   int max_seq_len) {
    memset(d, 0, sizeof *d);
    d->dir = mm_test_tmpdir(tag);
    d->demo = mm_test_path(d->dir, "demo");
    d->tok = mm_test_path(d->dir, "tok");
    d->tokfile = mm_test_path(d->dir, "train.tok");
    d->eval_jsonl = mm_test_path(d->demo, "eval.jsonl");
    char facts_s[32], vocab_s[32], len_s[32];
    snprintf(facts_s, sizeof facts_s, "%d", facts);
    snprintf(vocab_s, sizeof vocab_s, "%d", vocab_size);
    snprintf(len_s, sizeof len_s, "%d", max_seq_len);
    const char *demo[] = {MM_MINIMIND_EXE, "demo-data", "--out", d->demo, "--facts", facts_s, NULL};
    mm_fx_run_ok(demo);
    char *all = mm_test_path(d->demo, "pretrain.jsonl");
    if (max_docs > 0) {
        d->corpus = mm_test_path(d->dir, "corpus.jsonl");
        FILE *in = fopen(all, "rb"), *out = fopen(d->corpus, "wb");
        cr_assert(in && out);
        char *line = NULL;
        size_t cap = 0;
        for (int i = 0; i < max_docs && getline(&line, &cap, in) > 0; i++) fputs(line, out);
        free(line);
        fclose(in);
        fclose(out);
        free(all);
    } else {
        d->corpus = all;
    }
    const char *tok[] = {MM_MINIMIND_EXE, "tokenizer",    "train", "--data",    d->corpus, "--out",
                         d->tok,          "--vocab-size", vocab_s, "--threads", "1",       NULL};
    mm_fx_run_ok(tok);
    const char *prep[] = {MM_MINIMIND_EXE, "prep",      "pretrain", "--tokenizer", d->tok,
                          "--data",        d->corpus,   "--out",    d->tokfile,    "--max-seq-len",
                          len_s,           "--threads", "1",        NULL};
    mm_fx_run_ok(prep);
}

static inline void mm_fx_data_free(mm_fx_data *d) {
    mm_test_rmtree(d->dir);
    free(d->dir);
    free(d->demo);
    free(d->corpus);
    free(d->eval_jsonl);
    free(d->tok);
    free(d->tokfile);
}

// Writes an INI file: [model] from `model` (lines "key = value\n"), [data] pointing at d, [train]
// with threads 1 / mixed_precision (mm_fx_ini: fp32) plus `train` lines. Returns the malloc'd path.
static inline char *mm_fx_ini_precision(const mm_fx_data *d, const char *name, const char *model, const char *train,
                                        const char *precision) {
    char *path = mm_test_path(d->dir, name);
    char *text = mm_fx_fmt(
        "[model]\n%s\n[data]\ndata_path = %s\ntokenizer_path = %s\n\n"
        "[train]\nthreads = 1\nmixed_precision = %s\n%s",
        model, d->tokfile, d->tok, precision, train);
    mm_test_write_file(path, text, strlen(text));
    free(text);
    return path;
}

static inline char *mm_fx_ini(const mm_fx_data *d, const char *name, const char *model, const char *train) {
    return mm_fx_ini_precision(d, name, model, train, "fp32");
}

// `minimind train --config INI --out OUT [--set S ...] [--resume]`; sets is NULL-terminated.
static inline void mm_fx_train(const char *ini, const char *out, const char *const *sets, int resume,
                               mm_proc_result *r) {
    const char *argv[64];
    int n = 0;
    argv[n++] = MM_MINIMIND_EXE;
    argv[n++] = "train";
    argv[n++] = "--config";
    argv[n++] = ini;
    argv[n++] = "--out";
    argv[n++] = out;
    for (int i = 0; sets && sets[i] && n < 60; i++) {
        argv[n++] = "--set";
        argv[n++] = sets[i];
    }
    if (resume) argv[n++] = "--resume";
    argv[n] = NULL;
    mm_fx_run(argv, r);
}

static inline json_t *mm_fx_read_json(const char *path) {
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    cr_assert(j != NULL, "%s:%d: %s", path, err.line, err.text);
    return j;
}

// Every line of a JSON Lines file as an array (a torn last line fails the test).
static inline json_t *mm_fx_read_jsonl(const char *path) {
    FILE *fp = fopen(path, "rb");
    cr_assert(fp != NULL, "cannot open %s", path);
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int no = 0;
    while ((n = getline(&line, &cap, fp)) > 0) {
        no++;
        json_error_t err;
        json_t *o = json_loadb(line, (size_t)n, 0, &err);
        cr_assert(o != NULL, "%s:%d: %s", path, no, err.text);
        json_array_append_new(arr, o);
    }
    free(line);
    fclose(fp);
    return arr;
}

static inline double mm_fx_num(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    cr_assert(json_is_number(v), "field '%s' missing or not a number", key);
    return json_number_value(v);
}

static inline char *mm_fx_slurp(const char *path) {
    size_t len = 0;
    FILE *fp = fopen(path, "rb");
    cr_assert(fp != NULL, "cannot open %s", path);
    char *buf = NULL;
    size_t cap = 0;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, fp)) > 0) {
        buf = realloc(buf, cap = len + n + 1);
        memcpy(buf + len, tmp, n);
        len += n;
    }
    fclose(fp);
    if (!buf) buf = calloc(1, 1);
    buf[len] = '\0';
    (void)cap;
    return buf;
}

static inline void mm_fx_copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *o = fopen(to, "wb");
    cr_assert(in && o, "copy %s -> %s", from, to);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) cr_assert_eq(fwrite(buf, 1, n, o), n);
    fclose(in);
    fclose(o);
}

// Writes `path` as a copy of `src` with tensor `name` given a different shape (same metadata).
static inline void mm_fx_write_reshaped(const char *src, const char *path, const char *name) {
    mm_safetensors in, o;
    cr_assert_eq(mm_st_read(&in, src), 0, "%s", mm_error_message());
    mm_st_init(&o);
    int found = 0;
    for (int i = 0; i < in.n_tensors; i++) {
        const mm_st_tensor *t = &in.tensors[i];
        int64_t shape[MM_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        int ndim = t->ndim;
        if (!strcmp(t->name, name)) {  // (a, b) -> (b, a): same bytes, wrong shape
            cr_assert_eq(ndim, 2);
            shape[0] = t->shape[1];
            shape[1] = t->shape[0];
            found = 1;
        }
        cr_assert_eq(mm_st_add(&o, t->name, t->dtype, ndim, shape, t->data), 0);
    }
    cr_assert(found);
    for (int i = 0; i < in.n_meta; i++) cr_assert_eq(mm_st_set_meta(&o, in.meta[i].key, in.meta[i].value), 0);
    cr_assert_eq(mm_st_write(&o, path), 0, "%s", mm_error_message());
    mm_st_free(&o);
    mm_st_free(&in);
}

#endif
