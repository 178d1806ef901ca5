// `minimind train`: train a model from an INI configuration (minimind/trainer.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "minimind/error.h"
#include "minimind/trainer.h"
#include "options.h"

static const char mm_train_usage[] =
    "usage: minimind train --config FILE.ini --out DIR [--set SECTION.KEY=VALUE ...] [--resume]\n"
    "                      [--device auto|cpu|cuda[:N]] [--precision bf16|fp16|fp32]\n"
    "\n"
    "Trains the model the configuration describes ([model] [data] [knowledge] [train] [eval]).\n"
    "Writes DIR/config.ini (resolved), metrics.jsonl, progress.json and pretrain_{dim}.safetensors\n"
    "(+ .state.safetensors for --resume) at most save_interval steps apart and at the end.\n"
    "  --set S.K=V  override one key (repeatable), e.g. --set train.batch_size=8\n"
    "  --resume     continue from DIR's checkpoint; the losses are bit-identical to an\n"
    "               uninterrupted run\n"
    "  --device D   = --set train.device=D: auto (the GPU when one works, else the CPU with one\n"
    "               line saying why), cpu, cuda or cuda:N\n"
    "  --precision P  = --set train.mixed_precision=P (the CPU computes in fp32 whatever is asked)\n"
    "Exit status: 0 finished, 1 error, 2 usage, 3 stopped by SIGTERM/SIGINT (checkpoint saved),\n"
    "4 the loss, gradient norm or weights became NaN/Inf (the last checkpoint, saved before, is kept).\n";

// The --set overrides followed by those of --device / --precision (malloc'd strings in *owned).
static const char **mm_train_overrides(const mm_strlist *sets, const char *device, const char *precision, int *n,
                                       char *owned[2]) {
    const char **v = mm_calloc((size_t)sets->n + 2, sizeof *v);
    if (!v) return NULL;
    *n = 0;
    for (int i = 0; i < sets->n; i++) v[(*n)++] = sets->v[i];
    const char *keys[2] = {"train.device", "train.mixed_precision"}, *vals[2] = {device, precision};
    owned[0] = owned[1] = NULL;
    for (int k = 0; k < 2; k++) {
        if (!vals[k]) continue;
        size_t len = strlen(keys[k]) + strlen(vals[k]) + 2;
        if (!(owned[k] = mm_malloc(len))) {
            free(v);
            return NULL;
        }
        snprintf(owned[k], len, "%s=%s", keys[k], vals[k]);
        v[(*n)++] = owned[k];
    }
    return v;
}

int mm_cmd_train(int argc, char **argv) {
    const char *config = NULL, *out = NULL, *device = NULL, *precision = NULL;
    int resume = 0;
    mm_strlist sets = {0};
    mm_opt opts[] = {
        mm_opt_required(mm_opt_str("--config FILE.ini", &config)),
        mm_opt_required(mm_opt_str("--out DIR", &out)),
        mm_opt_list("--set", &sets),
        mm_opt_flag("--resume", &resume),
        mm_opt_str("--device D", &device),
        mm_opt_str("--precision P", &precision),
    };
    int rc = mm_cli_parse("train", mm_train_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    char *owned[2] = {NULL, NULL};
    int n = 0;
    const char **overrides = mm_train_overrides(&sets, device, precision, &n, owned);
    int status = MM_EXIT_ERROR;
    if (overrides) {
        mm_train_args a = {.config_path = config, .out_dir = out, .overrides = overrides, .n_overrides = n,
                           .resume = resume};
        status = mm_train(&a);
    }
    if (status == MM_EXIT_ERROR || status == MM_EXIT_NAN) mm_cli_fail();
    free(owned[0]), free(owned[1]);
    free(overrides);
    mm_strlist_free(&sets);
    return status;
}
