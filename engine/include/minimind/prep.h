// `minimind prep pretrain`: JSON Lines {"text": ...} -> token file (minimind/tokfile.h).
// Streams: the input is read in chunks of raw lines; each chunk is parsed and tokenized on all
// cores (OpenMP) while the next one is read, and tokens are written in input order. Memory is bounded by the
// chunk size, whatever the input size. Each document is stored as <s> + encode(text) + </s>.
#ifndef MINIMIND_PREP_H
#define MINIMIND_PREP_H

#include <stdint.h>

#include "minimind/tokenizer.h"

typedef struct mm_prep_pretrain_opts {
    int max_seq_len;       // recorded in the file; documents longer are counted "truncated" (512)
    int threads;           // 0 = all cores
    int skip_bad;          // 1 = skip malformed lines / lines without a string "text" (counted)
    long long chunk_bytes; // text bytes per chunk (default 8 MiB)
    int progress;          // 1 = show progress on stderr (default 1)
} mm_prep_pretrain_opts;

void mm_prep_pretrain_opts_default(mm_prep_pretrain_opts *o);

typedef struct mm_prep_pretrain_stats {
    uint64_t documents;
    uint64_t tokens;
    uint64_t truncated;     // documents with more than max_seq_len tokens (incl. <s>, </s>)
    uint64_t skipped;       // lines skipped with skip_bad
    uint64_t input_bytes;
    double seconds;
} mm_prep_pretrain_stats;

// Writes OUT atomically (nothing appears under OUT on error). Errors name IN:LINE[:COL].
int mm_prep_pretrain(const mm_tokenizer *tok, const char *in_path, const char *out_path,
                     const mm_prep_pretrain_opts *o, mm_prep_pretrain_stats *st);

#endif
