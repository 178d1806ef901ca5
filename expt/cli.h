// Helpers shared by the expt subcommands (expt/cli.c): `expt: error: ...` messages, usage errors,
// --help, opening the project.
#ifndef EXPT_CLI_H
#define EXPT_CLI_H

#include "minimind/error.h"
#include "project.h"

// Prints `expt: error: <mm_error_message()>` and returns 1.
int ex_fail(void);
// Prints `expt: error: MESSAGE` (the current mm_error_message() when fmt is NULL).
void ex_error(const char *fmt, ...) MM_PRINTF(1, 2);
// Prints `expt: error: MESSAGE (see `expt CMD --help`)` and returns 2.
int ex_usage_error(const char *cmd, const char *fmt, ...) MM_PRINTF(2, 3);
// For commands without options: prints a usage error and returns 2 when an argument starts with
// '-' (an option this command does not have), else returns 0.
int ex_no_options(const char *cmd, int argc, char **argv);
// 1 when an argument after the subcommand name is --help or -h.
int ex_wants_help(int argc, char **argv);
// Validates `version` (NULL: skip) and opens the project from the current directory; prints the
// error and returns -1 on failure.
int ex_open_project(ex_project *p, const char *version);

#endif
