// Option parsing for `minimind` subcommands: the shared table-driven parser (minimind/argparse.h)
// with the engine's messages, `minimind: error: CMD: WHAT (see --help)`.
#ifndef MINIMIND_CLI_OPTIONS_H
#define MINIMIND_CLI_OPTIONS_H

#include "minimind/argparse.h"

// What mm_cli_parse returns when the command goes on.
#define MM_CLI_CONTINUE (-1)

// Parses `minimind CMD ...` (argv[0] is the subcommand's name; cmd names it in messages, e.g.
// "tokenizer encode"). --help / -h: prints usage on stdout and returns 0. A usage error: prints
// `minimind: error: CMD: WHAT (see --help)` and returns 2. Otherwise returns MM_CLI_CONTINUE.
// On 0 and 2 the lists the table names are already freed, so the command just returns:
//   int rc = mm_cli_parse("train", mm_train_usage, argc, argv, opts, MM_NOPTS(opts));
//   if (rc != MM_CLI_CONTINUE) return rc;
int mm_cli_parse(const char *cmd, const char *usage, int argc, char **argv, mm_opt *opts, int n_opts);

#endif
