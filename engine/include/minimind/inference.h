// Inference on a checkpoint: load the model (dimensions from the safetensors metadata) and its
// tokenizer, generate with the KV cache, score sequences. Used by `eval` and `generate`.
#ifndef MINIMIND_INFERENCE_H
#define MINIMIND_INFERENCE_H

#include <stdint.h>

#include "minimind/config.h"
#include "minimind/model.h"
#include "minimind/sampler.h"
#include "minimind/tokenizer.h"

typedef struct mm_inference {
    mm_run_config cfg;  // from the checkpoint's metadata
    mm_model model;
    mm_tokenizer *tok;
} mm_inference;

// Loads MODEL_PATH. tokenizer_path NULL/"" = [data] tokenizer_path recorded in the checkpoint.
// `expect` (may be NULL) holds values given on the command line: the keys in `expect_mask` must
// equal the checkpoint's, otherwise an error names the first differing key.
int mm_inference_open(mm_inference *inf, const char *model_path, const char *tokenizer_path,
                      const mm_run_config *expect, unsigned expect_mask);
// Same, computing on the device named `device` (auto|cpu|cuda[:N]; NULL = cpu), see mm_backend_select.
int mm_inference_open_on(mm_inference *inf, const char *device, const char *model_path, const char *tokenizer_path,
                         const mm_run_config *expect, unsigned expect_mask);
void mm_inference_close(mm_inference *inf);

// Called with each generated token (return non-zero to stop early).
typedef int (*mm_token_cb)(void *user, int32_t id);

// Continues prompt (n_prompt >= 1 ids) by up to max_new tokens, stopping after </s> (which is
// not appended) or at max_seq_len. Appends the new ids to out.
int mm_generate(mm_inference *inf, const int32_t *prompt, int n_prompt, int max_new, mm_sampler *s, mm_ids *out,
                mm_token_cb cb, void *user);

// Teacher-forced mean cross-entropy of ids[1..n) given ids[0..n-1) (n >= 2, n - 1 <= max_seq_len).
int mm_sequence_loss(mm_inference *inf, const int32_t *ids, int n, double *loss);

#endif
