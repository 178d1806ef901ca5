// TEMPORARY scaffold, replaced by the real subcommand.
#include <stdio.h>
#include "commands.h"
int ex_cmd_commit(int argc, char **argv) { (void)argc; fprintf(stderr, "expt: error: %s: not built yet\n", argv[0]); return 2; }
