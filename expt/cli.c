// Helpers shared by the expt subcommands (see cli.h).
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

int ex_no_options(const char *cmd, int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-' && argv[i][1]) return ex_usage_error(cmd, "unknown option '%s'", argv[i]);
    return 0;
}

int ex_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

int ex_open_project(ex_project *p, const char *version) {
    if ((version && ex_version_validate(version) != 0) || ex_project_open(p, NULL) != 0) {
        ex_fail();
        return -1;
    }
    return 0;
}
