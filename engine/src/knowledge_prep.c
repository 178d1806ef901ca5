// `prep knowledge`: sentences -> knowledge bank + mapping file; bank reader (see minimind/knowledge.h).
#include "minimind/knowledge.h"

#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "minimind/atomic_file.h"
#include "minimind/binfile.h"
#include "minimind/error.h"
#include "minimind/jsonl.h"
#include "minimind/progress.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the knowledge bank is little-endian and read by mmap: a big-endian host is not supported"
#endif

#define MM_KCHUNK 16384  // sentences encoded together
enum { MM_META_UUID, MM_META_SUBJECT, MM_META_PREDICATE, MM_META_OBJECT, MM_META_N };
static const char *const mm_meta_keys[MM_META_N] = {"uuid", "subject", "predicate", "object"};


// ---------------------------------------------------------------------------------------------
// Bank reader

int mm_kbank_open(mm_kbank *kb, const char *path) {
    memset(kb, 0, sizeof *kb);
    void *map;
    if (mm_map_readonly(path, MM_KBANK_HEADER_SIZE, "knowledge bank", &map, &kb->map_len) != 0) return -1;
    kb->map = map;
    const unsigned char *b = kb->map;
    int rc = 0;
    uint32_t version = mm_get_u32(b + 8), hsize = mm_get_u32(b + 12);
    kb->num = mm_get_u32(b + 16);
    kb->length = mm_get_u32(b + 20);
    kb->vocab_size = mm_get_u32(b + 24);
    kb->n_filled = mm_get_u64(b + 32);
    if (memcmp(b, MM_KBANK_MAGIC, 8) != 0)
        rc = mm_errorf("%s: not a knowledge bank (magic 'MMKBANK' missing)", path);
    else if (version != MM_KBANK_VERSION)
        rc = mm_errorf("%s: knowledge bank version %u, this build reads version %u", path, version,
                       MM_KBANK_VERSION);
    else if (hsize != MM_KBANK_HEADER_SIZE)
        rc = mm_errorf("%s: header size %u, expected %u", path, hsize, MM_KBANK_HEADER_SIZE);
    else if (kb->num == 0 || kb->length == 0 || kb->vocab_size == 0 || kb->vocab_size > 65536)
        rc = mm_errorf("%s: header: knowledge_num %u, knowledge_length %u, vocab_size %u (must be > 0, "
                       "vocab <= 65536)", path, kb->num, kb->length, kb->vocab_size);
    else if ((uint64_t)MM_KBANK_HEADER_SIZE + 2ull * kb->num * kb->length != kb->map_len)
        rc = mm_errorf("%s: %u x %u rows need %llu bytes, the file has %zu (truncated or corrupt)", path,
                       kb->num, kb->length,
                       (unsigned long long)(MM_KBANK_HEADER_SIZE + 2ull * kb->num * kb->length), kb->map_len);
    else if (kb->n_filled > kb->num)
        rc = mm_errorf("%s: header: n_filled %llu > knowledge_num %u", path,
                       (unsigned long long)kb->n_filled, kb->num);
    if (rc != 0) {
        mm_kbank_close(kb);
        return rc;
    }
    kb->ids = (const uint16_t *)(b + MM_KBANK_HEADER_SIZE);
    return 0;
}

void mm_kbank_close(mm_kbank *kb) {
    if (kb->map) munmap(kb->map, kb->map_len);
    memset(kb, 0, sizeof *kb);
}

char *mm_kbank_mapping_path(const char *bank_path) {
    size_t n = strlen(bank_path) + sizeof ".mapping.jsonl";
    char *p = mm_malloc(n);
    if (p) snprintf(p, n, "%s.mapping.jsonl", bank_path);
    return p;
}

void mm_knowledge_prep_opts_default(mm_knowledge_prep_opts *o) {
    memset(o, 0, sizeof *o);
    o->knowledge_num = 1024 * 1024;
    o->knowledge_length = 32;
    o->progress = 1;
}

// ---------------------------------------------------------------------------------------------
// Streaming reader for a JSON list of objects (sentence_trex_data.json): one item in memory.

