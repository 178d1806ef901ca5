// TEMPORARY scaffold, replaced by the real subcommand.
#include "commands.h"
int mm_cmd_bench(int argc, char **argv) { (void)argc; return mm_cli_usage_error("%s: not built yet", argv[0]); }
