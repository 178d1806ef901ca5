// `prep pretrain`: JSON Lines -> token file, streamed in chunks (see minimind/prep.h).
#include "minimind/prep.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minimind/error.h"
#include "minimind/jsonl.h"
#include "minimind/progress.h"
#include "minimind/tokfile.h"

#define MM_CHUNK_MAX_DOCS 65536

// One chunk of documents: their texts back to back, then their token ids once encoded.
typedef struct mm_chunk {
    char *text;      // texts concatenated (not NUL-separated: texts may hold NUL)
    size_t text_len, text_cap;
    size_t *start;   // (cap,) offset of document i's text
    size_t *len;     // (cap,)
    long *line;      // (cap,) input line of document i
    mm_ids *ids;     // (cap,) <s> + encode(text) + </s>
    size_t n, cap;
} mm_chunk;

void mm_prep_pretrain_opts_default(mm_prep_pretrain_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_seq_len = 512;
    o->chunk_bytes = 8ll << 20;
    o->progress = 1;
}

static void mm_chunk_free(mm_chunk *c) {
    for (size_t i = 0; i < c->cap; i++) mm_ids_free(&c->ids[i]);
    free(c->text);
    free(c->start);
    free(c->len);
    free(c->line);
    free(c->ids);
    memset(c, 0, sizeof *c);
}

static int mm_chunk_init(mm_chunk *c) {
    memset(c, 0, sizeof *c);
    c->cap = MM_CHUNK_MAX_DOCS;
    c->start = mm_malloc(c->cap * sizeof *c->start);
    c->len = mm_malloc(c->cap * sizeof *c->len);
    c->line = mm_malloc(c->cap * sizeof *c->line);
    c->ids = mm_calloc(c->cap, sizeof *c->ids);
    if (!c->start || !c->len || !c->line || !c->ids) {
        mm_chunk_free(c);
        return -1;
    }
    return 0;
}

static int mm_chunk_add(mm_chunk *c, const char *s, size_t n, long line) {
    if (c->text_len + n > c->text_cap) {
        size_t cap = c->text_cap ? c->text_cap : 1 << 20;
        while (cap < c->text_len + n) cap *= 2;
        char *t = mm_realloc(c->text, cap);
        if (!t) return -1;
        c->text = t;
        c->text_cap = cap;
    }
    memcpy(c->text + c->text_len, s, n);
    c->start[c->n] = c->text_len;
    c->len[c->n] = n;
    c->line[c->n] = line;
    c->text_len += n;
    c->n++;
    return 0;
}

// Reads lines into c until it is full or the input ends (*eof = 1). Returns 0 or -1.
static int mm_read_chunk(mm_jsonl_reader *r, mm_chunk *c, const mm_prep_pretrain_opts *o,
                         mm_prep_pretrain_stats *st, int *eof) {
    c->n = 0;
    c->text_len = 0;
    while (c->n < c->cap && (long long)c->text_len < o->chunk_bytes) {
        json_t *obj;
        int rc = mm_jsonl_next(r, &obj);
        if (rc == 0) {
            *eof = 1;
            return 0;
        }
        if (rc == -2) return -1;
        const char *s = NULL;
        size_t n = 0;
        if (rc == 1 && mm_jsonl_string_field(r, obj, "text", &s, &n) != 0) rc = -1;
        if (rc == -1) {
            json_decref(obj);
            if (!o->skip_bad) return -1;
            st->skipped++;
            continue;
        }
        rc = mm_chunk_add(c, s, n, r->line_no);
        json_decref(obj);
        if (rc != 0) return -1;
    }
    return 0;
}

// Encodes document i of c. On failure copies the message into err (first failure wins).
static void mm_encode_doc(const mm_tokenizer *tok, mm_chunk *c, size_t i, const char *path,
                          int *failed, char *err, size_t err_cap) {
    mm_ids *ids = &c->ids[i];
    ids->len = 0;
    int rc = mm_ids_push(ids, MM_TOKEN_BOS);
    if (rc == 0) rc = mm_tokenizer_encode(tok, c->text + c->start[i], c->len[i], ids);
    if (rc == 0) rc = mm_ids_push(ids, MM_TOKEN_EOS);
    if (rc != 0) {
#pragma omp critical(mm_prep_err)
        if (!*failed) {
            *failed = 1;
            snprintf(err, err_cap, "%s:%ld: %s", path, c->line[i], mm_error_message());
        }
    }
    if (ids->cap > (1u << 22) && ids->len < (1u << 20)) mm_ids_free(ids);  // don't hoard a huge doc's buffer
}

