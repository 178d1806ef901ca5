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

// One chunk of input lines, raw (parsed on the worker threads), and where their tokens went.
typedef struct mm_chunk {
    char *raw;         // non-blank lines back to back
    size_t raw_len, raw_cap;
    size_t *start;     // (cap,) offset of line i in raw
    size_t *len;       // (cap,)
    long *line;        // (cap,) 1-based input line number
    int *status;       // (cap,) 0 ok, 1 bad line (malformed / no string "text"), 2 encode failure
    char **err;        // (cap,) message of a failed line (only kept when it will be reported)
    int *arena;        // (cap,) which thread arena holds line i's tokens
    size_t *tok_start; // (cap,) offset in that arena
    size_t *tok_len;   // (cap,) <s> + encode(text) + </s>
    size_t n, cap;
} mm_chunk;

void mm_prep_pretrain_opts_default(mm_prep_pretrain_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_seq_len = 512;
    o->chunk_bytes = 8ll << 20;
    o->progress = 1;
}

static void mm_chunk_free(mm_chunk *c) {
    free(c->raw);
    free(c->start);
    free(c->len);
    free(c->line);
    free(c->status);
    free(c->err);
    free(c->arena);
    free(c->tok_start);
    free(c->tok_len);
    memset(c, 0, sizeof *c);
}

static int mm_chunk_init(mm_chunk *c) {
    memset(c, 0, sizeof *c);
    c->cap = MM_CHUNK_MAX_DOCS;
    c->start = mm_malloc(c->cap * sizeof *c->start);
    c->len = mm_malloc(c->cap * sizeof *c->len);
    c->line = mm_malloc(c->cap * sizeof *c->line);
    c->status = mm_malloc(c->cap * sizeof *c->status);
    c->err = mm_calloc(c->cap, sizeof *c->err);
    c->arena = mm_malloc(c->cap * sizeof *c->arena);
    c->tok_start = mm_malloc(c->cap * sizeof *c->tok_start);
    c->tok_len = mm_malloc(c->cap * sizeof *c->tok_len);
    if (!c->start || !c->len || !c->line || !c->status || !c->err || !c->arena || !c->tok_start ||
        !c->tok_len) {
        mm_chunk_free(c);
        return -1;
    }
    return 0;
}

static int mm_chunk_add(mm_chunk *c, const char *s, size_t n, long line) {
    if (c->raw_len + n > c->raw_cap) {
        size_t cap = c->raw_cap ? c->raw_cap : 1 << 20;
        while (cap < c->raw_len + n) cap *= 2;
        char *t = mm_realloc(c->raw, cap);
        if (!t) return -1;
        c->raw = t;
        c->raw_cap = cap;
    }
    memcpy(c->raw + c->raw_len, s, n);
    c->start[c->n] = c->raw_len;
    c->len[c->n] = n;
    c->line[c->n] = line;
    c->raw_len += n;
    c->n++;
    return 0;
}

// Reads raw lines into c until it is full or the input ends (*eof = 1). Returns 0 or -1.
static int mm_read_chunk(mm_jsonl_reader *r, mm_chunk *c, const mm_prep_pretrain_opts *o, int *eof) {
    c->n = 0;
    c->raw_len = 0;
    while (c->n < c->cap && (long long)c->raw_len < o->chunk_bytes) {
        int rc = mm_jsonl_next_raw(r);
        if (rc == 0) {
            *eof = 1;
            return 0;
        }
        if (rc < 0 || mm_chunk_add(c, r->line, r->line_len, r->line_no) != 0) return -1;
    }
    return 0;
}

