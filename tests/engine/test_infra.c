// Engine infrastructure: atomic writes, the JSON Lines reader's error positions, the CLI.
#include <criterion/criterion.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/jsonl.h"
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
