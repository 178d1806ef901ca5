// Table-driven command-line parsing (see minimind/argparse.h).
#include "minimind/argparse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"

// Length of an entry's name without its " PLACEHOLDER".
static int mm_opt_name_len(const mm_opt *o) { return (int)strcspn(o->name, " "); }

static int mm_opt_positional(const mm_opt *o) { return o->kind == MM_OPT_ARG || o->kind == MM_OPT_ARGS; }

// An option is "-x..." or "--x..."; "-", "-5" and "-.5" are positional arguments.
static int mm_looks_like_option(const char *arg) {
    return arg[0] == '-' && arg[1] != '\0' && !(arg[1] >= '0' && arg[1] <= '9') && arg[1] != '.';
}

static mm_opt *mm_opt_find(mm_opt *opts, int n, const char *arg, size_t len) {
    for (int i = 0; i < n; i++)
        if (!mm_opt_positional(&opts[i]) && (size_t)mm_opt_name_len(&opts[i]) == len &&
            !strncmp(opts[i].name, arg, len))
            return &opts[i];
    return NULL;
}

static int mm_strlist_push(mm_strlist *l, const char *s) {
    const char **v = mm_realloc(l->v, sizeof *v * (size_t)(l->n + 1));
    if (!v) return -1;
    l->v = v;
    l->v[l->n++] = s;
    return 0;
}

// "expected an integer in 0..4096, got 'x'" and the like; the range part only names the bounds
// that restrict the type (lo > type_lo, hi < type_hi).
static int mm_int_error(const mm_opt *o, const char *val, long long type_lo, long long type_hi) {
    char range[64] = "";
    if (o->min > type_lo && o->max < type_hi)
        snprintf(range, sizeof range, " in %lld..%lld", o->min, o->max);
    else if (o->min > type_lo)
        snprintf(range, sizeof range, " >= %lld", o->min);
    else if (o->max < type_hi)
        snprintf(range, sizeof range, " <= %lld", o->max);
    return mm_errorf("%.*s: expected an integer%s, got '%s'", mm_opt_name_len(o), o->name, range, val);
}

static int mm_parse_integer(const mm_opt *o, const char *val, long long type_lo, long long type_hi,
                            long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(val, &end, 10);
    if (!*val || *end || errno || x < o->min || x > o->max) return mm_int_error(o, val, type_lo, type_hi);
    *out = x;
    return 0;
}

static int mm_parse_float(const mm_opt *o, const char *val, double *out) {
    char *end;
    errno = 0;
    double x = strtod(val, &end);
    if (*val && !*end && !errno && x >= o->fmin && x <= o->fmax) {
        *out = x;
        return 0;
    }
    char range[64] = "";
    if (o->fmin > -INFINITY && o->fmax < INFINITY)
        snprintf(range, sizeof range, " in %g..%g", o->fmin, o->fmax);
    else if (o->fmin > -INFINITY)
        snprintf(range, sizeof range, " >= %g", o->fmin);
    else if (o->fmax < INFINITY)
        snprintf(range, sizeof range, " <= %g", o->fmax);
    return mm_errorf("%.*s: expected a number%s, got '%s'", mm_opt_name_len(o), o->name, range, val);
}

static int mm_parse_u64(const mm_opt *o, const char *val, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    // A leading digit: strtoull would accept a sign ("-1" wraps) or spaces.
    unsigned long long x = *val >= '0' && *val <= '9' ? strtoull(val, &end, 10) : 0;
    if (!end || *end || errno)
        return mm_errorf("%.*s: expected an unsigned 64-bit integer, got '%s'", mm_opt_name_len(o), o->name,
                         val);
    *out = (uint64_t)x;
    return 0;
}

