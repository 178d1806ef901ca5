// Shared pieces of the run-half subcommands (see runcmd.h).
#include "runcmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ex_rc_error(const char *fmt, ...) {
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

int ex_rc_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

int ex_rc_open(ex_project *p, const char *version) {
    if (version && ex_version_validate(version) != 0) {
        ex_rc_error(NULL);
        return -1;
    }
    if (ex_project_open(p, NULL) != 0) {
        ex_rc_error(NULL);
        return -1;
    }
    return 0;
}

int ex_rc_usage(const char *usage, const char *fmt, ...) {
    fputs("expt: error: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage);
    return 2;
}