// Parses line i of c and appends <s> + encode(text) + </s> to the thread's arena.
static void mm_encode_line(const mm_tokenizer *tok, mm_chunk *c, size_t i, mm_ids *arena, int tid,
                           const char *path, int keep_bad_msg) {
    json_t *obj = NULL;
    const char *s;
    size_t n;
    mm_jsonl_reader at = {.path = path, .line_no = c->line[i]};  // names the place in messages
    c->status[i] = 0;
    if (mm_jsonl_parse_line(path, c->line[i], c->raw + c->start[i], c->len[i], &obj) != 1 ||
        mm_jsonl_string_field(&at, obj, "text", &s, &n) != 0) {
        c->status[i] = 1;
    } else {
        c->arena[i] = tid;
        c->tok_start[i] = arena->len;
        if (mm_ids_push(arena, MM_TOKEN_BOS) != 0 || mm_tokenizer_encode(tok, s, n, arena) != 0 ||
            mm_ids_push(arena, MM_TOKEN_EOS) != 0) {
            c->status[i] = 2;
            mm_error_prefix("%s:%ld", path, c->line[i]);
        }
        c->tok_len[i] = arena->len - c->tok_start[i];
    }
    json_decref(obj);
    if (c->status[i] && (c->status[i] == 2 || keep_bad_msg)) c->err[i] = strdup(mm_error_message());
}

// Writes the encoded lines in input order; the first failed line (in order) is the error.
static int mm_write_chunk(mm_tokfile_writer *w, mm_chunk *c, const mm_ids *arenas,
                          const mm_prep_pretrain_opts *o, mm_prep_pretrain_stats *st, const char *path) {
    int rc = 0;
    for (size_t i = 0; i < c->n && rc == 0; i++) {
        if (c->status[i] == 1 && o->skip_bad) {
            st->skipped++;
        } else if (c->status[i] != 0) {
            rc = mm_errorf("%s", c->err[i] ? c->err[i] : "out of memory");
        } else {
            const int32_t *ids = arenas[c->arena[i]].data + c->tok_start[i];
            if (mm_tokfile_writer_add(w, ids, c->tok_len[i]) != 0) rc = mm_error_prefix("%s:%ld", path, c->line[i]);
            st->documents++;
            st->tokens += c->tok_len[i];
            if (c->tok_len[i] > (size_t)o->max_seq_len) st->truncated++;
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        free(c->err[i]);
        c->err[i] = NULL;
    }
    return rc;
}

static int mm_prep_loop(const mm_tokenizer *tok, mm_jsonl_reader *r, mm_tokfile_writer *w,
                        mm_chunk *cur, mm_chunk *next, mm_ids *arenas, int threads,
                        const mm_prep_pretrain_opts *o, mm_prep_pretrain_stats *st, mm_progress *pg) {
    int eof = 0;
    if (mm_read_chunk(r, cur, o, &eof) != 0) return -1;
    while (cur->n > 0) {
        int read_rc = 0;
        next->n = 0;
        long n = (long)cur->n;
        for (int t = 0; t < threads; t++) arenas[t].len = 0;
#pragma omp parallel num_threads(threads)
        {
            int tid = omp_get_thread_num();
            // The master reads the next chunk while the others start on this one; it joins
            // the loop afterwards (no barrier at the start of a worksharing loop).
#pragma omp master
            if (!eof) read_rc = mm_read_chunk(r, next, o, &eof);
#pragma omp for schedule(dynamic, 16)
            for (long i = 0; i < n; i++) mm_encode_line(tok, cur, (size_t)i, &arenas[tid], tid, r->path, !o->skip_bad);
        }
        if (mm_write_chunk(w, cur, arenas, o, st, r->path) != 0) return -1;
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
    int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    mm_ids *arenas = mm_calloc((size_t)threads, sizeof *arenas);  // one token buffer per thread
    int ca = mm_chunk_init(&a), cb = mm_chunk_init(&b);
    int rc = ca || cb || !arenas ? -1 : 0;
    if (rc == 0)
        rc = mm_tokfile_writer_open(&w, out_path, (uint32_t)mm_tokenizer_vocab_size(tok),
                                    MM_TOKFILE_FLAG_BOS_EOS, (uint32_t)o->max_seq_len);
    double t0 = mm_now_s();
    mm_progress pg;
    if (o->progress) mm_progress_begin(&pg, "prep pretrain", (int64_t)sb.st_size, "MB", 1e6);
    if (rc == 0) rc = mm_prep_loop(tok, &r, w, &a, &b, arenas, threads, o, st, &pg);
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
    for (int t = 0; arenas && t < threads; t++) mm_ids_free(&arenas[t]);
    free(arenas);
    mm_jsonl_close(&r);
    return rc;
}