typedef struct mm_list_reader {
    const char *path;
    FILE *fp;
    long line, col;      // position of the last byte read (col counts UTF-8 characters)
    long long offset;    // bytes consumed
    int state;           // 0 before '[', 1 expecting an item, 2 after an item, 3 after ']'
    int after_comma;
    uint64_t index;      // 0-based number of the next item
    char *buf;           // the current item's raw bytes
    size_t len, cap;
} mm_list_reader;

static int mm_lr_getc(mm_list_reader *r) {
    int c = getc(r->fp);
    if (c == EOF) return EOF;
    r->offset++;
    if (c == '\n') {
        r->line++;
        r->col = 0;
    } else if ((c & 0xC0) != 0x80) {
        r->col++;
    }
    return c;
}

static int mm_lr_skip_ws(mm_list_reader *r) {
    int c;
    do c = mm_lr_getc(r);
    while (c == ' ' || c == '\t' || c == '\r' || c == '\n');
    return c;
}

static int mm_lr_push(mm_list_reader *r, int c) {
    if (r->len == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 4096;
        char *b = mm_realloc(r->buf, cap);
        if (!b) return -1;
        r->buf = b;
        r->cap = cap;
    }
    r->buf[r->len++] = (char)c;
    return 0;
}

// Copies one object (first byte c already read) into r->buf, tracking strings and nesting.
static int mm_lr_read_object(mm_list_reader *r, int c, long line0) {
    int depth = 0, in_str = 0, esc = 0;
    r->len = 0;
    for (;;) {
        if (c == EOF) {
            if (ferror(r->fp)) return mm_errorf_errno("%s:%ld: read failed", r->path, r->line);
            return mm_errorf("%s:%ld:%ld: end of file inside list item %llu (which starts at line %ld)",
                             r->path, r->line, r->col, (unsigned long long)r->index, line0);
        }
        if (mm_lr_push(r, c) != 0) return -1;
        if (in_str) {
            if (esc) esc = 0;
            else if (c == '\\') esc = 1;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) return 0;
        }
        c = mm_lr_getc(r);
    }
}

// Returns 1 with *item (caller decrefs) and *line0 (its first line), 0 at the end, -1 on error.
static int mm_lr_next(mm_list_reader *r, json_t **item, long *line0) {
    *item = NULL;
    int c = mm_lr_skip_ws(r);
    if (r->state == 0) {
        if (c != '[')
            return mm_errorf("%s:%ld:%ld: expected '[' (a JSON list of items)", r->path, r->line, r->col);
        r->state = 1;
        c = mm_lr_skip_ws(r);
        if (c == ']') {
            r->state = 3;
            c = mm_lr_skip_ws(r);
        }
    } else if (r->state == 2) {
        if (c == ']') {
            r->state = 3;
            c = mm_lr_skip_ws(r);
        } else if (c == ',') {
            r->state = 1;
            c = mm_lr_skip_ws(r);
        } else if (c == EOF) {
            return mm_errorf("%s:%ld:%ld: end of file: the list is not closed with ']'", r->path, r->line,
                             r->col);
        } else {
            return mm_errorf("%s:%ld:%ld: expected ',' or ']' after list item %llu", r->path, r->line,
                             r->col, (unsigned long long)(r->index - 1));
        }
    }
    if (r->state == 3) {
        if (c != EOF) return mm_errorf("%s:%ld:%ld: unexpected content after the list", r->path, r->line, r->col);
        return 0;
    }
    // state 1: an item starts at c
    if (c == ']' && r->index > 0)
        return mm_errorf("%s:%ld:%ld: ',' followed by ']' (trailing comma after list item %llu)", r->path,
                         r->line, r->col, (unsigned long long)(r->index - 1));
    if (c == EOF) return mm_errorf("%s:%ld:%ld: end of file inside the list", r->path, r->line, r->col);
    long l0 = r->line, c0 = r->col;
    if (c != '{')
        return mm_errorf("%s:%ld:%ld: list item %llu is not a JSON object", r->path, l0, c0,
                         (unsigned long long)r->index);
    if (mm_lr_read_object(r, c, l0) != 0) return -1;
    json_error_t err;
    json_t *v = json_loadb(r->buf, r->len, JSON_ALLOW_NUL, &err);
    if (!v) {
        long el = l0 + err.line - 1, ec = err.line <= 1 ? c0 + err.column - 1 : err.column;
        return mm_errorf("%s:%ld:%ld: malformed JSON: %s", r->path, el, ec, err.text);
    }
    r->state = 2;
    r->index++;
    *item = v;
    *line0 = l0;
    return 1;
}

