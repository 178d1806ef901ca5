// Engine infrastructure: atomic writes, the JSON Lines reader's error positions, JSON text from
// bytes that are not UTF-8 (against Python's decode), the CLI.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/json_text.h"
#include "minimind/jsonl.h"
#include "test_rand.h"
#include "test_util.h"

Test(atomic_file, commit_replaces_and_abort_keeps_old) {
    char *dir = mm_test_tmpdir("atomic");
    char *path = mm_test_path(dir, "f.txt");
    cr_assert_eq(mm_write_file_atomic(path, "old", 3), 0);
    mm_atomic_file af;
    cr_assert_eq(mm_atomic_open(&af, path), 0);
    fputs("half-written", af.fp);
    mm_atomic_abort(&af);
    size_t n;
    char *s = mm_read_file(path, &n);
    cr_assert_str_eq(s, "old", "abort must leave the previous file");
    free(s);
    cr_assert_eq(mm_write_file_atomic(path, "new!", 4), 0);
    s = mm_read_file(path, &n);
    cr_assert_str_eq(s, "new!");
    cr_assert_eq(n, 4);
    free(s);
    // No temporary files left behind.
    char *tmp = mm_test_path(dir, "f.txt.tmp");
    cr_assert_neq(access(tmp, F_OK), 0);
    free(tmp);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

Test(atomic_file, error_names_path) {
    cr_assert_eq(mm_write_file_atomic("/nonexistent-dir/x/y", "a", 1), -1);
    cr_assert(strstr(mm_error_message(), "/nonexistent-dir/x/y") != NULL, "%s", mm_error_message());
}

Test(jsonl, reports_line_and_column_and_continues) {
    char *dir = mm_test_tmpdir("jsonl");
    char *path = mm_test_path(dir, "in.jsonl");
    const char *text = "{\"text\":\"a\"}\n\n{\"text\": bad}\n[1,2]\n{\"x\":1}\n";
    mm_test_write_file(path, text, strlen(text));
    mm_jsonl_reader r;
    json_t *o;
    cr_assert_eq(mm_jsonl_open(&r, path), 0);
    cr_assert_eq(mm_jsonl_next(&r, &o), 1);
    json_decref(o);
    cr_assert_eq(mm_jsonl_next(&r, &o), -1);
    char want[4200];
    snprintf(want, sizeof want, "%s:3:12: malformed JSON", path);
    cr_assert(strstr(mm_error_message(), want) != NULL, "got: %s", mm_error_message());
    cr_assert_eq(mm_jsonl_next(&r, &o), -1);
    cr_assert(strstr(mm_error_message(), ":4:1: expected a JSON object") != NULL, "%s", mm_error_message());
    cr_assert_eq(mm_jsonl_next(&r, &o), 1);
    const char *s;
    size_t len;
    cr_assert_eq(mm_jsonl_string_field(&r, o, "text", &s, &len), -1);
    cr_assert(strstr(mm_error_message(), ":5: missing field 'text'") != NULL, "%s", mm_error_message());
    json_decref(o);
    cr_assert_eq(mm_jsonl_next(&r, &o), 0);
    mm_jsonl_close(&r);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

// Random byte strings, mostly UTF-8 lead and continuation bytes (valid, cut, overlong, surrogate and
// out-of-range sequences), one hex line each: mm_json_text's text equals Python's
// bytes.decode("utf-8", "replace") (the maximal-subpart rule), byte for byte.
Test(json_text, replaces_invalid_utf8_as_python_does) {
    MM_NEED_PYTHON("binascii");
    enum { N = 3000, MAXLEN = 12 };
    static const unsigned char pool[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                         0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                                         0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
    char *dir = mm_test_tmpdir("jsontext"), *in = mm_test_path(dir, "in.hex"),
         *out = mm_test_path(dir, "out.hex");
    unsigned char bytes[N][MAXLEN];
    int lens[N];
    uint64_t st = 0x5eed;
    FILE *fp = fopen(in, "w");
    cr_assert_not_null(fp);
    for (int i = 0; i < N; i++) {
        lens[i] = (int)(mm_test_urand(&st) * (MAXLEN + 1));
        for (int k = 0; k < lens[i]; k++) {
            bytes[i][k] = pool[(int)(mm_test_urand(&st) * sizeof pool)];
            fprintf(fp, "%02x", bytes[i][k]);
        }
        fputc('\n', fp);
    }
    fclose(fp);
    const char *code =
        "import sys\n"
        "with open(sys.argv[1]) as f, open(sys.argv[2], 'w') as g:\n"
        "    for line in f:\n"
        "        g.write(bytes.fromhex(line.strip()).decode('utf-8', 'replace').encode('utf-8').hex() + "
        "'\\n')\n";
    const char *argv[] = {mm_test_python(), "-c", code, in, out, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "python: %s", r.err);
    mm_proc_result_free(&r);
    fp = fopen(out, "r");
    cr_assert_not_null(fp);
    char want[8 * MAXLEN + 2], got[8 * MAXLEN + 2];
    for (int i = 0; i < N; i++) {
        cr_assert_not_null(fgets(want, sizeof want, fp), "python wrote fewer than %d lines", N);
        want[strcspn(want, "\n")] = '\0';
        json_t *j = mm_json_text((const char *)bytes[i], (size_t)lens[i]);
        cr_assert_not_null(j, "%s", mm_error_message());
        const unsigned char *t = (const unsigned char *)json_string_value(j);
        size_t tl = json_string_length(j), o = 0;
        for (size_t k = 0; k < tl; k++) o += (size_t)snprintf(got + o, sizeof got - o, "%02x", t[k]);
        got[o] = '\0';
        cr_assert_str_eq(got, want, "input %d (%d bytes)", i, lens[i]);
        json_decref(j);
    }
    fclose(fp);
    mm_test_rmtree(dir);
    free(in), free(out), free(dir);
}

Test(cli, version_and_unknown_command) {
    const char *v[] = {MM_MINIMIND_EXE, "--version", NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(v, NULL, &r), 0);
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "backends: cpu") != NULL, "%s", r.out);
#ifdef MM_HAVE_CUDA
    cr_assert(strstr(r.out, "backends: cpu cuda") != NULL, "%s", r.out);
#else
    cr_assert(strstr(r.out, "cuda: not built") != NULL, "%s", r.out);
#endif
    mm_proc_result_free(&r);
    const char *u[] = {MM_MINIMIND_EXE, "frobnicate", NULL};
    cr_assert_eq(mm_test_run(u, NULL, &r), 0);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "minimind: error: unknown command 'frobnicate'") != NULL, "%s", r.err);
    mm_proc_result_free(&r);
}
