// `expt` option parsing (expt/cli.h over minimind/argparse.h): usage errors exit 2 with exactly
// `expt: error: WHAT (see `expt CMD --help`)`, before any project is opened.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"

// Runs `expt CMD ARGS...` (NULL-terminated, at most 8 words) and checks a usage error.
static void expect_usage(const char *what, const char *cmd, ...) {
    const char *argv[10] = {MM_EXPT_EXE, cmd};
    va_list ap;
    va_start(ap, cmd);
    for (int i = 2; i < 9 && argv[i - 1]; i++) argv[i] = va_arg(ap, const char *);
    va_end(ap);
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    char want[512];
    snprintf(want, sizeof want, "expt: error: %s (see `expt %s --help`)\n", what, cmd);
    cr_assert_eq(r.status, 2, "%s: exit %d: %s", cmd, r.status, r.err);
    cr_assert_str_eq(r.err, want);
    cr_assert_str_eq(r.out, "");
    mm_proc_result_free(&r);
}

Test(expt_cli, positional_arguments_are_counted) {
    expect_usage("X.Y.Z is required", "run", "--foreground", NULL);
    expect_usage("unexpected argument '2.0.0'", "run", "1.0.0", "2.0.0", NULL);
    expect_usage("X.Y.Z is required", "diff", "1.0.0", NULL);
    expect_usage("A.B.C and X.Y.Z are required", "diff", NULL);
    expect_usage("FILE.md is required", "fill", "1.0.0", NULL);
    expect_usage("unexpected argument 'x'", "list", "x", NULL);
    expect_usage("unexpected argument 'x'", "init", "x", NULL);
    expect_usage("unexpected argument '1.0.1'", "status", "1.0.0", "1.0.1", NULL);
}

Test(expt_cli, option_values_are_checked) {
    expect_usage("-n: expected an integer >= 0, got 'x'", "logs", "1.0.0", "-n", "x", NULL);
    expect_usage("-n needs a value", "logs", "1.0.0", "-n", NULL);
    expect_usage("--timeout: expected a number >= 0, got '-1'", "stop", "1.0.0", "--timeout", "-1", NULL);
    expect_usage("--lock-fd: expected an integer in 0..1023, got '1024'", "supervise", "1.0.0", "--lock-fd=1024",
                 NULL);
    expect_usage("--dry-run takes no value", "run", "1.0.0", "--dry-run=yes", NULL);
    expect_usage("--from needs a value", "new", "1.0.0", "--from", NULL);
    expect_usage("unknown option '-x'", "status", "-x", NULL);
}
