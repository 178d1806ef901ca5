// `minimind prep knowledge`: bank rows match Hugging Face `tokenizers` encodings of the sentences
// (tests/reference/knowledge_rows.py) for both input formats; the mapping file says which
// sentence each row holds; bad input fails with file:line[:col] and leaves no files.
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/knowledge.h"
#include "test_util.h"

#define MM_TOK_REL "minimind_tokenizer/tokenizer.json"

static const char *const mm_sentences[] = {
    "Paris is the capital of France.",
    "马克思主义基本原理是一门课程。",
    "The Eiffel Tower, completed in 1889, is a wrought-iron lattice tower on the Champ de Mars in Paris.",
    "",
    "Short.",
    "emoji \xf0\x9f\x98\x80 and <s> literal",
};
#define MM_NS 6

// sentence_trex_data.json layout: a JSON list of {"target": [{sentence, uuid, subject, ...}], ...}.
static char *mm_write_trex(const char *dir) {
    json_t *list = json_array();
    for (int i = 0; i < MM_NS; i++) {
        char uuid[32], subj[32];
        snprintf(uuid, sizeof uuid, "uuid-%d", i);
        snprintf(subj, sizeof subj, "subject %d", i);
        json_t *t = json_pack("{s:s, s:s, s:s, s:s, s:s}", "sentence", mm_sentences[i], "uuid", uuid, "subject",
                              subj, "predicate", "pred", "object", "obj");
        json_array_append_new(list, json_pack("{s:[o], s:s}", "target", t, "source", "ignored"));
    }
    char *path = mm_test_path(dir, "sentence_trex_data.json");
    cr_assert_eq(json_dump_file(list, path, JSON_INDENT(2)), 0);  // multi-line, like the original
    json_decref(list);
    return path;
}

static char *mm_write_jsonl(const char *dir) {
    char *path = mm_test_path(dir, "sent.jsonl");
    FILE *fp = fopen(path, "wb");
    for (int i = 0; i < MM_NS; i++) {
        json_t *o = json_pack("{s:s}", "text", mm_sentences[i]);
        json_dumpf(o, fp, JSON_COMPACT);
        fputc('\n', fp);
        json_decref(o);
    }
    fclose(fp);
    return path;
}

static json_t *mm_reference(const char *tok, const char *data, int num, int len) {
    char script[4096], nb[32], lb[32];
    snprintf(script, sizeof script, "%s/tests/reference/knowledge_rows.py", MM_SOURCE_DIR);
    snprintf(nb, sizeof nb, "%d", num);
    snprintf(lb, sizeof lb, "%d", len);
    const char *argv[] = {mm_test_python(), script, tok, data, nb, lb, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "reference failed: %s", r.err);
    json_error_t err;
    json_t *j = json_loads(r.out, 0, &err);
    cr_assert(j != NULL, "%s", err.text);
    mm_proc_result_free(&r);
    return j;
}

static void mm_prep(const char *tok, const char *data, const char *bank, int num, int len, mm_proc_result *r) {
    char nb[32], lb[32];
    snprintf(nb, sizeof nb, "%d", num);
    snprintf(lb, sizeof lb, "%d", len);
    const char *argv[] = {MM_MINIMIND_EXE, "prep", "knowledge", "--tokenizer", tok, "--data", data, "--out", bank,
                          "--knowledge-num", nb, "--knowledge-length", lb, NULL};
    cr_assert_eq(mm_test_run(argv, NULL, r), 0);
}

static long mm_summary_value(const char *out, const char *key) {
    const char *p = strstr(out, key);
    cr_assert(p != NULL, "summary lacks '%s':\n%s", key, out);
    return strtol(p + strlen(key), NULL, 10);
}

