// Small pieces shared by the run-half subcommands (run, resume, supervise, status, list, logs,
// stop, eval, commit): option scanning, opening the project, printing errors as `expt: error:`.
#ifndef EXPT_RUNCMD_H
#define EXPT_RUNCMD_H

#include "minimind/error.h"
#include "project.h"

// Prints `expt: error: MESSAGE` (the current mm_error_message() when fmt is NULL) to stderr.
void ex_rc_error(const char *fmt, ...) MM_PRINTF(1, 2);
// 1 when argv holds --help or -h.
int ex_rc_wants_help(int argc, char **argv);
// Opens the project from the current directory and validates `version` (NULL: skip); prints the
// error and returns -1 on failure.
int ex_rc_open(ex_project *p, const char *version);
// Prints a usage error (`expt: error: ...` + usage) and returns 2.
int ex_rc_usage(const char *usage, const char *fmt, ...) MM_PRINTF(2, 3);

#endif
