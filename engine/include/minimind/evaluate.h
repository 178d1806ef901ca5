// `minimind eval` (the original eval_model.py, made reproducible): for each of the first
// num_samples documents of a JSON Lines file {"text"}: ids = <s> + encode(text) + </s> (truncated to
// max_seq_len + 1); the first prompt_tokens ids are the prompt, the model continues it (KV cache;
// greedy, or temperature/top-p sampling), the next max_new_tokens ids are the reference, and the
// sample's loss is the teacher-forced mean cross-entropy over the whole sequence. Summary: mean
// loss over samples and perplexity = exp(mean loss); also the token-weighted loss.
#ifndef MINIMIND_EVALUATE_H
#define MINIMIND_EVALUATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "minimind/config.h"
#include "minimind/json_text.h"
#include "minimind/tokenizer.h"

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
    const char *facts_path;      // fact recall on this file (NULL = none); see mm_eval_facts
    int facts_max;               // 0 = every fact
    int facts_new_tokens;        // 16
    const char *device;          // auto|cpu|cuda[:N]; NULL = cpu
    const char *bank;           // another memory bank (mm_model_replace_bank's SPEC); NULL = the checkpoint's
    const char *bank_ablation;  // NULL, or a second, quiet pass with the bank replaced by this SPEC:
                                // eval.json "bank_ablation" {"spec", "bank", "summary", "facts"};
                                // MM_BANK_ABLATION_LAYERS: first one pass per memory layer with
                                // that layer's bank empty ("layers": [{"layer", "summary",
                                // "facts"}]), then the whole bank empty
    int retrieval;              // with facts_path: eval.json "retrieval" (mm_retrieval_measure) of the
                                // model as first evaluated: do the lookups find the facts' entries?
} mm_eval_args;

// --bank_ablation: the per-layer sweep (also an [eval] bank_ablation choice).
#define MM_BANK_ABLATION_LAYERS "layers"

void mm_eval_args_default(mm_eval_args *a);
// The ids of one evaluation document (appended to *ids, empty on entry): <s> + encode(text) + </s>,
// at most max_seq_len + 1 of them — the samples of `minimind eval` and the validation documents of
// training (minimind/validation.h) alike. Returns 0 or -1 (message set).
int mm_eval_document_ids(const mm_tokenizer *tok, const char *text, size_t len, int max_seq_len, mm_ids *ids);
// With facts_path, eval.json gets a "facts" object (mm_eval_facts); the text samples are then
// evaluated only when evaluation data is available (--data or the recorded eval_data_path).
int mm_evaluate(const mm_eval_args *a);

// Fact recall: for each {"prompt", "answer"} line of a JSON Lines file (other fields such as
// "lang" and "relation" group the results), the greedy completion of <s> + encode(prompt) (up to
// new_tokens tokens, stopping at </s>) is decoded; it is correct when, leading whitespace removed,
// it begins with the answer and the answer is followed by the end of the completion, whitespace or
// punctuation (ASCII, CJK, fullwidth), or by the first character of the item's optional "suffix"
// (the rest of the sentence) — or, for an answer ending in a digit, by any non-digit ("2010年"). *out (new reference): {"path", "matching", "max_new_tokens", "total", "correct",
// "accuracy", "by_lang": {LANG: {correct, total, accuracy}}, "by_relation": {...}, "items": [{"line",
// "prompt", "answer", "completion", "correct", "lang", "relation"}]}. max_items <= 0: every line.
struct mm_inference;
int mm_eval_facts(struct mm_inference *inf, const char *path, int max_items, int new_tokens, int quiet,
                  json_t **out);
// The decoded text of ids[n] as a JSON string (mm_json_text: invalid UTF-8 becomes U+FFFD); NULL
// (error set) when decoding fails.
json_t *mm_decode_json(const mm_tokenizer *tok, const int32_t *ids, size_t n);
// The matching rule above (exposed for tests). suffix (slen bytes, may be NULL/0) is the item's
// optional "suffix": the rest of the sentence after the answer ("上班。" in "每天早上，X都会去Y上班。").
// The answer followed by the first character of the suffix also matches (so a correct Chinese
// completion that goes on with the sentence counts, while a longer name does not).
int mm_fact_match(const char *completion, size_t clen, const char *answer, size_t alen, const char *suffix,
                  size_t slen);

#endif
