// Does the memory's lookup find the entry that states a fact? (`minimind memory retrieval`,
// docs/memory.md). For each fact item {"prompt", "fact_id", ...} (the demo's fact files), the
// entry of the knowledge bank that states it is the bank row whose mapping line has
// "index" == fact_id (BANK.mapping.jsonl, written by `prep knowledge`); the model reads <s> +
// prompt, and for every layer the probe looks at the K entries each position reads: a read "finds
// the fact" when its entry holds that row's text (its token ids; the model's bank, wherever
// training placed the row, duplicates included). Per layer: how many facts are found at the
// answer position (the prompt's last token, which predicts the answer) and at any position of the
// prompt, and the mean read weight on the fact at the answer position (and on empty entries, which
// read nothing), beside what uniformly random reads would find (K/N per position). Facts whose
// text is in no entry of the model's bank (rewritten by EMA, or past knowledge_num) are counted
// apart. A layer muted by `eval --bank empty@L` reads nothing: no fact, all its weight on nothing
// (as on empty entries); its summary says "muted".
#ifndef MINIMIND_MEMORY_RETRIEVAL_H
#define MINIMIND_MEMORY_RETRIEVAL_H

#include <jansson.h>

#include "minimind/inference.h"

typedef struct mm_retrieval_args {
    const char *model_path;      // checkpoint of a memory variant (required)
    const char *facts_path;      // JSON Lines {"prompt", "fact_id", ...} (required)
    const char *bank_path;       // the bank file the facts' rows come from; NULL/"" = the
                                 // checkpoint's [knowledge] database_init_path
    const char *tokenizer_path;  // NULL/"" = the checkpoint's [data] tokenizer_path
    const char *json_out;        // NULL, or retrieval.json: {"model_path", "facts", "in_bank", "num",
                           // "empty_entries", "candidates", "chance": {"found_at_answer", "found_in_prompt"},
                           // "layers": [{"layer", "found_at_answer", "found_in_prompt",
                           // "mean_weight_at_answer", "mean_empty_weight_at_answer"}],
                           // "items": [{"fact_id", "prompt", "bank_row", "in_bank", "layers":
                           // [{"layer", "found_at_answer", "weight_at_answer",
                           // "found_in_prompt", "empty_weight_at_answer"}]}]}
    int facts_max;               // 0 = every item
} mm_retrieval_args;

// Prints one line per layer; 0, or -1 with the error set (files and lines named).
int mm_memory_retrieval(const mm_retrieval_args *a);

// The measurement on an open model (as `eval --retrieval` has it, its bank possibly replaced):
// *out (new reference) = {"facts", "in_bank", "num", "empty_entries", "candidates", "chance",
// "layers"}, with
// "items" when with_items. bank_path NULL/"" = the checkpoint's database_init_path. 0 or -1.
int mm_retrieval_measure(mm_inference *inf, const char *facts_path, const char *bank_path, int facts_max,
                         int with_items, json_t **out);
// Before measuring: a memory model, and a bank file with its mapping beside it (bank_path, or the
// checkpoint's database_init_path). 0, or -1 with the error set.
int mm_retrieval_check(const mm_inference *inf, const char *bank_path);
// Prints a summary as `memory retrieval` does.
void mm_retrieval_print(const json_t *r);

#endif