// Stores one value (of an option or a positional argument) where the entry says.
static int mm_opt_store(mm_opt *o, const char *val) {
    long long x;
    switch (o->kind) {
        case MM_OPT_STR:
        case MM_OPT_ARG:
            *(const char **)o->dst = val;
            return 0;
        case MM_OPT_INT:
            if (mm_parse_integer(o, val, INT_MIN, INT_MAX, &x) != 0) return -1;
            *(int *)o->dst = (int)x;
            return 0;
        case MM_OPT_I64:
            return mm_parse_integer(o, val, LLONG_MIN, LLONG_MAX, (long long *)o->dst);
        case MM_OPT_U64:
            return mm_parse_u64(o, val, (uint64_t *)o->dst);
        case MM_OPT_FLOAT:
            return mm_parse_float(o, val, (double *)o->dst);
        case MM_OPT_LIST:
        case MM_OPT_ARGS:
            return mm_strlist_push((mm_strlist *)o->dst, val);
        case MM_OPT_FLAG:
            *(int *)o->dst = 1;
            return 0;
    }
    return mm_errorf("internal error: option kind %d", (int)o->kind);
}

// One "--name[=VALUE]" argument (its value may be the next one: *i advances past it).
static int mm_parse_option(int argc, char **argv, int *i, mm_opt *opts, int n) {
    const char *arg = argv[*i], *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    mm_opt *o = mm_opt_find(opts, n, arg, len);
    if (!o) return mm_errorf("unknown option '%.*s'", (int)len, arg);
    int name_len = mm_opt_name_len(o);
    o->seen++;
    if (o->kind == MM_OPT_FLAG) {
        if (eq) return mm_errorf("%.*s takes no value", name_len, o->name);
        return mm_opt_store(o, NULL);
    }
    const char *val = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
    if (!val) return mm_errorf("%.*s needs a value", name_len, o->name);
    return mm_opt_store(o, val);
}

// The next entry a positional argument goes to: the first mm_opt_arg not yet filled, else the
// mm_opt_args entry; NULL when the table takes no more.
static mm_opt *mm_next_positional(mm_opt *opts, int n) {
    mm_opt *rest = NULL;
    for (int i = 0; i < n; i++) {
        if (opts[i].kind == MM_OPT_ARG && !opts[i].seen) return &opts[i];
        if (opts[i].kind == MM_OPT_ARGS && !rest) rest = &opts[i];
    }
    return rest;
}

// "--out DIR is required", "--config FILE and --out DIR are required", "A, B and C are required".
static int mm_check_required(const mm_opt *opts, int n) {
    char msg[512] = "";
    size_t len = 0;
    int missing = 0, total = 0;
    for (int i = 0; i < n; i++) total += opts[i].required && !opts[i].seen;
    for (int i = 0; i < n && len < sizeof msg; i++) {
        if (!opts[i].required || opts[i].seen) continue;
        missing++;
        const char *sep = missing == 1 ? "" : missing == total ? " and " : ", ";
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", sep, opts[i].name);
    }
    if (total == 0) return 0;
    return mm_errorf("%s %s required", msg, total == 1 ? "is" : "are");
}

static void mm_opts_free_lists(mm_opt *opts, int n) {
    for (int i = 0; i < n; i++)
        if (opts[i].kind == MM_OPT_LIST || opts[i].kind == MM_OPT_ARGS)
            mm_strlist_free((mm_strlist *)opts[i].dst);
}

int mm_opts_parse(int argc, char **argv, mm_opt *opts, int n_opts) {
    int rc = 0, options_done = 0;
    for (int i = 0; i < n_opts; i++) opts[i].seen = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *arg = argv[i];
        if (!options_done && !strcmp(arg, "--")) {
            options_done = 1;
        } else if (!options_done && (!strcmp(arg, "--help") || !strcmp(arg, "-h"))) {
            rc = MM_OPTS_HELP;
        } else if (!options_done && mm_looks_like_option(arg)) {
            rc = mm_parse_option(argc, argv, &i, opts, n_opts);
        } else {
            mm_opt *o = mm_next_positional(opts, n_opts);
            if (!o) {
                rc = mm_errorf("unexpected argument '%s'", arg);
            } else {
                o->seen++;
                rc = mm_opt_store(o, arg);
            }
        }
    }
    if (rc == 0) rc = mm_check_required(opts, n_opts);
    if (rc != 0) mm_opts_free_lists(opts, n_opts);
    return rc;
}

void mm_strlist_free(mm_strlist *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}
