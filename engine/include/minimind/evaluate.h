// `minimind eval` (the original eval_model.py, made reproducible): for each of the first
// num_samples documents of a JSON Lines file {"text"}: ids = <s> + encode(text) + </s> (truncated to
// max_seq_len + 1); the first prompt_tokens ids are the prompt, the model continues it (KV cache;
// greedy, or temperature/top-p sampling), the next max_new_tokens ids are the reference, and the
// sample's loss is the teacher-forced mean cross-entropy over the whole sequence. Summary: mean
// loss over samples and perplexity = exp(mean loss); also the token-weighted loss.
#ifndef MINIMIND_EVALUATE_H
#define MINIMIND_EVALUATE_H

#include <stdint.h>

#include "minimind/config.h"

typedef struct mm_eval_args {
    const char *model_path;
    const char *data_path;       // NULL = [data] eval_data_path of the checkpoint
    const char *tokenizer_path;  // NULL = [data] tokenizer_path of the checkpoint
    const char *json_out;        // NULL = no eval.json
    int num_samples;             // 10
    int prompt_tokens;           // 30
    int max_new_tokens;          // 100
    int sample;                  // 0 greedy, 1 temperature/top-p sampling
    double temperature, top_p;   // 0.85, 0.85 (as the original)
    uint64_t seed;
    int quiet;                   // 1: no per-sample text on stdout
    const mm_run_config *expect; // command-line dimensions to check against the checkpoint (or NULL)
    unsigned expect_mask;
} mm_eval_args;

void mm_eval_args_default(mm_eval_args *a);
int mm_evaluate(const mm_eval_args *a);

#endif
