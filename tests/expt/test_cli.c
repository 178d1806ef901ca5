// `expt` option parsing (expt/cli.h over minimind/argparse.h): usage errors exit 2 with exactly
// `expt: error: WHAT (see `expt CMD --help`)`, before any project is opened.
#include <stdio.h>
#include <string.h>

#include "test_util.h"

typedef struct usage_case {
    const char *what;     // the message between "expt: error: " and " (see ...)"
    const char *args[6];  // the subcommand and its arguments
} usage_case;

static void expect_usage(const usage_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *argv[8] = {MM_EXPT_EXE};
        memcpy(argv + 1, cases[i].args, sizeof cases[i].args);
        mm_proc_result r;
        cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
        char want[512];
        snprintf(want, sizeof want, "expt: error: %s (see `expt %s --help`)\n", cases[i].what,
                 cases[i].args[0]);
        cr_assert_eq(r.status, 2, "%s: exit %d: %s", cases[i].what, r.status, r.err);
        cr_assert_str_eq(r.err, want);
        cr_assert_str_eq(r.out, "");
        mm_proc_result_free(&r);
    }
}

Test(expt_cli, positional_arguments_are_counted) {
    static const usage_case cases[] = {
        {"X.Y.Z is required", {"run", "--foreground"}},
        {"unexpected argument '2.0.0'", {"run", "1.0.0", "2.0.0"}},
        {"X.Y.Z is required", {"diff", "1.0.0"}},
        {"A.B.C and X.Y.Z are required", {"diff"}},
        {"FILE.md is required", {"fill", "1.0.0"}},
        {"unexpected argument 'x'", {"list", "x"}},
        {"unexpected argument 'x'", {"init", "x"}},
        {"unexpected argument '1.0.1'", {"status", "1.0.0", "1.0.1"}},
    };
    expect_usage(cases, sizeof cases / sizeof cases[0]);
}

Test(expt_cli, option_values_are_checked) {
    static const usage_case cases[] = {
        {"-n: expected an integer >= 0, got 'x'", {"logs", "1.0.0", "-n", "x"}},
        {"-n needs a value", {"logs", "1.0.0", "-n"}},
        {"--timeout: expected a number >= 0, got '-1'", {"stop", "1.0.0", "--timeout", "-1"}},
        {"--lock-fd: expected an integer in 0..1023, got '1024'", {"supervise", "1.0.0", "--lock-fd=1024"}},
        {"--dry-run takes no value", {"run", "1.0.0", "--dry-run=yes"}},
        {"--from needs a value", {"new", "1.0.0", "--from"}},
        {"unknown option '-x'", {"status", "-x"}},
    };
    expect_usage(cases, sizeof cases / sizeof cases[0]);
}
