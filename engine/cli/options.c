// Option parsing for `minimind` subcommands (see options.h).
#include "options.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "minimind/error.h"

int mm_cli_parse(const char *cmd, const char *usage, int argc, char **argv, mm_opt *opts, int n_opts) {
    int rc = mm_opts_parse(argc, argv, opts, n_opts);
    if (rc == MM_OPTS_HELP) {
        fputs(usage, stdout);
        return 0;
    }
    if (rc != 0) return mm_cli_usage_error("%s: %s (see --help)", cmd, mm_error_message());
    return MM_CLI_CONTINUE;
}

static mm_opt mm_option_to_opt(const mm_option *o) {
    switch (o->kind) {
    case MM_OPT_INT: return mm_opt_int(o->name, o->dst, INT_MIN, INT_MAX);
    case MM_OPT_FLOAT: return mm_opt_float(o->name, o->dst, -INFINITY, INFINITY);
    default: return (mm_opt){.name = o->name, .kind = o->kind, .dst = o->dst};
    }
}

int mm_options_parse(const char *cmd, int argc, char **argv, mm_option *opts, int n_opts, const char *usage) {
    mm_opt *t = mm_calloc((size_t)n_opts + 1, sizeof *t);
    if (!t) return mm_cli_usage_error("%s: %s", cmd, mm_error_message());
    for (int i = 0; i < n_opts; i++) t[i] = mm_option_to_opt(&opts[i]);
    int rc = mm_cli_parse(cmd, usage, argc, argv, t, n_opts);
    for (int i = 0; i < n_opts; i++) opts[i].seen = t[i].seen > 0;
    free(t);
    return rc == MM_CLI_CONTINUE ? 0 : rc == 0 ? 1 : rc;
}
