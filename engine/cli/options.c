// Option parsing for `minimind` subcommands (see options.h).
#include "options.h"

#include <stdio.h>

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
