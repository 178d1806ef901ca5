// Helpers shared by the expt subcommands (see cli.h).
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>

int ex_parse_args(const char *cmd, const char *usage, int argc, char **argv, mm_opt *opts, int n_opts) {
    int rc = mm_opts_parse(argc, argv, opts, n_opts);
    if (rc == MM_OPTS_HELP) {
        fputs(usage, stdout);
        return 0;
    }
    if (rc != 0) return ex_usage_error(cmd, "%s", mm_error_message());
    return EX_CONTINUE;
}

int ex_parse_version(const char *cmd, const char *usage, int argc, char **argv, const char **version) {
    mm_opt opts[] = {mm_opt_required(mm_opt_arg("X.Y.Z", version))};
    return ex_parse_args(cmd, usage, argc, argv, opts, MM_NOPTS(opts));
}

int ex_fail(void) {
    fprintf(stderr, "expt: error: %s\n", mm_error_message());
    return 1;
}

void ex_error(const char *fmt, ...) {
    fputs("expt: error: ", stderr);
    if (!fmt) {
        fputs(mm_error_message(), stderr);
    } else {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
}

int ex_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("expt: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see `expt %s --help`)\n", cmd);
    va_end(ap);
    return 2;
}

int ex_open_project(ex_project *p, const char *version) {
    if ((version && ex_version_validate(version) != 0) || ex_project_open(p, NULL) != 0) {
        ex_fail();
        return -1;
    }
    return 0;
}
