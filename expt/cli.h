// Helpers shared by the expt subcommands (expt/cli.c): option parsing (the table-driven parser of
// minimind/argparse.h with expt's messages), `expt: error: ...` messages, opening the project.
#ifndef EXPT_CLI_H
#define EXPT_CLI_H

#include "minimind/argparse.h"
#include "minimind/error.h"
#include "project.h"

// What ex_parse_args returns when the command goes on.
#define EX_CONTINUE (-1)

// Parses `expt CMD ...` (argv[0] is the subcommand's name) against the table. --help / -h: prints
// usage on stdout and returns 0. A usage error: prints `expt: error: WHAT (see `expt CMD --help`)`
// and returns 2. Otherwise returns EX_CONTINUE. On 0 and 2 the lists the table names are freed:
//   int rc = ex_parse_args("run", ex_run_usage, argc, argv, opts, MM_NOPTS(opts));
//   if (rc != EX_CONTINUE) return rc;
int ex_parse_args(const char *cmd, const char *usage, int argc, char **argv, mm_opt *opts, int n_opts);
// The same for a command whose only argument is one version X.Y.Z (stored in *version).
int ex_parse_version(const char *cmd, const char *usage, int argc, char **argv, const char **version);

// Prints `expt: error: <mm_error_message()>` and returns 1.
int ex_fail(void);
// Prints `expt: error: MESSAGE` (the current mm_error_message() when fmt is NULL).
void ex_error(const char *fmt, ...) MM_PRINTF(1, 2);
// Prints `expt: error: MESSAGE (see `expt CMD --help`)` and returns 2.
int ex_usage_error(const char *cmd, const char *fmt, ...) MM_PRINTF(2, 3);
// Validates `version` (NULL: skip) and opens the project from the current directory; prints the
// error and returns -1 on failure.
int ex_open_project(ex_project *p, const char *version);

#endif
