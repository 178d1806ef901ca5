// `minimind prep pretrain`: samples match MiniMind's PretrainDataset built by Hugging Face
// `tokenizers` (tests/reference/pretrain_samples.py); chunking/threads don't change the output;
// bad input fails with file:line[:col], exit status 1 and no output file.
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/dataloader.h"
#include "minimind/error.h"
#include "minimind/prep.h"
#include "minimind/tokenizer.h"
#include "test_util.h"

#define MM_TOK_REL "minimind_tokenizer/tokenizer.json"

// A corpus exercising the tokenizer's corners: ASCII, CJK, emoji (escaped surrogate pair), NUL,
// newlines/tabs, literal <s> </s> <unk> inside text, an empty text, whitespace runs, and long
// documents (truncated at 64 and at 512).
static char *mm_corpus(const char *dir) {
    char *path = mm_test_path(dir, "corpus.jsonl");
    FILE *fp = fopen(path, "wb");
    fputs("{\"text\": \"Hello world\"}\n", fp);
    fputs("{\"text\": \"The capital of France is Paris.\", \"id\": 7}\n", fp);
    fputs("\n", fp);
    fputs("{\"text\": \"马克思主义基本原理 人类大脑的主要功能是什么？\"}\n", fp);
    fputs("{\"text\": \"\"}\n", fp);
    fputs("{\"text\": \"emoji \\ud83d\\ude00 and nul \\u0000 byte, tab\\tnew\\nline\"}\n", fp);
    fputs("{\"text\": \"literal <s> start, </s> end and <unk> unknown<s></s>\"}\n", fp);
    fputs("{\"text\": \"   leading and trailing   \"}\n", fp);
    fputs("{\"text\": \"", fp);
    for (int i = 0; i < 80; i++) fprintf(fp, "Sentence %d talks about topic %d, 第%d句。 ", i, i * 7 % 13, i);
    fputs("\"}\n", fp);
    fputs("{\"text\": \"", fp);
    for (int i = 0; i < 20; i++) fputs("A medium document that needs more than sixty-four tokens. ", fp);
    fputs("\"}\n", fp);
    fputs("{\"text\": \"<s>\"}\n", fp);
    fclose(fp);
    return path;
}

static void mm_run_prep(const char *const *argv, mm_proc_result *r) {
    cr_assert_eq(mm_test_run(argv, NULL, r), 0, "could not start %s", argv[0]);
}

static json_t *mm_reference(const char *tok, const char *data, int L) {
    char script[4096], lbuf[32];
    snprintf(script, sizeof script, "%s/tests/reference/pretrain_samples.py", MM_SOURCE_DIR);
    snprintf(lbuf, sizeof lbuf, "%d", L);
    const char *argv[] = {mm_test_python(), script, tok, data, lbuf, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "reference failed: %s", r.err);
    json_error_t err;
    json_t *j = json_loads(r.out, 0, &err);
    cr_assert(j != NULL, "reference output: %s", err.text);
    mm_proc_result_free(&r);
    return j;
}

