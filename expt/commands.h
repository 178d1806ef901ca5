// The `expt` subcommands: one file each (expt/cmd_NAME.c), dispatched from expt/main.c.
// Each returns the process exit status and prints its own errors as `expt: error: ...`.
#ifndef EXPT_COMMANDS_H
#define EXPT_COMMANDS_H

typedef struct ex_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);  // argv[0] is the subcommand name
} ex_command;

int ex_cmd_init(int argc, char **argv);
int ex_cmd_new(int argc, char **argv);
int ex_cmd_fill(int argc, char **argv);
int ex_cmd_check(int argc, char **argv);
int ex_cmd_run(int argc, char **argv);
int ex_cmd_status(int argc, char **argv);
int ex_cmd_list(int argc, char **argv);
int ex_cmd_logs(int argc, char **argv);
int ex_cmd_stop(int argc, char **argv);
int ex_cmd_resume(int argc, char **argv);
int ex_cmd_eval(int argc, char **argv);
int ex_cmd_report(int argc, char **argv);
int ex_cmd_diff(int argc, char **argv);
int ex_cmd_commit(int argc, char **argv);
// Internal: the detached supervisor process started by `expt run` (not listed in --help).
int ex_cmd_supervise(int argc, char **argv);

#endif
