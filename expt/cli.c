// Helpers shared by the expt subcommands (see cli.h).
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "minimind/error.h"

int ex_fail(void) {
    fprintf(stderr, "expt: error: %s\n", mm_error_message());
    return 1;
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

int ex_is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

int ex_open_project(ex_project *p) {
    if (ex_project_open(p, NULL) != 0) {
        ex_fail();
        return -1;
    }
    return 0;
}
