// The validation loss during training ([train] eval_interval): the mean over the first
// eval_samples documents of [data] eval_data_path of each document's teacher-forced mean
// cross-entropy, the documents prepared exactly as `minimind eval` prepares its samples
// (<s> + encode(text) + </s>, truncated to max_seq_len + 1 ids), so the value at a step equals
// `minimind eval --num_samples eval_samples`'s mean_loss on that step's checkpoint when eval runs
// on the same device and precision. The model's
// training state is left as it was: no Gumbel noise, no reads added to the memory usage tracker
// or the EMA window, the parameters and gradients untouched — a run trains the same with and
// without validation.
#ifndef MINIMIND_VALIDATION_H
#define MINIMIND_VALIDATION_H

#include <stdint.h>

#include "minimind/model.h"
#include "minimind/tokenizer.h"

typedef struct mm_validation {
    int n;          // documents
    int32_t **ids;  // n sequences of len[i] ids (>= 2 each)
    int *len;
    long tokens;  // sum of len[i] - 1: the predicted tokens
} mm_validation;

// Tokenizes the first max_docs {"text"} documents of path (blank lines skipped; errors name the
// file, line and field). An empty file is an error.
int mm_validation_open(mm_validation *v, const char *path, const mm_tokenizer *tok, int max_docs,
                       int max_seq_len);
void mm_validation_free(mm_validation *v);
// *mean_loss: the mean of the documents' losses with the model's current parameters; *stderr_loss
// its standard error (minimind/stats.h; NaN for one document).
int mm_validation_loss(const mm_validation *v, mm_model *m, double *mean_loss, double *stderr_loss);

#endif
