// Helpers shared by the expt subcommands (expt/cli.c): error printing and project opening.
#ifndef EXPT_CLI_H
#define EXPT_CLI_H

#include "project.h"

#if defined(__GNUC__)
#define EX_CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define EX_CLI_PRINTF(a, b)
#endif

// Prints `expt: error: <mm_error_message()>` and returns 1.
int ex_fail(void);
// Prints `expt: error: <message>` (+ a hint to --help) and returns 2.
int ex_usage_error(const char *cmd, const char *fmt, ...) EX_CLI_PRINTF(2, 3);
// 1 when argv[i] is --help or -h.
int ex_is_help(const char *arg);
// Opens the project from the current directory; prints the error and returns -1 on failure.
int ex_open_project(ex_project *p);

#endif
