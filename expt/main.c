// `expt`: entry point and subcommand dispatch (git-style porcelain over the run files).
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const ex_command ex_commands[] = {
    {"init", "set up templates/, experiment/, run_file/ and expt.ini in a repository", ex_cmd_init},
    {"new", "create experiment X.Y.Z from the templates (--from A.B.C copies its configuration)", ex_cmd_new},
    {"fill", "fill human/AI fields of a record from a Markdown file (prepared examples)", ex_cmd_fill},
    {"check", "the quality gates of an experiment, each with its reason", ex_cmd_check},
    {"run", "snapshot git, launch the supervised run, evaluate, fill the record", ex_cmd_run},
    {"status", "state, progress, loss and ETA of one or all experiments", ex_cmd_status},
    {"list", "one line per experiment", ex_cmd_list},
    {"logs", "show (-f: follow) an experiment's log", ex_cmd_logs},
    {"stop", "stop a running experiment gracefully (the engine saves first)", ex_cmd_stop},
    {"resume", "resume a stopped or crashed experiment from its checkpoint", ex_cmd_resume},
    {"eval", "run the mandatory evaluation of an experiment", ex_cmd_eval},
    {"report", "regenerate the machine-owned sections of records and experiment/INDEX.md", ex_cmd_report},
    {"diff", "compare two experiments: configuration, metrics, code, loss curves", ex_cmd_diff},
    {"commit", "commit a qualified experiment's record, run files and assets", ex_cmd_commit},
};
static const int ex_n_commands = (int)(sizeof ex_commands / sizeof ex_commands[0]);

static void ex_print_usage(FILE *out) {
    fprintf(out, "usage: expt [--version] [--help] COMMAND [options]\n\ncommands:\n");
    for (int i = 0; i < ex_n_commands; i++) fprintf(out, "  %-8s %s\n", ex_commands[i].name, ex_commands[i].summary);
    fprintf(out, "\n`expt COMMAND --help` describes a command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        ex_print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("expt %s\n", EX_VERSION_STRING);
        return 0;
    }
    if (!strcmp(argv[1], "supervise")) return ex_cmd_supervise(argc - 1, argv + 1);
    for (int i = 0; i < ex_n_commands; i++)
        if (!strcmp(argv[1], ex_commands[i].name)) return ex_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "expt: error: unknown command '%s' (see `expt --help`)\n", argv[1]);
    return 2;
}