// ---------------------------------------------------------------------------------------------
// Sentences from either format

typedef struct mm_sentence_reader {
    int trex;
    mm_jsonl_reader jl;
    mm_list_reader lr;
    const char *path;
} mm_sentence_reader;

static int mm_sr_open(mm_sentence_reader *sr, const char *path) {
    memset(sr, 0, sizeof *sr);
    sr->path = path;
    FILE *fp = fopen(path, "rb");
    if (!fp) return mm_errorf_errno("%s: cannot open", path);
    int c;
    do c = getc(fp);
    while (c == ' ' || c == '\t' || c == '\r' || c == '\n');
    if (c == EOF && ferror(fp)) {
        fclose(fp);
        return mm_errorf_errno("%s: read failed", path);
    }
    sr->trex = c == '[';
    if (sr->trex) {
        rewind(fp);
        sr->lr.path = path;
        sr->lr.fp = fp;
        sr->lr.line = 1;
        return 0;
    }
    fclose(fp);
    return mm_jsonl_open(&sr->jl, path);
}

static void mm_sr_close(mm_sentence_reader *sr) {
    if (sr->trex) {
        if (sr->lr.fp) fclose(sr->lr.fp);
        free(sr->lr.buf);
    } else {
        mm_jsonl_close(&sr->jl);
    }
}

static long long mm_sr_offset(const mm_sentence_reader *sr) { return sr->trex ? sr->lr.offset : sr->jl.offset; }

// One sentence: *item holds it (decref when done); *s/*n point into it; meta[] are borrowed
// references (NULL when absent). Returns 1, 0 at the end, -1 on error.
static int mm_sr_next(mm_sentence_reader *sr, json_t **item, const char **s, size_t *n,
                      json_t *meta[MM_META_N], long *line) {
    for (int k = 0; k < MM_META_N; k++) meta[k] = NULL;
    if (!sr->trex) {
        int rc = mm_jsonl_next(&sr->jl, item);
        if (rc <= 0) return rc == 0 ? 0 : -1;
        *line = sr->jl.line_no;
        if (mm_jsonl_string_field(&sr->jl, *item, "text", s, n) != 0) return -1;
        return 1;
    }
    int rc = mm_lr_next(&sr->lr, item, line);
    if (rc <= 0) return rc;
    json_t *t = json_object_get(*item, "target");
    json_t *t0 = json_is_array(t) ? json_array_get(t, 0) : NULL;
    json_t *sent = json_is_object(t0) ? json_object_get(t0, "sentence") : NULL;
    if (!json_is_string(sent))
        return mm_errorf("%s:%ld: list item %llu: missing string field 'target[0].sentence'", sr->path, *line,
                         (unsigned long long)(sr->lr.index - 1));
    *s = json_string_value(sent);
    *n = json_string_length(sent);
    for (int k = 0; k < MM_META_N; k++) meta[k] = json_object_get(t0, mm_meta_keys[k]);
    return 1;
}

// ---------------------------------------------------------------------------------------------
// Chunks of sentences: read, encode in parallel, write rows + mapping lines.

typedef struct mm_kchunk {
    size_t n;
    json_t *items[MM_KCHUNK];  // owned references
    const char *s[MM_KCHUNK];  // borrowed from items
    size_t len[MM_KCHUNK];
    json_t *meta[MM_KCHUNK][MM_META_N];
    long line[MM_KCHUNK];
    mm_ids ids[MM_KCHUNK];
} mm_kchunk;

typedef struct mm_kprep {
    const mm_tokenizer *tok;
    const mm_knowledge_prep_opts *o;
    mm_knowledge_prep_stats *st;
    mm_atomic_file bank, map;
    uint16_t *row;  // (knowledge_length,)
    const char *in_path;
} mm_kprep;

static void mm_kchunk_release(mm_kchunk *c) {
    for (size_t i = 0; i < c->n; i++) json_decref(c->items[i]);
    c->n = 0;
}