static void mm_check_bank(const char *tok, const char *data, const char *bank, int num, int len, int trex) {
    mm_proc_result r;
    mm_prep(tok, data, bank, num, len, &r);
    cr_assert_eq(r.status, 0, "%s", r.err);
    int kept = num < MM_NS ? num : MM_NS;
    cr_assert_eq(mm_summary_value(r.out, "sentences read:"), MM_NS, "%s", r.out);
    cr_assert_eq(mm_summary_value(r.out, "rows filled:"), kept, "%s", r.out);
    cr_assert_eq(mm_summary_value(r.out, "dropped sentences:"), MM_NS - kept, "%s", r.out);
    mm_proc_result_free(&r);
    json_t *ref = mm_reference(tok, data, num, len), *rows = json_object_get(ref, "rows");
    mm_kbank kb;
    cr_assert_eq(mm_kbank_open(&kb, bank), 0, "%s", mm_error_message());
    cr_assert(kb.num == (uint32_t)num && kb.length == (uint32_t)len && kb.vocab_size == 6400);
    cr_assert_eq(kb.n_filled, (uint64_t)kept);
    cr_assert_eq(json_array_size(rows), (size_t)num);
    for (int i = 0; i < num; i++) {
        const uint16_t *row = mm_kbank_row(&kb, (uint32_t)i);
        for (int t = 0; t < len; t++)
            cr_assert_eq(row[t], json_integer_value(json_array_get(json_array_get(rows, (size_t)i), (size_t)t)),
                         "row %d token %d", i, t);
    }
    mm_kbank_close(&kb);
    json_decref(ref);
    // The mapping: one line per filled row, in order, with the item's fields.
    char *map = mm_kbank_mapping_path(bank);
    FILE *fp = fopen(map, "rb");
    cr_assert(fp != NULL, "mapping file %s", map);
    json_error_t err;
    int n = 0;
    char line[4096];
    while (fgets(line, sizeof line, fp)) {
        json_t *o = json_loads(line, 0, &err);
        cr_assert(o != NULL, "%s", err.text);
        cr_assert_eq(json_integer_value(json_object_get(o, "index")), n);
        cr_assert_str_eq(json_string_value(json_object_get(o, "sentence")), mm_sentences[n]);
        if (trex) {
            char uuid[32];
            snprintf(uuid, sizeof uuid, "uuid-%d", n);
            cr_assert_str_eq(json_string_value(json_object_get(o, "uuid")), uuid);
            cr_assert_str_eq(json_string_value(json_object_get(o, "predicate")), "pred");
            cr_assert_str_eq(json_string_value(json_object_get(o, "object")), "obj");
        } else {
            cr_assert(json_is_null(json_object_get(o, "uuid")) && json_is_null(json_object_get(o, "subject")));
        }
        json_decref(o);
        n++;
    }
    fclose(fp);
    cr_assert_eq(n, kept);
    free(map);
}

Test(prep_knowledge, trex_bank_matches_reference_padded_and_dropped) {
    char *tok;
    MM_NEED_SHARED(tok, MM_TOK_REL);
    MM_NEED_PYTHON("tokenizers");
    char *dir = mm_test_tmpdir("kbank");
    char *data = mm_write_trex(dir), *bank = mm_test_path(dir, "bank.bin");
    mm_check_bank(tok, data, bank, 10, 16, 1);  // more rows than sentences: 4 padding rows; one truncation
    mm_check_bank(tok, data, bank, 4, 8, 1);    // fewer rows: 2 dropped
    mm_test_rmtree(dir);
    free(data);
    free(bank);
    free(dir);
    free(tok);
}

Test(prep_knowledge, jsonl_bank_matches_reference) {
    char *tok;
    MM_NEED_SHARED(tok, MM_TOK_REL);
    MM_NEED_PYTHON("tokenizers");
    char *dir = mm_test_tmpdir("kbankjl");
    char *data = mm_write_jsonl(dir), *bank = mm_test_path(dir, "bank.bin");
    mm_check_bank(tok, data, bank, 7, 12, 0);
    mm_test_rmtree(dir);
    free(data);
    free(bank);
    free(dir);
    free(tok);
}

