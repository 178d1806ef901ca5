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
    "                     [--bank empty|empty@L[,L...]|shuffle[:SEED]|FILE.bank]\n"
    "                     [--bank_ablation empty|empty@L[,L...]|layers|shuffle[:SEED]|FILE.bank]\n"
    "                     [--retrieval]\n"
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
    "With --facts and no evaluation data, or --num_samples 0, only the facts are evaluated.\n"
    "\n"
    "--bank SPEC (model / model_no_feed): evaluate with another memory bank, keys and weights unchanged:\n"
    "\"empty\" (all padding: every read returns nothing), \"empty@L[,L...]\" (only the 0-based layers\n"
    "listed read an empty bank, the others their own), \"shuffle[:SEED]\" (the entries' texts permuted\n"
    "over the keys) or a bank from `prep knowledge` of the model's shape (placed by the model's cluster\n"
    "cache, if it was trained with one). eval.json gets \"bank\". What the loss and the recall lose\n"
    "against the model's own bank is what the model reads from it. --bank_ablation SPEC evaluates\n"
    "twice: as given, then (quietly, losses without continuations) with the bank replaced by SPEC;\n"
    "eval.json gets \"bank_ablation\" (its bank, summary and fact recall) and one line compares\n"
    "the two. --bank_ablation layers: which layers read their bank? One quiet pass per memory layer\n"
    "(layers already muted by --bank empty@L are skipped), that layer alone reading an empty bank\n"
    "(\"bank_ablation\".\"layers\"), then one with the whole bank empty.\n"
    "\n"
    "--retrieval (memory models, with --facts): also `minimind memory retrieval` on the facts, for the\n"
    "model as first evaluated: per layer, whether the lookup reads the entry that states each fact\n"
    "(items need a fact_id; the bank's mapping file gives its row). eval.json gets \"retrieval\".\n";

// The dimension flags of the original eval_model.py: checked against the checkpoint's metadata.
typedef struct mm_eval_dim_flag {
    const char *section, *key;
    const char *value;  // NULL when not given
} mm_eval_dim_flag;

// `expect` is the checkpoint's own configuration with the flags given applied, so only those keys
// can differ from it.
static int mm_eval_expect(const char *model_path, const mm_eval_dim_flag *flags, int n, mm_run_config *expect,
                          unsigned *mask) {
    int any = 0;
    for (int i = 0; i < n; i++) any |= flags[i].value != NULL;
    *mask = 0;
    if (!any) return 0;
    if (mm_checkpoint_read_config(model_path, expect) != 0) return -1;
    for (int i = 0; i < n; i++) {
        char origin[64];
        snprintf(origin, sizeof origin, "--%s", flags[i].key);
        if (flags[i].value && mm_config_set(expect, flags[i].section, flags[i].key, flags[i].value, 0, origin) != 0)
            return -1;
    }
    *mask = MM_CONFIG_ARCH;
    return 0;
}

int mm_cmd_eval(int argc, char **argv) {
    mm_eval_args a;
    mm_eval_args_default(&a);
    mm_eval_dim_flag dims[] = {{"model", "model_type", NULL}, {"model", "dim", NULL},
                               {"model", "n_layers", NULL},    {"model", "n_heads", NULL},
                               {"model", "max_seq_len", NULL}};
    mm_opt opts[] = {
        mm_opt_required(mm_opt_str("--model_path CKPT", &a.model_path)),
        mm_opt_str("--data FILE", &a.data_path),
        mm_opt_str("--tokenizer PATH", &a.tokenizer_path),
        mm_opt_str("--json OUT", &a.json_out),
        mm_opt_int("--num_samples", &a.num_samples, 0, 1 << 30),
        mm_opt_int("--prompt_tokens", &a.prompt_tokens, 1, 1 << 30),
        mm_opt_int("--max_new_tokens", &a.max_new_tokens, 0, 1 << 30),
        mm_opt_flag("--sample", &a.sample),
        mm_opt_float("--temperature", &a.temperature, 0.0, 1e6),
        mm_opt_float("--top_p", &a.top_p, 0.0, 1.0),
        mm_opt_u64("--seed", &a.seed),
        mm_opt_flag("--quiet", &a.quiet),
        mm_opt_str("--model_type T", &dims[0].value),
        mm_opt_str("--dim N", &dims[1].value),
        mm_opt_str("--n_layers N", &dims[2].value),
        mm_opt_str("--n_heads N", &dims[3].value),
        mm_opt_str("--max_seq_len N", &dims[4].value),
        mm_opt_str("--facts FILE", &a.facts_path),
        mm_opt_int("--facts_max", &a.facts_max, 0, 1 << 30),
        mm_opt_int("--facts_new_tokens", &a.facts_new_tokens, 1, 1 << 30),
        mm_opt_str("--device D", &a.device),
        mm_opt_str("--bank SPEC", &a.bank),
        mm_opt_str("--bank_ablation SPEC", &a.bank_ablation),
        mm_opt_flag("--retrieval", &a.retrieval),
    };
    int rc = mm_cli_parse("eval", mm_eval_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    if (a.num_samples < 1 && !a.facts_path)
        return mm_cli_usage_error("eval: --num_samples must be >= 1 (0 only with --facts) (see --help)");
    if (a.retrieval && !a.facts_path)
        return mm_cli_usage_error("eval: --retrieval needs --facts FILE (items with a fact_id) (see --help)");
    mm_run_config expect;
    if (mm_eval_expect(a.model_path, dims, (int)(sizeof dims / sizeof dims[0]), &expect, &a.expect_mask) != 0)
        return mm_cli_fail();
    a.expect = a.expect_mask ? &expect : NULL;
    if (mm_evaluate(&a) != 0) return mm_cli_fail();
    return 0;
}