static void mm_compare_with_reference(const char *tok, const char *data, const char *out, int L) {
    json_t *ref = mm_reference(tok, data, L);
    json_t *X = json_object_get(ref, "X"), *Y = json_object_get(ref, "Y"), *M = json_object_get(ref, "mask"),
           *FL = json_object_get(ref, "full_len");
    mm_dataloader_opts o;
    mm_dataloader_opts_default(&o);
    o.max_seq_len = L;
    mm_dataloader *dl;
    cr_assert_eq(mm_dataloader_open(&dl, out, &o), 0, "%s", mm_error_message());
    const mm_tokfile *tf = mm_dataloader_file(dl);
    cr_assert_eq(tf->h.n_docs, json_array_size(X));
    cr_assert_eq(tf->h.vocab_size, 6400);
    cr_assert_eq(tf->h.flags & MM_TOKFILE_FLAG_BOS_EOS, MM_TOKFILE_FLAG_BOS_EOS);
    int T = L - 1;
    int32_t *x = malloc(sizeof(int32_t) * (size_t)T), *y = malloc(sizeof(int32_t) * (size_t)T);
    float *m = malloc(sizeof(float) * (size_t)T);
    for (size_t d = 0; d < tf->h.n_docs; d++) {
        cr_assert_eq(mm_dataloader_sample(dl, d, x, y, m), 0);
        size_t len;
        mm_tokfile_doc(tf, d, &len);
        cr_assert_eq((json_int_t)len, json_integer_value(json_array_get(FL, d)), "doc %zu stored length", d);
        json_t *xr = json_array_get(X, d), *yr = json_array_get(Y, d), *mr = json_array_get(M, d);
        cr_assert_eq(json_array_size(xr), (size_t)T);
        for (int t = 0; t < T; t++) {
            cr_assert_eq(x[t], json_integer_value(json_array_get(xr, (size_t)t)), "L %d doc %zu X[%d]", L, d, t);
            cr_assert_eq(y[t], json_integer_value(json_array_get(yr, (size_t)t)), "L %d doc %zu Y[%d]", L, d, t);
            cr_assert_eq((json_int_t)m[t], json_integer_value(json_array_get(mr, (size_t)t)),
                         "L %d doc %zu mask[%d]", L, d, t);
        }
    }
    free(x);
    free(y);
    free(m);
    mm_dataloader_close(dl);
    json_decref(ref);
}

static long mm_summary_value(const char *out, const char *key) {
    const char *p = strstr(out, key);
    cr_assert(p != NULL, "summary lacks '%s':\n%s", key, out);
    return strtol(p + strlen(key), NULL, 10);
}

Test(prep_pretrain, samples_match_pretrain_dataset_reference) {
    char *tok;
    MM_NEED_SHARED(tok, MM_TOK_REL);
    MM_NEED_PYTHON("tokenizers");
    char *dir = mm_test_tmpdir("prepref");
    char *data = mm_corpus(dir), *out = mm_test_path(dir, "corpus.tok");
    const char *argv[] = {MM_MINIMIND_EXE, "prep", "pretrain", "--tokenizer", tok, "--data", data,
                          "--out", out, "--max-seq-len", "64", "--threads", "2", NULL};
    mm_proc_result r;
    mm_run_prep(argv, &r);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert_eq(mm_summary_value(r.out, "documents:"), 10, "%s", r.out);
    cr_assert_eq(mm_summary_value(r.out, "skipped lines:"), 0);
    cr_assert(strstr(r.out, "MB/s") != NULL, "%s", r.out);
    // The two long documents exceed 64 tokens; the reference's full lengths say so independently.
    json_t *ref = mm_reference(tok, data, 64);
    long want_trunc = 0, want_tokens = 0;
    for (size_t i = 0; i < json_array_size(json_object_get(ref, "full_len")); i++) {
        json_int_t n = json_integer_value(json_array_get(json_object_get(ref, "full_len"), i));
        want_trunc += n > 64;
        want_tokens += (long)n;
    }
    json_decref(ref);
    cr_assert_eq(want_trunc, 2);
    cr_assert_eq(mm_summary_value(r.out, "truncated documents:"), want_trunc, "%s", r.out);
    cr_assert_eq(mm_summary_value(r.out, "tokens:"), want_tokens, "%s", r.out);
    mm_proc_result_free(&r);
    mm_compare_with_reference(tok, data, out, 64);
    mm_compare_with_reference(tok, data, out, 512);  // the long document is truncated at 512 too
    mm_test_rmtree(dir);
    free(data);
    free(out);
    free(dir);
    free(tok);
}

static char *mm_prep_lib(const mm_tokenizer *tk, const char *data, const char *dir, const char *name,
                         long long chunk_bytes, int threads) {
    char *out = mm_test_path(dir, name);
    mm_prep_pretrain_opts o;
    mm_prep_pretrain_opts_default(&o);
    o.chunk_bytes = chunk_bytes;
    o.threads = threads;
    o.progress = 0;
    mm_prep_pretrain_stats st;
    cr_assert_eq(mm_prep_pretrain(tk, data, out, &o, &st), 0, "%s", mm_error_message());
    cr_assert_eq(st.documents, 10);
    return out;
}