// Runs prep knowledge on `text`; expects exit 1, `want` in stderr, and no bank/mapping/temporaries.
static void mm_expect_bad(const char *tok, const char *text, const char *want) {
    char *dir = mm_test_tmpdir("kbad");
    char *data = mm_test_path(dir, "k.json"), *bank = mm_test_path(dir, "bank.bin");
    mm_test_write_file(data, text, strlen(text));
    mm_proc_result r;
    mm_prep(tok, data, bank, 4, 8, &r);
    cr_assert_eq(r.status, 1, "input %s", text);
    cr_assert(strstr(r.err, want) != NULL, "want '%s', got: %s", want, r.err);
    cr_assert_eq(mm_test_dir_count(dir), 1, "bank, mapping or temporaries left behind");
    mm_proc_result_free(&r);
    mm_test_rmtree(dir);
    free(data);
    free(bank);
    free(dir);
}

Test(prep_knowledge, bad_input_names_the_place_and_writes_nothing) {
    char *tok;
    MM_NEED_SHARED(tok, MM_TOK_REL);
    mm_expect_bad(tok, "[\n  {\"target\": [{\"sentence\": \"a\"}]},\n  {\"target\": [{\"sentence\": nope}]}\n]\n",
                  "k.json:3:");
    mm_expect_bad(tok, "[\n  {\"target\": [{\"sentence\": \"a\"}]},\n  {\"target\": [{\"sentence\": nope}]}\n]\n",
                  "malformed JSON");
    mm_expect_bad(tok, "[{\"target\": [{\"sentence\": \"a\"}]},\n {\"target\": []}]",
                  "k.json:2: list item 1: missing string field 'target[0].sentence'");
    mm_expect_bad(tok, "[{\"target\": [{\"sentence\": \"a\"}]},]", "k.json:1:34: ',' followed by ']'");
    mm_expect_bad(tok, "[{\"target\": [{\"sentence\": \"a\"}]}", "end of file: the list is not closed");
    mm_expect_bad(tok, "[{\"target\": [{\"sentence\": \"a\"}]}, 3]", "k.json:1:35: list item 1 is not a JSON object");
    mm_expect_bad(tok, "[]", "k.json: no sentences: the input is empty");
    mm_expect_bad(tok, "", "k.json: no sentences: the input is empty");
    mm_expect_bad(tok, "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n", "k.json:2: missing field 'text'");
    mm_expect_bad(tok, "{\"text\": \"a\"}\n{\"text\": }\n", "k.json:2:10: malformed JSON");
    free(tok);
}

Test(prep_knowledge, bank_reader_rejects_corrupt_files) {
    char *dir = mm_test_tmpdir("kbankbad");
    char *path = mm_test_path(dir, "b.bin");
    unsigned char h[64 + 2 * 2 * 3] = {0};
    memcpy(h, "MMKBANK\0", 8);
    h[8] = 1;    // version
    h[12] = 64;  // header size
    h[16] = 2;   // num
    h[20] = 3;   // length
    h[24] = 100; // vocab
    h[32] = 1;   // n_filled
    mm_test_write_file(path, (const char *)h, sizeof h);
    mm_kbank kb;
    cr_assert_eq(mm_kbank_open(&kb, path), 0, "%s", mm_error_message());
    cr_assert(kb.num == 2 && kb.length == 3 && kb.n_filled == 1);
    mm_kbank_close(&kb);
    mm_test_write_file(path, (const char *)h, sizeof h - 2);
    cr_assert_eq(mm_kbank_open(&kb, path), -1);
    cr_assert(strstr(mm_error_message(), "truncated or corrupt"), "%s", mm_error_message());
    h[8] = 2;
    mm_test_write_file(path, (const char *)h, sizeof h);
    cr_assert_eq(mm_kbank_open(&kb, path), -1);
    cr_assert(strstr(mm_error_message(), "version 2"), "%s", mm_error_message());
    h[8] = 1;
    h[32] = 3;
    mm_test_write_file(path, (const char *)h, sizeof h);
    cr_assert_eq(mm_kbank_open(&kb, path), -1);
    cr_assert(strstr(mm_error_message(), "n_filled 3 > knowledge_num 2"), "%s", mm_error_message());
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}
