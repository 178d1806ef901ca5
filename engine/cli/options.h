// Shared option parsing for `minimind` subcommands: "--name VALUE" and "--name=VALUE", typed,
// table-driven, with messages that name the option.
#ifndef MINIMIND_CLI_OPTIONS_H
#define MINIMIND_CLI_OPTIONS_H

typedef enum mm_opt_kind {
    MM_OPT_STR,    // const char **dst
    MM_OPT_INT,    // int *dst (full-string check)
    MM_OPT_FLOAT,  // double *dst
    MM_OPT_FLAG,   // int *dst = 1, takes no value
    MM_OPT_LIST,   // mm_strlist *dst, repeatable
} mm_opt_kind;

typedef struct mm_strlist {
    const char **v;
    int n;
} mm_strlist;

typedef struct mm_option {
    const char *name;  // "--config"
    mm_opt_kind kind;
    void *dst;
    int seen;          // set by the parser when the option was given
} mm_option;

// Parses argv[1..argc) against opts. Returns 0 (ok), 1 (--help: usage printed to stdout) or 2
// (usage error: printed as `minimind: error: CMD: ...`). Positional arguments are an error.
int mm_options_parse(const char *cmd, int argc, char **argv, mm_option *opts, int n_opts, const char *usage);
void mm_strlist_free(mm_strlist *l);

#endif
