// Pretraining batches from a token file (minimind/tokfile.h), exactly MiniMind's PretrainDataset:
// for document d with stored ids s = <s> + encode(text) + </s>,
//   ids  = s truncated to L = max_seq_len, right-padded with 0 (<unk>, the pad id) to L
//   X    = ids[0 .. L-2], Y = ids[1 .. L-1], loss_mask = (Y != 0)      each (T,), T = L - 1
//
// Order: epoch e visits the documents in a permutation drawn from (seed, e) (or in file order
// with shuffle = 0). Every rank draws the same permutation and takes the positions
// rank, rank + world_size, ...; each rank gets floor(n_docs / world_size) samples per epoch (the
// remainder, different documents each epoch, is left out so all ranks run the same number of
// steps). Ranks therefore see disjoint documents that together cover the epoch.
// The position (epoch, index within the rank's epoch) is saved and restored for an exact resume.
#ifndef MINIMIND_DATALOADER_H
#define MINIMIND_DATALOADER_H

#include <jansson.h>
#include <stdint.h>

#include "minimind/tokfile.h"

typedef struct mm_dataloader_opts {
    int batch_size;   // B (default 32)
    int max_seq_len;  // L; 0 = the token file's max_seq_len. T = L - 1
    uint64_t seed;    // shuffle seed (default 42)
    int shuffle;      // 1 = shuffle documents each epoch (default), 0 = file order
    int drop_last;    // 1 = skip a final partial batch of an epoch (default 0)
    int rank;         // this process's rank, 0 <= rank < world_size (default 0)
    int world_size;   // number of processes (default 1)
} mm_dataloader_opts;

void mm_dataloader_opts_default(mm_dataloader_opts *o);

// Where the loader is; restoring it makes the next batch the one that would have come next.
// seed, n_docs, rank and world_size are checked on restore (a mismatch is an error).
typedef struct mm_data_pos {
    uint64_t epoch;
    uint64_t index;   // samples of this rank's epoch already handed out
    uint64_t seed;
    uint64_t n_docs;
    int rank;
    int world_size;
} mm_data_pos;

// One batch. Rows [rows, B) of a final partial batch are all zero (mask 0).
typedef struct mm_batch {
    int B, T;
    int rows;          // valid rows (B except possibly the last batch of an epoch)
    int32_t *x;        // (B, T)
    int32_t *y;        // (B, T)
    float *loss_mask;  // (B, T) 1.0 where y != 0
    uint64_t *doc;     // (B,) document index of each row (for tests and debugging)
} mm_batch;

typedef struct mm_dataloader mm_dataloader;

// Opens (mmaps) a token file. Errors name the file. Returns 0 or -1.
int mm_dataloader_open(mm_dataloader **out, const char *path, const mm_dataloader_opts *o);
void mm_dataloader_close(mm_dataloader *dl);

// The token file (header: vocab size, counts).
const mm_tokfile *mm_dataloader_file(const mm_dataloader *dl);
// Samples / full-or-partial batches per epoch for this rank.
uint64_t mm_dataloader_samples_per_epoch(const mm_dataloader *dl);
uint64_t mm_dataloader_batches_per_epoch(const mm_dataloader *dl);

// Allocates b for this loader's B and T. Returns 0 or -1.
int mm_batch_alloc(mm_batch *b, const mm_dataloader *dl);
void mm_batch_free(mm_batch *b);

// Fills b with the next batch of the current epoch and returns 1. At the end of an epoch returns
// 0 without filling b and moves to the start of the next epoch (the next call continues there).
// Returns -1 on error (a token id outside the vocabulary).
int mm_dataloader_next(mm_dataloader *dl, mm_batch *b);

// Fills one sample (X, Y, mask each (T,)) of document d, independent of the order.
int mm_dataloader_sample(const mm_dataloader *dl, uint64_t d, int32_t *x, int32_t *y, float *mask);

void mm_dataloader_get_pos(const mm_dataloader *dl, mm_data_pos *pos);
// Moves to pos. Errors when pos belongs to another seed/file/rank layout or is out of range.
int mm_dataloader_set_pos(mm_dataloader *dl, const mm_data_pos *pos);

// {"epoch":..,"index":..,"seed":..,"n_docs":..,"rank":..,"world_size":..}; NULL on failure.
json_t *mm_data_pos_to_json(const mm_data_pos *pos);
// Parses the object above; errors name the field (`what` prefixes the message, e.g. a path).
int mm_data_pos_from_json(const json_t *j, const char *what, mm_data_pos *pos);

#endif
