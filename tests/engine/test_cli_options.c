// The shared option parser (minimind/argparse.h, engine/cli/options.h): run through the real
// `minimind` binary, checking exit statuses and the exact messages, and called directly for what
// the commands cannot show (every kind's bounds, positional order, lists freed on errors).
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "minimind/argparse.h"
#include "minimind/error.h"
#include "test_util.h"

// Runs `minimind ARGS...` (NULL-terminated, at most 15).
static mm_proc_result run(const char *a0, ...) {
    const char *argv[17] = {MM_MINIMIND_EXE, a0};
    va_list ap;
    va_start(ap, a0);
    for (int i = 2; i < 16 && argv[i - 1]; i++) argv[i] = va_arg(ap, const char *);
    va_end(ap);
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0, "cannot start %s", MM_MINIMIND_EXE);
    return r;
}

// A usage error: exit status 2, nothing on stdout, exactly `minimind: error: WHAT (see --help)`.
static void expect_usage(mm_proc_result r, const char *what) {
    char want[512];
    snprintf(want, sizeof want, "minimind: error: %s (see --help)\n", what);
    cr_assert_eq(r.status, 2, "want exit 2 for '%s', got %d: %s", what, r.status, r.err);
    cr_assert_str_eq(r.err, want);
    cr_assert_str_eq(r.out, "");
    mm_proc_result_free(&r);
}

Test(cli_options, equals_form_sets_values) {
    char *dir = mm_test_tmpdir("opt_eq");
    char *out = mm_test_path(dir, "demo"), arg[4200];
    snprintf(arg, sizeof arg, "--out=%s", out);
    mm_proc_result r = run("demo-data", arg, "--seed=7", "--facts=100", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "demo-data: seed 7, 100 facts about "), "%s", r.out);
    char *manifest = mm_test_path(out, "manifest.json");
    cr_assert_eq(access(manifest, F_OK), 0, "--out=DIR is where the files go");
    mm_proc_result_free(&r);
    // The same with "--name VALUE": the same output.
    r = run("demo-data", "--out", out, "--seed", "7", "--facts", "100", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "demo-data: seed 7, 100 facts about "), "%s", r.out);
    mm_proc_result_free(&r);
    // An empty value after '=' is a value, not a missing one.
    expect_usage(run("demo-data", "--out=", NULL), "demo-data: --out DIR must not be empty");
    mm_test_rmtree(dir);
    free(manifest), free(out), free(dir);
}

Test(cli_options, missing_value) {
    expect_usage(run("train", "--out", "x", "--config", NULL), "train: --config needs a value");
    expect_usage(run("tokenizer", "encode", "--tokenizer", NULL),
                 "tokenizer encode: --tokenizer needs a value");
    // The next argument is the value, even when it looks like an option.
    mm_proc_result r = run("tokenizer", "encode", "--tokenizer", "--text", NULL);
    cr_assert_eq(r.status, 1, "'--text' is the tokenizer path: %s", r.err);
    cr_assert(strstr(r.err, "minimind: error: --text"), "%s", r.err);
    mm_proc_result_free(&r);
}

Test(cli_options, unknown_option_and_unexpected_argument) {
    expect_usage(run("prep", "pretrain", "--bogus", "x", NULL), "prep pretrain: unknown option '--bogus'");
    expect_usage(run("prep", "pretrain", "--bogus=x", NULL), "prep pretrain: unknown option '--bogus'");
    expect_usage(run("prep", "knowledge", "--skip-bad", NULL), "prep knowledge: unknown option '--skip-bad'");
    expect_usage(run("demo-data", "-x", NULL), "demo-data: unknown option '-x'");
    // Positional arguments are errors unless the command declares them.
    expect_usage(run("train", "run.ini", NULL), "train: unexpected argument 'run.ini'");
    expect_usage(run("demo-data", "--out", "d", "--", "--facts", NULL),
                 "demo-data: unexpected argument '--facts'");
}