static int mm_write_mapping(mm_kprep *p, const mm_kchunk *c, size_t i, uint64_t index, size_t n_tok) {
    json_t *o = json_object();
    int rc = o ? 0 : -1;
    rc |= json_object_set_new(o, "index", json_integer((json_int_t)index));
    rc |= json_object_set_new(o, "uuid", c->meta[i][MM_META_UUID] ? json_incref(c->meta[i][MM_META_UUID]) : json_null());
    rc |= json_object_set_new(o, "sentence", json_stringn(c->s[i], c->len[i]));
    for (int k = MM_META_SUBJECT; k < MM_META_N; k++)
        rc |= json_object_set_new(o, mm_meta_keys[k], c->meta[i][k] ? json_incref(c->meta[i][k]) : json_null());
    rc |= json_object_set_new(o, "n_tokens", json_integer((json_int_t)n_tok));
    rc |= json_object_set_new(o, "truncated", json_boolean(n_tok > (size_t)p->o->knowledge_length));
    if (rc == 0) rc = json_dumpf(o, p->map.fp, JSON_COMPACT);
    json_decref(o);
    if (rc != 0 || fputc('\n', p->map.fp) == EOF)
        return mm_errorf_errno("%s: writing the mapping failed", p->map.path);
    return 0;
}

static int mm_flush_kchunk(mm_kprep *p, mm_kchunk *c) {
    int threads = p->o->threads > 0 ? p->o->threads : omp_get_max_threads(), failed = 0;
    char err[2048] = "";
    long n = (long)c->n;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 64)
    for (long i = 0; i < n; i++) {
        c->ids[i].len = 0;
        if (mm_tokenizer_encode(p->tok, c->s[i], c->len[i], &c->ids[i]) != 0) {
#pragma omp critical(mm_kprep_err)
            if (!failed) {
                failed = 1;
                snprintf(err, sizeof err, "%s:%ld: %s", p->in_path, c->line[i], mm_error_message());
            }
        }
    }
    if (failed) return mm_errorf("%s", err);
    size_t L = (size_t)p->o->knowledge_length;
    for (size_t i = 0; i < c->n; i++) {
        const mm_ids *ids = &c->ids[i];
        for (size_t t = 0; t < L; t++) {
            int32_t id = t < ids->len ? ids->data[t] : 0;
            if (id < 0 || id > 65535)
                return mm_errorf("%s:%ld: token id %d does not fit 16 bits", p->in_path, c->line[i], id);
            p->row[t] = (uint16_t)id;
        }
        if (fwrite(p->row, sizeof(uint16_t), L, p->bank.fp) != L)
            return mm_errorf_errno("%s: write failed", p->bank.path);
        if (ids->len > L) p->st->truncated++;
        if (mm_write_mapping(p, c, i, p->st->kept, ids->len) != 0) return -1;
        p->st->kept++;
    }
    mm_kchunk_release(c);
    return 0;
}

static int mm_kprep_read_all(mm_kprep *p, mm_sentence_reader *sr, mm_kchunk *c, mm_progress *pg) {
    for (;;) {
        json_t *item = NULL, *meta[MM_META_N];
        const char *s;
        size_t n;
        long line = 0;
        int rc = mm_sr_next(sr, &item, &s, &n, meta, &line);
        if (rc <= 0) {
            json_decref(item);
            if (rc < 0) return -1;
            return c->n ? mm_flush_kchunk(p, c) : 0;
        }
        p->st->sentences++;
        if (p->st->sentences > (uint64_t)p->o->knowledge_num) {  // counted, not kept
            p->st->dropped++;
            json_decref(item);
            continue;
        }
        size_t i = c->n++;
        c->items[i] = item;
        c->s[i] = s;
        c->len[i] = n;
        c->line[i] = line;
        memcpy(c->meta[i], meta, sizeof meta);
        if (c->n == MM_KCHUNK) {
            if (mm_flush_kchunk(p, c) != 0) return -1;
            if (p->o->progress) mm_progress_update(pg, mm_sr_offset(sr), NULL);
        }
    }
}

