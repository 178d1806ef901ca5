// The `minimind` subcommands: one file each (cli/cmd_NAME.c), dispatched from cli/main.c.
// Each returns the process exit status; on error it has already printed
// `minimind: error: ...` via mm_cli_fail().
#ifndef MINIMIND_CLI_COMMANDS_H
#define MINIMIND_CLI_COMMANDS_H

typedef struct mm_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);  // argv[0] is the subcommand name
} mm_command;

int mm_cmd_tokenizer(int argc, char **argv);
int mm_cmd_prep(int argc, char **argv);
int mm_cmd_demo_data(int argc, char **argv);
int mm_cmd_train(int argc, char **argv);
int mm_cmd_eval(int argc, char **argv);
int mm_cmd_generate(int argc, char **argv);
int mm_cmd_bench(int argc, char **argv);
int mm_cmd_memory(int argc, char **argv);

// Prints "minimind: error: <current engine error message>" and returns 1.
int mm_cli_fail(void);
// Prints "minimind: error: <formatted>" and returns 2 (usage errors).
int mm_cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
