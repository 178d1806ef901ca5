// `minimind train`: train a model from an INI configuration (minimind/trainer.h).
#include <stdio.h>

#include "commands.h"
#include "minimind/error.h"
#include "minimind/trainer.h"
#include "options.h"

static const char mm_train_usage[] =
    "usage: minimind train --config FILE.ini --out DIR [--set SECTION.KEY=VALUE ...] [--resume]\n"
    "\n"
    "Trains the model the configuration describes ([model] [data] [knowledge] [train] [eval]).\n"
    "Writes DIR/config.ini (resolved), metrics.jsonl, progress.json and pretrain_{dim}.safetensors\n"
    "(+ .state.safetensors for --resume) at most save_interval steps apart and at the end.\n"
    "  --set S.K=V  override one key (repeatable), e.g. --set train.batch_size=8\n"
    "  --resume     continue from DIR's checkpoint; the losses are bit-identical to an\n"
    "               uninterrupted run\n"
    "Exit status: 0 finished, 1 error, 2 usage, 3 stopped by SIGTERM/SIGINT (checkpoint saved),\n"
    "4 the loss, gradient norm or weights became NaN/Inf (the last checkpoint, saved before, is kept).\n";

int mm_cmd_train(int argc, char **argv) {
    const char *config = NULL, *out = NULL;
    int resume = 0;
    mm_strlist sets = {0};
    mm_opt opts[] = {
        mm_opt_required(mm_opt_str("--config FILE.ini", &config)),
        mm_opt_required(mm_opt_str("--out DIR", &out)),
        mm_opt_list("--set", &sets),
        mm_opt_flag("--resume", &resume),
    };
    int rc = mm_cli_parse("train", mm_train_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    mm_train_args a = {.config_path = config, .out_dir = out, .overrides = sets.v, .n_overrides = sets.n,
                       .resume = resume};
    int status = mm_train(&a);
    if (status == MM_EXIT_ERROR || status == MM_EXIT_NAN) mm_cli_fail();
    mm_strlist_free(&sets);
    return status;
}
