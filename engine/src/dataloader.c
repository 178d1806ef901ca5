// Pretraining batches from a token file (see minimind/dataloader.h).
#include "minimind/dataloader.h"

#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "minimind/splitmix.h"

struct mm_dataloader {
    mm_tokfile tf;
    char *path;
    mm_dataloader_opts o;
    int L, T;
    uint64_t per_rank;  // samples per epoch for this rank
    uint64_t *perm;     // (n_docs,) the current epoch's document order
    uint64_t perm_epoch;
    int perm_valid;
    uint64_t epoch, index;
};

void mm_dataloader_opts_default(mm_dataloader_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch_size = 32;
    o->seed = 42;
    o->shuffle = 1;
    o->world_size = 1;
}

// Fisher-Yates with a splitmix64 stream seeded from (seed, epoch): the same on every rank.
static void mm_make_perm(mm_dataloader *dl, uint64_t epoch) {
    uint64_t n = dl->tf.h.n_docs;
    for (uint64_t i = 0; i < n; i++) dl->perm[i] = i;
    if (dl->o.shuffle) {
        uint64_t s = dl->o.seed ^ (0xD1B54A32D192ED03ull * (epoch + 1));
        for (uint64_t i = n; i > 1; i--) {
            uint64_t j = mm_splitmix64(&s) % i;
            uint64_t t = dl->perm[i - 1];
            dl->perm[i - 1] = dl->perm[j];
            dl->perm[j] = t;
        }
    }
    dl->perm_epoch = epoch;
    dl->perm_valid = 1;
}

int mm_dataloader_open(mm_dataloader **out, const char *path, const mm_dataloader_opts *o) {
    *out = NULL;
    if (o->batch_size < 1) return mm_errorf("%s: batch_size %d must be >= 1", path, o->batch_size);
    if (o->world_size < 1 || o->rank < 0 || o->rank >= o->world_size)
        return mm_errorf("%s: rank %d outside world size %d", path, o->rank, o->world_size);
    mm_dataloader *dl = mm_calloc(1, sizeof *dl);
    if (!dl) return -1;
    dl->o = *o;
    if (mm_tokfile_open(&dl->tf, path) != 0 || !(dl->path = mm_strdup(path))) {
        mm_dataloader_close(dl);
        return -1;
    }
    dl->L = o->max_seq_len > 0 ? o->max_seq_len : (int)dl->tf.h.max_seq_len;
    if (dl->L < 2) {
        mm_errorf("%s: max_seq_len %d must be >= 2 (X and Y are L-1 tokens long)", path, dl->L);
        mm_dataloader_close(dl);
        return -1;
    }
    dl->T = dl->L - 1;
    dl->per_rank = dl->tf.h.n_docs / (uint64_t)o->world_size;
    if (dl->per_rank == 0) {
        mm_errorf("%s: %llu documents cannot be split over %d ranks", path,
                  (unsigned long long)dl->tf.h.n_docs, o->world_size);
        mm_dataloader_close(dl);
        return -1;
    }
    dl->perm = mm_malloc(sizeof(uint64_t) * dl->tf.h.n_docs);
    if (!dl->perm) {
        mm_dataloader_close(dl);
        return -1;
    }
    *out = dl;
    return 0;
}

void mm_dataloader_close(mm_dataloader *dl) {
    if (!dl) return;
    mm_tokfile_close(&dl->tf);
    free(dl->perm);
    free(dl->path);
    free(dl);
}

const mm_tokfile *mm_dataloader_file(const mm_dataloader *dl) { return &dl->tf; }
uint64_t mm_dataloader_samples_per_epoch(const mm_dataloader *dl) { return dl->per_rank; }

uint64_t mm_dataloader_batches_per_epoch(const mm_dataloader *dl) {
    uint64_t B = (uint64_t)dl->o.batch_size;
    return dl->o.drop_last ? dl->per_rank / B : (dl->per_rank + B - 1) / B;
}

int mm_batch_alloc(mm_batch *b, const mm_dataloader *dl) {
    memset(b, 0, sizeof *b);
    b->B = dl->o.batch_size;
    b->T = dl->T;
    size_t n = (size_t)b->B * (size_t)b->T;
    b->x = mm_malloc(n * sizeof *b->x);
    b->y = mm_malloc(n * sizeof *b->y);
    b->loss_mask = mm_malloc(n * sizeof *b->loss_mask);
    b->doc = mm_malloc((size_t)b->B * sizeof *b->doc);
    if (!b->x || !b->y || !b->loss_mask || !b->doc) {
        mm_batch_free(b);
        return -1;
    }
    return 0;
}

void mm_batch_free(mm_batch *b) {
    free(b->x);
    free(b->y);
    free(b->loss_mask);
    free(b->doc);
    memset(b, 0, sizeof *b);
}

