// Shared option parsing (see options.h).
#include "options.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static mm_option *mm_find_option(mm_option *opts, int n, const char *arg, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, arg, len)) return &opts[i];
    return NULL;
}

static int mm_option_store(const char *cmd, mm_option *o, const char *val) {
    char *end;
    errno = 0;
    switch (o->kind) {
    case MM_OPT_STR:
        *(const char **)o->dst = val;
        return 0;
    case MM_OPT_INT: {
        long x = strtol(val, &end, 10);
        if (!*val || *end || errno || x < INT_MIN || x > INT_MAX)
            return mm_cli_usage_error("%s: %s: expected an integer, got '%s'", cmd, o->name, val);
        *(int *)o->dst = (int)x;
        return 0;
    }
    case MM_OPT_FLOAT: {
        double x = strtod(val, &end);
        if (!*val || *end || errno) return mm_cli_usage_error("%s: %s: expected a number, got '%s'", cmd, o->name, val);
        *(double *)o->dst = x;
        return 0;
    }
    case MM_OPT_LIST: {
        mm_strlist *l = o->dst;
        const char **nv = realloc(l->v, sizeof *nv * (size_t)(l->n + 1));
        if (!nv) return mm_cli_usage_error("%s: out of memory", cmd);
        l->v = nv;
        l->v[l->n++] = val;
        return 0;
    }
    case MM_OPT_FLAG:
        break;
    }
    return 0;
}

int mm_options_parse(const char *cmd, int argc, char **argv, mm_option *opts, int n_opts, const char *usage) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            fputs(usage, stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0)
            return mm_cli_usage_error("%s: unexpected argument '%s' (see --help)", cmd, arg);
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        mm_option *o = mm_find_option(opts, n_opts, arg, len);
        if (!o) return mm_cli_usage_error("%s: unknown option '%.*s' (see --help)", cmd, (int)len, arg);
        o->seen = 1;
        if (o->kind == MM_OPT_FLAG) {
            if (eq) return mm_cli_usage_error("%s: %s takes no value", cmd, o->name);
            *(int *)o->dst = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) return mm_cli_usage_error("%s: %s needs a value", cmd, o->name);
        if (mm_option_store(cmd, o, val) != 0) return 2;
    }
    return 0;
}

void mm_strlist_free(mm_strlist *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}
