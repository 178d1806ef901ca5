// `minimind eval`: evaluate a checkpoint (minimind/evaluate.h), with the flags of the original
// eval_model.py. Dimensions come from the checkpoint; --dim etc. are accepted and checked.
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "minimind/checkpoint.h"
#include "minimind/config.h"
#include "minimind/error.h"
#include "minimind/evaluate.h"
#include "options.h"

static const char mm_eval_usage[] =
    "usage: minimind eval --model_path CKPT.safetensors [--data FILE.jsonl] [--num_samples 10]\n"
    "                     [--prompt_tokens 30] [--max_new_tokens 100] [--json OUT.json]\n"
    "                     [--sample [--temperature 0.85] [--top_p 0.85] [--seed 42]]\n"
    "                     [--tokenizer PATH] [--model_type T] [--dim N] [--n_layers N]\n"
    "                     [--n_heads N] [--max_seq_len N] [--quiet]\n"
    "                     [--facts FILE.jsonl [--facts_max N] [--facts_new_tokens 16]]\n"
    "                     [--device auto|cpu|cuda[:N]]\n"
    "\n"
    "For each of the first num_samples documents ({\"text\"} lines): the first prompt_tokens tokens\n"
    "are the prompt, the model continues it (greedy unless --sample), the following tokens are the\n"
    "reference; the sample's loss is the teacher-forced mean cross-entropy. Prints each sample and\n"
    "the mean loss and perplexity; --json writes them (eval.json). --data and --tokenizer default\n"
    "to the [data] eval_data_path / tokenizer_path recorded in the checkpoint. Dimension flags are\n"
    "checked against the checkpoint's metadata.\n"
    "\n"
    "--facts FILE: fact recall, for every model type: each {\"prompt\", \"answer\"} line (e.g. the\n"
    "demo's eval_facts.jsonl) is completed greedily (up to --facts_new_tokens tokens); a completion is\n"
    "correct when it begins with the answer followed by its end, a space or punctuation (numbers: any\n"
    "non-digit). Prints the accuracy; eval.json gets \"facts\" (accuracy, by_lang, by_relation, items).\n"
    "With --facts and no evaluation data, or --num_samples 0, only the facts are evaluated.\n";

// Checks the dimension flags given against the checkpoint: `expect` is the checkpoint's own
// configuration with the flags given applied, so only those keys can differ from it.
static int mm_eval_expect(const char *model_path, mm_option *opts, int n, const char *const *keys,
                          mm_run_config *expect, unsigned *mask) {
    int any = 0;
    for (int i = 0; i < n; i++) any |= keys[i] && opts[i].seen;
    *mask = 0;
    if (!any) return 0;
    if (mm_checkpoint_read_config(model_path, expect) != 0) return -1;
    for (int i = 0; i < n; i++) {
        if (!keys[i] || !opts[i].seen) continue;
        char *section = strcmp(keys[i], "model_type") && strcmp(keys[i], "dim") && strcmp(keys[i], "n_layers") &&
                                strcmp(keys[i], "n_heads") && strcmp(keys[i], "max_seq_len")
                            ? "knowledge"
                            : "model";
        if (mm_config_set(expect, section, keys[i], *(const char **)opts[i].dst, 0, opts[i].name) != 0) return -1;
    }
    *mask = MM_CONFIG_ARCH;
    return 0;
}

int mm_cmd_eval(int argc, char **argv) {
    mm_eval_args a;
    mm_eval_args_default(&a);
    const char *model_type = NULL, *dim = NULL, *n_layers = NULL, *n_heads = NULL, *max_seq_len = NULL;
    double seed = 42;
    mm_option opts[] = {
        {"--model_path", MM_OPT_STR, &a.model_path, 0},
        {"--data", MM_OPT_STR, &a.data_path, 0},
        {"--tokenizer", MM_OPT_STR, &a.tokenizer_path, 0},
        {"--json", MM_OPT_STR, &a.json_out, 0},
        {"--num_samples", MM_OPT_INT, &a.num_samples, 0},
        {"--prompt_tokens", MM_OPT_INT, &a.prompt_tokens, 0},
        {"--max_new_tokens", MM_OPT_INT, &a.max_new_tokens, 0},
        {"--sample", MM_OPT_FLAG, &a.sample, 0},
        {"--temperature", MM_OPT_FLOAT, &a.temperature, 0},
        {"--top_p", MM_OPT_FLOAT, &a.top_p, 0},
        {"--seed", MM_OPT_FLOAT, &seed, 0},
        {"--quiet", MM_OPT_FLAG, &a.quiet, 0},
        {"--model_type", MM_OPT_STR, &model_type, 0},
        {"--dim", MM_OPT_STR, &dim, 0},
        {"--n_layers", MM_OPT_STR, &n_layers, 0},
        {"--n_heads", MM_OPT_STR, &n_heads, 0},
        {"--max_seq_len", MM_OPT_STR, &max_seq_len, 0},
        {"--facts", MM_OPT_STR, &a.facts_path, 0},
        {"--facts_max", MM_OPT_INT, &a.facts_max, 0},
        {"--facts_new_tokens", MM_OPT_INT, &a.facts_new_tokens, 0},
        {"--device", MM_OPT_STR, &a.device, 0},
    };
    enum { N_OPTS = sizeof opts / sizeof opts[0] };
    static const char *const keys[N_OPTS] = {[12] = "model_type", [13] = "dim", [14] = "n_layers",
                                            [15] = "n_heads", [16] = "max_seq_len"};
    int rc = mm_options_parse("eval", argc, argv, opts, N_OPTS, mm_eval_usage);
    if (rc == 1) return 0;
    if (rc != 0) return rc;
    if (!a.model_path) return mm_cli_usage_error("eval: --model_path is required (see --help)");
    if (a.num_samples < (a.facts_path ? 0 : 1) || a.prompt_tokens < 1 || a.max_new_tokens < 0)
        return mm_cli_usage_error("eval: --num_samples (0 only with --facts) and --prompt_tokens must be >= 1, "
                                  "--max_new_tokens >= 0");
    if (seed < 0) return mm_cli_usage_error("eval: --seed must be >= 0");
    if (a.facts_max < 0 || a.facts_new_tokens < 1)
        return mm_cli_usage_error("eval: --facts_max must be >= 0 and --facts_new_tokens >= 1");
    a.seed = (uint64_t)seed;
    mm_run_config expect;
    if (mm_eval_expect(a.model_path, opts, N_OPTS, keys, &expect, &a.expect_mask) != 0) return mm_cli_fail();
    a.expect = a.expect_mask ? &expect : NULL;
    if (mm_evaluate(&a) != 0) return mm_cli_fail();
    return 0;
}