int mm_dataloader_sample(const mm_dataloader *dl, uint64_t d, int32_t *x, int32_t *y, float *mask) {
    if (d >= dl->tf.h.n_docs)
        return mm_errorf("%s: document %llu out of range (%llu documents)", dl->path,
                         (unsigned long long)d, (unsigned long long)dl->tf.h.n_docs);
    size_t len;
    const uint16_t *s = mm_tokfile_doc(&dl->tf, d, &len);
    size_t L = (size_t)dl->L, T = (size_t)dl->T;
    if (len > L) len = L;  // truncation=True
    for (size_t i = 0; i < len; i++)
        if (s[i] >= dl->tf.h.vocab_size)
            return mm_errorf("%s: document %llu: token id %u outside the vocabulary (size %u)", dl->path,
                             (unsigned long long)d, s[i], dl->tf.h.vocab_size);
    // ids[t] = s[t] for t < len, 0 (padding) after: X = ids[0..T), Y = ids[1..L).
    for (size_t t = 0; t < T; t++) {
        x[t] = t < len ? s[t] : 0;
        y[t] = t + 1 < len ? s[t + 1] : 0;
        mask[t] = y[t] != 0 ? 1.0f : 0.0f;
    }
    return 0;
}

int mm_dataloader_next(mm_dataloader *dl, mm_batch *b) {
    uint64_t B = (uint64_t)dl->o.batch_size, left = dl->per_rank - dl->index;
    if (left == 0 || (dl->o.drop_last && left < B)) {
        dl->epoch++;
        dl->index = 0;
        return 0;
    }
    if (!dl->perm_valid || dl->perm_epoch != dl->epoch) mm_make_perm(dl, dl->epoch);
    int rows = (int)(left < B ? left : B);
    size_t T = (size_t)dl->T, W = (size_t)dl->o.world_size, r = (size_t)dl->o.rank;
    for (int i = 0; i < rows; i++) {
        uint64_t d = dl->perm[(dl->index + (uint64_t)i) * W + r];
        b->doc[i] = d;
        if (mm_dataloader_sample(dl, d, b->x + i * T, b->y + i * T, b->loss_mask + i * T) != 0) return -1;
    }
    size_t used = (size_t)rows * T, total = (size_t)b->B * T;
    memset(b->x + used, 0, (total - used) * sizeof *b->x);
    memset(b->y + used, 0, (total - used) * sizeof *b->y);
    memset(b->loss_mask + used, 0, (total - used) * sizeof *b->loss_mask);
    for (int i = rows; i < b->B; i++) b->doc[i] = UINT64_MAX;
    b->rows = rows;
    dl->index += (uint64_t)rows;
    return 1;
}

void mm_dataloader_get_pos(const mm_dataloader *dl, mm_data_pos *pos) {
    pos->epoch = dl->epoch;
    pos->index = dl->index;
    pos->seed = dl->o.seed;
    pos->n_docs = dl->tf.h.n_docs;
    pos->rank = dl->o.rank;
    pos->world_size = dl->o.world_size;
}

int mm_dataloader_set_pos(mm_dataloader *dl, const mm_data_pos *pos) {
    if (pos->seed != dl->o.seed)
        return mm_errorf("%s: saved data position has seed %llu, the loader uses %llu", dl->path,
                         (unsigned long long)pos->seed, (unsigned long long)dl->o.seed);
    if (pos->n_docs != dl->tf.h.n_docs)
        return mm_errorf("%s: saved data position is for %llu documents, the file has %llu", dl->path,
                         (unsigned long long)pos->n_docs, (unsigned long long)dl->tf.h.n_docs);
    if (pos->rank != dl->o.rank || pos->world_size != dl->o.world_size)
        return mm_errorf("%s: saved data position is for rank %d of %d, the loader is rank %d of %d",
                         dl->path, pos->rank, pos->world_size, dl->o.rank, dl->o.world_size);
    if (pos->index > dl->per_rank)
        return mm_errorf("%s: saved data position index %llu beyond the epoch (%llu samples)", dl->path,
                         (unsigned long long)pos->index, (unsigned long long)dl->per_rank);
    dl->epoch = pos->epoch;
    dl->index = pos->index;
    return 0;
}

json_t *mm_data_pos_to_json(const mm_data_pos *pos) {
    json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:i, s:i}", "epoch", (json_int_t)pos->epoch, "index",
                          (json_int_t)pos->index, "seed", (json_int_t)pos->seed, "n_docs",
                          (json_int_t)pos->n_docs, "rank", pos->rank, "world_size", pos->world_size);
    if (!j) mm_errorf("data position: cannot build JSON");
    return j;
}

static int mm_pos_field(const json_t *j, const char *what, const char *key, json_int_t *v) {
    json_t *f = json_object_get(j, key);
    if (!f || !json_is_integer(f)) return mm_errorf("%s: field '%s': missing or not an integer", what, key);
    *v = json_integer_value(f);
    return 0;
}

int mm_data_pos_from_json(const json_t *j, const char *what, mm_data_pos *pos) {
    if (!json_is_object(j)) return mm_errorf("%s: data position is not a JSON object", what);
    json_int_t v[6];
    static const char *keys[6] = {"epoch", "index", "seed", "n_docs", "rank", "world_size"};
    for (int i = 0; i < 6; i++)
        if (mm_pos_field(j, what, keys[i], &v[i]) != 0) return -1;
    for (int i = 0; i < 6; i++)
        if (i != 2 && v[i] < 0) return mm_errorf("%s: field '%s': negative", what, keys[i]);
    if (v[4] > 1 << 30 || v[5] > 1 << 30) return mm_errorf("%s: field 'rank'/'world_size' out of range", what);
    pos->epoch = (uint64_t)v[0];
    pos->index = (uint64_t)v[1];
    pos->seed = (uint64_t)v[2];  // stored as its two's-complement int64 value
    pos->n_docs = (uint64_t)v[3];
    pos->rank = (int)v[4];
    pos->world_size = (int)v[5];
    return 0;
}