Test(cli_options, bad_integers_and_ranges) {
    expect_usage(run("tokenizer", "encode", "--tokenizer", "t", "--threads", "4x", NULL),
                 "tokenizer encode: --threads: expected an integer in 0..4096, got '4x'");
    expect_usage(run("tokenizer", "encode", "--tokenizer", "t", "--threads", "", NULL),
                 "tokenizer encode: --threads: expected an integer in 0..4096, got ''");
    expect_usage(run("tokenizer", "encode", "--tokenizer", "t", "--repeat", "0", NULL),
                 "tokenizer encode: --repeat: expected an integer in 1..1000, got '0'");
    expect_usage(run("tokenizer", "encode", "--tokenizer", "t", "--repeat", "1001", NULL),
                 "tokenizer encode: --repeat: expected an integer in 1..1000, got '1001'");
    expect_usage(run("tokenizer", "train", "--data", "d", "--out", "o", "--max-bytes", "-1", NULL),
                 "tokenizer train: --max-bytes: expected an integer >= 0, got '-1'");
    expect_usage(
        run("tokenizer", "train", "--data", "d", "--out", "o", "--max-bytes", "9223372036854775808", NULL),
        "tokenizer train: --max-bytes: expected an integer >= 0, got '9223372036854775808'");
    expect_usage(run("prep", "pretrain", "--max-seq-len", "1", NULL),
                 "prep pretrain: --max-seq-len: expected an integer >= 2, got '1'");
    expect_usage(run("prep", "knowledge", "--knowledge-num", "99999999999", NULL),
                 "prep knowledge: --knowledge-num: expected an integer >= 1, got '99999999999'");
    expect_usage(run("demo-data", "--out", "d", "--facts", "12x", NULL),
                 "demo-data: --facts: expected an integer in 100..200000, got '12x'");
    expect_usage(run("demo-data", "--out", "d", "--seed", "+1", NULL),
                 "demo-data: --seed: expected an unsigned 64-bit integer, got '+1'");
    expect_usage(run("generate", "--model_path", "m", "--prompt", "p", "--seed", "-1", NULL),
                 "generate: --seed: expected a number >= 0, got '-1'");
    expect_usage(run("generate", "--model_path", "m", "--prompt", "p", "--top_p", "nan", NULL),
                 "generate: --top_p: expected a number, got 'nan'");
    // The bounds themselves are accepted: the command goes on (and fails on the missing file).
    mm_proc_result r = run("tokenizer", "encode", "--tokenizer", "/nonexistent.json", "--repeat", "1000",
                           "--threads", "0", NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "minimind: error: /nonexistent.json"), "%s", r.err);
    mm_proc_result_free(&r);
}

Test(cli_options, flag_with_value) {
    expect_usage(run("train", "--config", "c", "--out", "o", "--resume=1", NULL),
                 "train: --resume takes no value");
    expect_usage(run("tokenizer", "decode", "--tokenizer", "t", "--raw=", NULL),
                 "tokenizer decode: --raw takes no value");
}

Test(cli_options, required_options_are_named) {
    expect_usage(run("train", NULL), "train: --config FILE.ini and --out DIR are required");
    expect_usage(run("prep", "pretrain", NULL),
                 "prep pretrain: --tokenizer PATH, --data IN.jsonl and --out FILE are required");
    expect_usage(run("prep", "knowledge", "--data", "d", NULL),
                 "prep knowledge: --tokenizer PATH and --out BANK are required");
    expect_usage(run("tokenizer", "train", "--out", "o", NULL),
                 "tokenizer train: --data FILE.jsonl is required");
}

Test(cli_options, repeated_list_keeps_every_value_in_order) {
    char *dir = mm_test_tmpdir("opt_list");
    char *good = mm_test_path(dir, "good.jsonl"), *out = mm_test_path(dir, "tok");
    char *miss1 = mm_test_path(dir, "missing1.jsonl"), *miss2 = mm_test_path(dir, "missing2.jsonl");
    mm_test_write_file(good, "{\"text\":\"hello hello world\"}\n", 29);
    // The first value is kept (the second alone would succeed) ...
    mm_proc_result r = run("tokenizer", "train", "--data", miss1, "--data", good, "--out", out,
                           "--vocab-size", "300", "--threads", "1", NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "missing1.jsonl"), "%s", r.err);
    mm_proc_result_free(&r);
    // ... and so is the second.
    r = run("tokenizer", "train", "--data", good, "--data", miss2, "--out", out, "--vocab-size", "300",
            "--threads", "1", NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "missing2.jsonl"), "%s", r.err);
    mm_proc_result_free(&r);
    // Both good: a tokenizer is written.
    r = run("tokenizer", "train", "--data", good, "--data", good, "--out", out, "--vocab-size", "300",
            "--threads", "1", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    mm_test_rmtree(dir);
    free(good), free(out), free(miss1), free(miss2), free(dir);
}