static int mm_write_chunk(mm_tokfile_writer *w, const mm_chunk *c, const mm_prep_pretrain_opts *o,
                          mm_prep_pretrain_stats *st, const char *path) {
    for (size_t i = 0; i < c->n; i++) {
        if (mm_tokfile_writer_add(w, c->ids[i].data, c->ids[i].len) != 0)
            return mm_error_prefix("%s:%ld", path, c->line[i]);
        st->documents++;
        st->tokens += c->ids[i].len;
        if (c->ids[i].len > (size_t)o->max_seq_len) st->truncated++;
    }
    return 0;
}

static int mm_prep_loop(const mm_tokenizer *tok, mm_jsonl_reader *r, mm_tokfile_writer *w,
                        mm_chunk *cur, mm_chunk *next, const mm_prep_pretrain_opts *o,
                        mm_prep_pretrain_stats *st, mm_progress *pg) {
    int eof = 0, threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    char err[2048];
    if (mm_read_chunk(r, cur, o, st, &eof) != 0) return -1;
    while (cur->n > 0) {
        int read_rc = 0, failed = 0;
        next->n = 0;
        long n = (long)cur->n;
#pragma omp parallel num_threads(threads)
        {
            // The master reads the next chunk while the others start on this one; it joins
            // the loop afterwards (no barrier at the start of a worksharing loop).
#pragma omp master
            if (!eof) read_rc = mm_read_chunk(r, next, o, st, &eof);
#pragma omp for schedule(dynamic, 16)
            for (long i = 0; i < n; i++) mm_encode_doc(tok, cur, (size_t)i, r->path, &failed, err, sizeof err);
        }
        if (failed) return mm_errorf("%s", err);
        if (mm_write_chunk(w, cur, o, st, r->path) != 0) return -1;
        if (read_rc != 0) return -1;
        if (o->progress) mm_progress_update(pg, r->offset, NULL);
        mm_chunk *t = cur;
        cur = next;
        next = t;
    }
    return 0;
}

int mm_prep_pretrain(const mm_tokenizer *tok, const char *in_path, const char *out_path,
                     const mm_prep_pretrain_opts *o, mm_prep_pretrain_stats *st) {
    memset(st, 0, sizeof *st);
    if (o->max_seq_len < 2) return mm_errorf("max_seq_len %d must be >= 2", o->max_seq_len);
    struct stat sb;
    if (stat(in_path, &sb) != 0) return mm_errorf_errno("%s: cannot open", in_path);
    mm_jsonl_reader r;
    if (mm_jsonl_open(&r, in_path) != 0) return -1;
    mm_tokfile_writer *w = NULL;
    mm_chunk a, b;
    int ca = mm_chunk_init(&a), cb = mm_chunk_init(&b);
    int rc = ca || cb ? -1 : 0;
    if (rc == 0)
        rc = mm_tokfile_writer_open(&w, out_path, (uint32_t)mm_tokenizer_vocab_size(tok),
                                    MM_TOKFILE_FLAG_BOS_EOS, (uint32_t)o->max_seq_len);
    double t0 = mm_now_s();
    mm_progress pg;
    if (o->progress) mm_progress_begin(&pg, "prep pretrain", (int64_t)sb.st_size, "MB", 1e6);
    if (rc == 0) rc = mm_prep_loop(tok, &r, w, &a, &b, o, st, &pg);
    if (rc == 0 && st->documents == 0) {
        if (st->skipped)
            rc = mm_errorf("%s: no documents: all %llu non-blank lines were skipped as bad", in_path,
                           (unsigned long long)st->skipped);
        else
            rc = mm_errorf("%s: no documents: the input is empty", in_path);
    }
    st->input_bytes = (uint64_t)r.offset;
    if (rc == 0) rc = mm_tokfile_writer_commit(w);
    else mm_tokfile_writer_abort(w);
    st->seconds = mm_now_s() - t0;
    if (o->progress && rc == 0) mm_progress_end(&pg, r.offset, NULL);
    mm_chunk_free(&a);
    mm_chunk_free(&b);
    mm_jsonl_close(&r);
    return rc;
}