Test(prep_pretrain, chunks_and_threads_do_not_change_the_file) {
    char *tok;
    MM_NEED_SHARED(tok, MM_TOK_REL);
    mm_tokenizer *tk;
    cr_assert_eq(mm_tokenizer_load(tok, &tk), 0, "%s", mm_error_message());
    char *dir = mm_test_tmpdir("prepchunk");
    char *data = mm_corpus(dir);
    char *a = mm_prep_lib(tk, data, dir, "a.tok", 8ll << 20, 1);
    char *b = mm_prep_lib(tk, data, dir, "b.tok", 1, 2);  // one document per chunk, 2 threads
    char *c = mm_prep_lib(tk, data, dir, "c.tok", 200, 3);
    size_t na, nb, nc;
    char *da = mm_read_file(a, &na), *db = mm_read_file(b, &nb), *dc = mm_read_file(c, &nc);
    cr_assert(na == nb && memcmp(da, db, na) == 0, "1-doc chunks differ from one chunk");
    cr_assert(na == nc && memcmp(da, dc, na) == 0, "200-byte chunks differ from one chunk");
    // Each document is <s> + encode(text) + </s>: check one against the tokenizer directly.
    mm_tokfile tf;
    cr_assert_eq(mm_tokfile_open(&tf, a), 0);
    mm_ids ids = {0};
    cr_assert_eq(mm_tokenizer_encode(tk, "Hello world", 11, &ids), 0);
    size_t len;
    const uint16_t *d0 = mm_tokfile_doc(&tf, 0, &len);
    cr_assert_eq(len, ids.len + 2);
    cr_assert(d0[0] == 1 && d0[len - 1] == 2);
    for (size_t i = 0; i < ids.len; i++) cr_assert_eq(d0[i + 1], ids.data[i]);
    mm_ids_free(&ids);
    mm_tokfile_close(&tf);
    free(da);
    free(db);
    free(dc);
    free(a);
    free(b);
    free(c);
    mm_tokenizer_free(tk);
    mm_test_rmtree(dir);
    free(data);
    free(dir);
    free(tok);
}

// ---- bad input ----

// Runs prep on `text` (as in.jsonl) and returns the result; *out_exists says whether out.tok
// exists afterwards. The directory holds only in.jsonl (+ out.tok on success): no temporaries.
static void mm_prep_text(const char *tok, const char *text, int skip_bad, mm_proc_result *r, int *out_exists) {
    char *dir = mm_test_tmpdir("prepbad");
    char *data = mm_test_path(dir, "in.jsonl"), *out = mm_test_path(dir, "out.tok");
    mm_test_write_file(data, text, strlen(text));
    const char *argv[] = {MM_MINIMIND_EXE, "prep", "pretrain", "--tokenizer", tok, "--data", data, "--out", out,
                          skip_bad ? "--skip-bad" : NULL, NULL};
    mm_run_prep(argv, r);
    *out_exists = access(out, F_OK) == 0;
    cr_assert_eq(mm_test_dir_count(dir), 1 + *out_exists, "temporary files left behind");
    mm_test_rmtree(dir);
    free(data);
    free(out);
    free(dir);
}

Test(prep_pretrain, malformed_line_names_file_line_column) {
    char *tok;
    MM_NEED_SHARED(tok, MM_TOK_REL);
    mm_proc_result r;
    int exists;
    mm_prep_text(tok, "{\"text\": \"ok\"}\n{\"text\": bad}\n{\"text\": \"ok\"}\n", 0, &r, &exists);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "minimind: error: ") && strstr(r.err, "in.jsonl:2:12: malformed JSON"), "%s", r.err);
    cr_assert(!exists, "no output on error");
    mm_proc_result_free(&r);
    free(tok);
}