static int mm_write_bank_tail(mm_kprep *p) {
    size_t L = (size_t)p->o->knowledge_length;
    memset(p->row, 0, L * sizeof *p->row);
    for (uint64_t i = p->st->kept; i < (uint64_t)p->o->knowledge_num; i++)
        if (fwrite(p->row, sizeof(uint16_t), L, p->bank.fp) != L)
            return mm_errorf_errno("%s: write failed", p->bank.path);
    unsigned char h[MM_KBANK_HEADER_SIZE] = {0};
    memcpy(h, MM_KBANK_MAGIC, 8);
    mm_put_u32(h + 8, MM_KBANK_VERSION);
    mm_put_u32(h + 12, MM_KBANK_HEADER_SIZE);
    mm_put_u32(h + 16, (uint32_t)p->o->knowledge_num);
    mm_put_u32(h + 20, (uint32_t)p->o->knowledge_length);
    mm_put_u32(h + 24, (uint32_t)mm_tokenizer_vocab_size(p->tok));
    mm_put_u64(h + 32, p->st->kept);
    if (fseek(p->bank.fp, 0, SEEK_SET) != 0 || fwrite(h, 1, sizeof h, p->bank.fp) != sizeof h)
        return mm_errorf_errno("%s: writing the header failed", p->bank.path);
    return 0;
}

static int mm_kprep_run(mm_kprep *p, const char *in_path, const char *bank_path, const char *map_path) {
    mm_sentence_reader sr;
    if (mm_sr_open(&sr, in_path) != 0) return -1;
    p->st->format_trex = sr.trex;
    struct stat sb;
    int64_t total = stat(in_path, &sb) == 0 ? (int64_t)sb.st_size : 0;
    mm_kchunk *c = mm_calloc(1, sizeof *c);
    p->row = mm_calloc((size_t)p->o->knowledge_length, sizeof *p->row);
    int rc = c && p->row ? 0 : -1;
    unsigned char zero[MM_KBANK_HEADER_SIZE] = {0};
    if (rc == 0) rc = mm_atomic_open(&p->bank, bank_path);
    if (rc == 0) rc = mm_atomic_open(&p->map, map_path);
    if (rc == 0 && fwrite(zero, 1, sizeof zero, p->bank.fp) != sizeof zero)
        rc = mm_errorf_errno("%s: write failed", bank_path);
    mm_progress pg;
    if (p->o->progress) mm_progress_begin(&pg, "prep knowledge", total, "MB", 1e6);
    if (rc == 0) rc = mm_kprep_read_all(p, &sr, c, &pg);
    if (rc == 0 && p->st->sentences == 0) rc = mm_errorf("%s: no sentences: the input is empty", in_path);
    if (rc == 0) rc = mm_write_bank_tail(p);
    if (rc == 0 && p->o->progress) mm_progress_end(&pg, mm_sr_offset(&sr), NULL);
    if (c) {
        mm_kchunk_release(c);
        for (size_t i = 0; i < MM_KCHUNK; i++) mm_ids_free(&c->ids[i]);
    }
    free(c);
    free(p->row);
    mm_sr_close(&sr);
    return rc;
}

int mm_knowledge_prep(const mm_tokenizer *tok, const char *in_path, const char *bank_path,
                      const mm_knowledge_prep_opts *o, mm_knowledge_prep_stats *st) {
    memset(st, 0, sizeof *st);
    if (o->knowledge_num < 1 || o->knowledge_length < 1)
        return mm_errorf("knowledge_num (%d) and knowledge_length (%d) must be >= 1", o->knowledge_num,
                         o->knowledge_length);
    if (mm_tokenizer_vocab_size(tok) > 65536)
        return mm_errorf("vocabulary size %d does not fit 16-bit token ids", mm_tokenizer_vocab_size(tok));
    char *map_path = mm_kbank_mapping_path(bank_path);
    if (!map_path) return -1;
    mm_kprep p;
    memset(&p, 0, sizeof p);
    p.tok = tok;
    p.o = o;
    p.st = st;
    p.in_path = in_path;
    double t0 = mm_now_s();
    int rc = mm_kprep_run(&p, in_path, bank_path, map_path);
    if (rc == 0) {
        rc = mm_atomic_commit(&p.map);
        if (rc == 0 && mm_atomic_commit(&p.bank) != 0) {
            unlink(map_path);  // no mapping without its bank
            rc = -1;
        } else if (rc != 0) {
            mm_atomic_abort(&p.bank);
        }
    } else {
        mm_atomic_abort(&p.map);
        mm_atomic_abort(&p.bank);
    }
    st->seconds = mm_now_s() - t0;
    free(map_path);
    return rc;
}
