// Table-driven command-line parsing shared by `minimind` and `expt` (git's parse-options in
// miniature). A command lists its options in a table built with the mm_opt_* constructors below;
// mm_opts_parse() fills the variables they point to:
//   - "--name VALUE" or "--name=VALUE" (also "-n VALUE" for a short name); flags take no value;
//   - typed values: integers in a range, unsigned 64-bit integers, numbers, repeatable options;
//   - positional arguments only where the table declares them (mm_opt_arg / mm_opt_args): by
//     default a positional argument is an error;
//   - "--" ends the options; "-" and negative numbers ("-5") are positional arguments;
//   - --help / -h stops the parse (the caller prints its usage).
// Errors set the message (mm_errorf) without a program prefix, naming the option and the value:
// "--threads: expected an integer in 0..4096, got 'x'". Each program prints them its own way
// (engine/cli/options.h: `minimind: error: CMD: ...`, expt/cli.h: `expt: error: ...`).
//
//   int threads = 0, json = 0;
//   const char *path = NULL;
//   mm_opt opts[] = {
//       mm_opt_required(mm_opt_str("--tokenizer PATH", &path)),
//       mm_opt_int("--threads", &threads, 0, 4096),
//       mm_opt_flag("--json", &json),
//   };
//   int rc = mm_opts_parse(argc, argv, opts, MM_NOPTS(opts));
#ifndef MINIMIND_ARGPARSE_H
#define MINIMIND_ARGPARSE_H

#include <limits.h>
#include <math.h>
#include <stdint.h>

typedef enum mm_opt_kind {
    MM_OPT_STR,    // const char **dst: the value (argv's own string)
    MM_OPT_INT,    // int *dst: a decimal integer in [min, max]
    MM_OPT_FLOAT,  // double *dst: a number in [fmin, fmax]
    MM_OPT_FLAG,   // int *dst = 1; takes no value
    MM_OPT_LIST,   // mm_strlist *dst: every value, in order (repeatable)
    MM_OPT_I64,    // long long *dst: a decimal integer in [min, max]
    MM_OPT_U64,    // uint64_t *dst: an unsigned decimal integer (no sign)
    MM_OPT_ARG,    // const char **dst: the next positional argument
    MM_OPT_ARGS,   // mm_strlist *dst: every remaining positional argument
} mm_opt_kind;

// Strings taken from argv (not copied); free the array with mm_strlist_free().
typedef struct mm_strlist {
    const char **v;
    int n;
} mm_strlist;

// One entry of a command's table. Other options of the same kind given twice: the last one counts.
typedef struct mm_opt {
    // "--threads", "-n"; may end in " PLACEHOLDER" ("--out DIR"), which messages show. For a
    // positional argument: its placeholder ("X.Y.Z", "ID").
    const char *name;
    mm_opt_kind kind;
    void *dst;
    long long min, max;  // MM_OPT_INT / MM_OPT_I64: the values accepted
    double fmin, fmax;   // MM_OPT_FLOAT: the values accepted
    int required;        // absent: a usage error (mm_opt_required)
    int seen;            // set by the parser: how many times it was given
} mm_opt;

#define MM_NOPTS(table) ((int)(sizeof(table) / sizeof((table)[0])))

static inline mm_opt mm_opt_str(const char *name, const char **dst) {
    return (mm_opt){.name = name, .kind = MM_OPT_STR, .dst = dst};
}
static inline mm_opt mm_opt_int(const char *name, int *dst, int min, int max) {
    return (mm_opt){.name = name, .kind = MM_OPT_INT, .dst = dst, .min = min, .max = max};
}
static inline mm_opt mm_opt_i64(const char *name, long long *dst, long long min, long long max) {
    return (mm_opt){.name = name, .kind = MM_OPT_I64, .dst = dst, .min = min, .max = max};
}
static inline mm_opt mm_opt_u64(const char *name, uint64_t *dst) {
    return (mm_opt){.name = name, .kind = MM_OPT_U64, .dst = dst};
}
// fmin = -INFINITY and fmax = INFINITY: any number (NaN is never accepted).
static inline mm_opt mm_opt_float(const char *name, double *dst, double fmin, double fmax) {
    return (mm_opt){.name = name, .kind = MM_OPT_FLOAT, .dst = dst, .fmin = fmin, .fmax = fmax};
}
static inline mm_opt mm_opt_flag(const char *name, int *dst) {
    return (mm_opt){.name = name, .kind = MM_OPT_FLAG, .dst = dst};
}
static inline mm_opt mm_opt_list(const char *name, mm_strlist *dst) {
    return (mm_opt){.name = name, .kind = MM_OPT_LIST, .dst = dst};
}
// Positional arguments fill the table's mm_opt_arg entries in order, then its mm_opt_args entry.
static inline mm_opt mm_opt_arg(const char *placeholder, const char **dst) {
    return (mm_opt){.name = placeholder, .kind = MM_OPT_ARG, .dst = dst};
}
static inline mm_opt mm_opt_args(const char *placeholder, mm_strlist *dst) {
    return (mm_opt){.name = placeholder, .kind = MM_OPT_ARGS, .dst = dst};
}
// The entry, made required: "--out DIR is required" when it is absent.
static inline mm_opt mm_opt_required(mm_opt o) {
    o.required = 1;
    return o;
}

// Parses argv[1..argc) against the table (argv[0] is the command's name). Returns 0 when every
// argument was taken, MM_OPTS_HELP when --help or -h came (what follows is not looked at), or -1 on
// a usage error (mm_error_message() says what). On MM_OPTS_HELP and -1 the lists the table names
// are already freed.
#define MM_OPTS_HELP 1
int mm_opts_parse(int argc, char **argv, mm_opt *opts, int n_opts);

void mm_strlist_free(mm_strlist *l);

#endif