Test(cli_options, help_prints_usage_on_stdout_and_exits_0) {
    static const char *const cases[][4] = {
        {"prep", "pretrain", "--help"},
        {"prep", "knowledge", "-h"},
        {"demo-data", "--out", "d", "--help"},
        {"tokenizer", "decode", "--help"},
        {"train", "--help"},
        {"generate", "-h"},
        {"eval", "--help"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mm_proc_result r = run(cases[i][0], cases[i][1], cases[i][2], cases[i][3], NULL);
        char want[64];
        snprintf(want, sizeof want, "usage: minimind %s", cases[i][0]);
        cr_assert_eq(r.status, 0, "%s: %s", cases[i][0], r.err);
        cr_assert(!strncmp(r.out, want, strlen(want)), "%s", r.out);
        cr_assert_str_eq(r.err, "");
        mm_proc_result_free(&r);
    }
    // --help stops the parse: a bad option after it is not looked at; one before it is an error.
    mm_proc_result r = run("train", "--help", "--bogus", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    expect_usage(run("train", "--bogus", "--help", NULL), "train: unknown option '--bogus'");
}

Test(cli_options, decode_takes_positional_ids) {
    char *tok;
    MM_NEED_SHARED(tok, "minimind_tokenizer/tokenizer.json");
    // Ids before, between and after options; "--" makes "-5"-like and option-like words ids too.
    mm_proc_result r =
        run("tokenizer", "decode", "42", "--tokenizer", tok, "392", "--raw", "338", "--", "1636", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "Hello world");
    mm_proc_result_free(&r);
    r = run("tokenizer", "decode", "--tokenizer", tok, "42", "--", "--raw", NULL);
    cr_assert_eq(r.status, 1, "after --, '--raw' is an id: %s", r.err);
    cr_assert_str_eq(r.err, "minimind: error: decode: bad token id near '--raw'\n");
    mm_proc_result_free(&r);
    r = run("tokenizer", "decode", "--tokenizer", tok, "-5", NULL);
    cr_assert_eq(r.status, 1, "'-5' is an id, not an option: %s", r.err);
    cr_assert(strstr(r.err, "minimind: error: ") && !strstr(r.err, "unknown option"), "%s", r.err);
    mm_proc_result_free(&r);
    free(tok);
}

// ---- the parser called directly ----

Test(argparse, kinds_bounds_and_positionals) {
    int n = 0, flag = 0;
    long long big = 0;
    uint64_t u = 0;
    double x = 0;
    const char *first = NULL, *second = NULL;
    mm_strlist rest = {0}, list = {0};
    char *argv[] = {"cmd",      "a",
                    "--n=-3",   "b",
                    "--big",    "-9223372036854775808",
                    "--u",      "18446744073709551615",
                    "--x",      "-1e3",
                    "c",        "--list",
                    "1",        "--flag",
                    "--list=2", "--",
                    "-d",       NULL};
    mm_opt opts[] = {
        mm_opt_int("--n", &n, -3, 3),
        mm_opt_i64("--big", &big, LLONG_MIN, LLONG_MAX),
        mm_opt_u64("--u", &u),
        mm_opt_float("--x", &x, -INFINITY, INFINITY),
        mm_opt_flag("--flag", &flag),
        mm_opt_list("--list", &list),
        mm_opt_required(mm_opt_arg("FIRST", &first)),
        mm_opt_arg("SECOND", &second),
        mm_opt_args("REST", &rest),
    };
    cr_assert_eq(mm_opts_parse(17, argv, opts, MM_NOPTS(opts)), 0, "%s", mm_error_message());
    cr_assert_eq(n, -3);
    cr_assert_eq(big, LLONG_MIN);
    cr_assert_eq(u, UINT64_MAX);
    cr_assert_eq(x, -1000.0);
    cr_assert_eq(flag, 1);
    cr_assert_str_eq(first, "a");
    cr_assert_str_eq(second, "b");
    cr_assert_eq(rest.n, 2);
    cr_assert_str_eq(rest.v[0], "c");
    cr_assert_str_eq(rest.v[1], "-d");
    cr_assert_eq(list.n, 2);
    cr_assert_str_eq(list.v[1], "2");
    cr_assert_eq(opts[5].seen, 2, "seen counts the times given");
    mm_strlist_free(&rest);
    mm_strlist_free(&list);

    // Errors: lists filled before are freed (ASan: no leak), the message names what was wrong.
    char *bad[] = {"cmd", "--list", "1", "x", "--u", "18446744073709551616", NULL};
    cr_assert_eq(mm_opts_parse(6, bad, opts, MM_NOPTS(opts)), -1);
    cr_assert_str_eq(mm_error_message(),
                     "--u: expected an unsigned 64-bit integer, got '18446744073709551616'");
    cr_assert_eq(list.n, 0);
    cr_assert_null(list.v);
    char *none[] = {"cmd", "--n", "4", NULL};
    cr_assert_eq(mm_opts_parse(3, none, opts, MM_NOPTS(opts)), -1);
    cr_assert_str_eq(mm_error_message(), "--n: expected an integer in -3..3, got '4'");
    char *missing[] = {"cmd", "--flag", NULL};
    cr_assert_eq(mm_opts_parse(2, missing, opts, MM_NOPTS(opts)), -1);
    cr_assert_str_eq(mm_error_message(), "FIRST is required");
    char *help[] = {"cmd", "x", "--list", "1", "-h", "--bogus", NULL};
    cr_assert_eq(mm_opts_parse(6, help, opts, MM_NOPTS(opts)), MM_OPTS_HELP);
    cr_assert_eq(list.n, 0);
    // A table without positional entries refuses them; "-" is a positional argument.
    char *dash[] = {"cmd", "-", NULL};
    cr_assert_eq(mm_opts_parse(2, dash, opts, 6), -1);
    cr_assert_str_eq(mm_error_message(), "unexpected argument '-'");
}