Test(prep_pretrain, skip_bad_counts_skipped_lines) {
    char *tok;
    MM_NEED_SHARED(tok, MM_TOK_REL);
    mm_proc_result r;
    int exists;
    mm_prep_text(tok, "{\"text\": \"ok\"}\n{\"text\": bad}\n[1]\n{\"txt\": \"no text\"}\n{\"text\": \"ok 2\"}\n", 1,
                 &r, &exists);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(exists);
    cr_assert_eq(mm_summary_value(r.out, "skipped lines:"), 3, "%s", r.out);
    cr_assert_eq(mm_summary_value(r.out, "documents:"), 2, "%s", r.out);
    mm_proc_result_free(&r);
    // Everything bad: an error, not an empty file.
    mm_prep_text(tok, "{\"text\": bad}\n{\"x\": 1}\n", 1, &r, &exists);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "no documents: all 2 non-blank lines were skipped as bad"), "%s", r.err);
    cr_assert(!exists);
    mm_proc_result_free(&r);
    free(tok);
}

Test(prep_pretrain, missing_or_non_string_text_names_the_line) {
    char *tok;
    MM_NEED_SHARED(tok, MM_TOK_REL);
    mm_proc_result r;
    int exists;
    mm_prep_text(tok, "{\"text\": \"ok\"}\n\n{\"content\": \"x\"}\n", 0, &r, &exists);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "in.jsonl:3: missing field 'text'"), "%s", r.err);
    cr_assert(!exists);
    mm_proc_result_free(&r);
    mm_prep_text(tok, "{\"text\": 42}\n", 0, &r, &exists);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "in.jsonl:1: field 'text' is not a string"), "%s", r.err);
    cr_assert(!exists);
    mm_proc_result_free(&r);
    free(tok);
}

Test(prep_pretrain, empty_input_is_a_clear_error) {
    char *tok;
    MM_NEED_SHARED(tok, MM_TOK_REL);
    mm_proc_result r;
    int exists;
    const char *inputs[] = {"", "\n  \n\n"};
    for (int i = 0; i < 2; i++) {
        mm_prep_text(tok, inputs[i], 0, &r, &exists);
        cr_assert_eq(r.status, 1);
        cr_assert(strstr(r.err, "in.jsonl: no documents: the input is empty"), "%s", r.err);
        cr_assert(!exists);
        mm_proc_result_free(&r);
    }
    free(tok);
}

Test(prep_pretrain, failure_keeps_previous_output_and_usage_errors) {
    char *tok;
    MM_NEED_SHARED(tok, MM_TOK_REL);
    char *dir = mm_test_tmpdir("prepkeep");
    char *data = mm_test_path(dir, "in.jsonl"), *out = mm_test_path(dir, "out.tok");
    mm_test_write_file(data, "{\"text\": \"a\"}\n{oops\n", 20);
    mm_test_write_file(out, "previous", 8);
    const char *argv[] = {MM_MINIMIND_EXE, "prep", "pretrain", "--tokenizer", tok, "--data", data, "--out", out, NULL};
    mm_proc_result r;
    mm_run_prep(argv, &r);
    cr_assert_eq(r.status, 1);
    size_t n;
    char *s = mm_read_file(out, &n);
    cr_assert_str_eq(s, "previous", "a failed run must not touch the existing output");
    free(s);
    cr_assert_eq(mm_test_dir_count(dir), 2);
    mm_proc_result_free(&r);
    // Missing input file, missing --out, bad number: status 1 / 2 with a message.
    char *missing = mm_test_path(dir, "nope.jsonl");
    const char *a2[] = {MM_MINIMIND_EXE, "prep", "pretrain", "--tokenizer", tok, "--data", missing, "--out", out, NULL};
    mm_run_prep(a2, &r);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "nope.jsonl: cannot open"), "%s", r.err);
    mm_proc_result_free(&r);
    const char *a3[] = {MM_MINIMIND_EXE, "prep", "pretrain", "--tokenizer", tok, "--data", data, NULL};
    mm_run_prep(a3, &r);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "minimind: error: prep pretrain: --out FILE is required (see --help)"), "%s", r.err);
    mm_proc_result_free(&r);
    const char *a4[] = {MM_MINIMIND_EXE, "prep", "pretrain", "--tokenizer", tok, "--data", data, "--out", out,
                        "--max-seq-len", "1", NULL};
    mm_run_prep(a4, &r);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "--max-seq-len: expected an integer >= 2"), "%s", r.err);
    mm_proc_result_free(&r);
    mm_test_rmtree(dir);
    free(missing);
    free(data);
    free(out);
    free(dir);
    free(tok);
}
