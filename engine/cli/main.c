// `minimind`: entry point and subcommand dispatch (git-style: `minimind SUBCOMMAND [options]`).
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "minimind/device.h"
#include "minimind/error.h"

static const mm_command mm_commands[] = {
    {"tokenizer", "train a byte-level BPE tokenizer; encode or decode text", mm_cmd_tokenizer},
    {"prep", "prepare data: `prep pretrain` (token file), `prep knowledge` (memory bank)", mm_cmd_prep},
    {"demo-data", "generate the built-in demo corpus (facts about invented entities)", mm_cmd_demo_data},
    {"train", "train a model from an INI configuration (resumable)", mm_cmd_train},
    {"eval", "evaluate a checkpoint: prompt continuations, loss, perplexity", mm_cmd_eval},
    {"generate", "generate text from a checkpoint for a free-form prompt", mm_cmd_generate},
    {"bench", "benchmark training steps: tokens/s, GFLOP/s, MFU", mm_cmd_bench},
    {"memory", "inspect the memory layer: inspect, dump, diff; cluster the key grid", mm_cmd_memory},
};
static const int mm_n_commands = (int)(sizeof mm_commands / sizeof mm_commands[0]);

int mm_cli_fail(void) {
    fprintf(stderr, "minimind: error: %s\n", mm_error_message());
    return 1;
}

int mm_cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("minimind: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

static void mm_print_usage(FILE *out) {
    fprintf(out, "usage: minimind [--version] [--help] COMMAND [options]\n\ncommands:\n");
    for (int i = 0; i < mm_n_commands; i++)
        fprintf(out, "  %-12s %s\n", mm_commands[i].name, mm_commands[i].summary);
    fprintf(out, "\n`minimind COMMAND --help` describes a command.\n");
}

static int mm_print_version(void) {
    const char *why = NULL;
    printf("minimind %s\n", MM_VERSION_STRING);
    printf("backends: cpu%s\n", mm_cuda_built() ? " cuda" : "");
    if (!mm_cuda_built()) {
        mm_cuda_device_count(&why);
        printf("cuda: not built (%s)\n", why);
        return 0;
    }
    int n = mm_cuda_device_count(&why);
    if (n == 0) printf("cuda: built; no usable device (%s)\n", why);
    for (int i = 0; i < n; i++) {
        char name[256];
        if (mm_cuda_device_name(i, name, sizeof name) == 0) printf("cuda:%d: %s\n", i, name);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        mm_print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) return mm_print_version();
    for (int i = 0; i < mm_n_commands; i++)
        if (!strcmp(argv[1], mm_commands[i].name)) return mm_commands[i].run(argc - 1, argv + 1);
    return mm_cli_usage_error("unknown command '%s' (see `minimind --help`)", argv[1]);
}
