// Training a byte-level BPE tokenizer the way Hugging Face's BpeTrainer does, so the result is
// the same vocabulary and merge list HF would produce on the same text:
//   1. count the pre-tokenized pieces ("words") of every text (threads, one hash map each);
//   2. ids: <unk> <s> </s>, then the 256 byte symbols in code point order of their byte-level
//      characters (the MiniMind layout: '!'=3 ... 'Ń'=258);
//   3. count adjacent symbol pairs (weighted by word count) and remember which words hold them;
//   4. repeatedly take the most frequent pair (ties: the smallest (left id, right id)), add the
//      merged token, merge it in the words that held it, and update the pair counts
//      incrementally. A max-heap holds (count, pair, words); an entry whose count is stale is
//      re-queued with the current count, as HF does.
// Like HF's trainer (and unlike encoding), added tokens are not split out of the training text;
// the pre-tokenizer already keeps "<s>" apart ("<", "s", ">"), so a special is never merged.
#include <errno.h>
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/jsonl.h"
#include "minimind/progress.h"
#include "minimind/splitmix.h"
#include "minimind/tokenizer.h"
#include "tokenizer_internal.h"

#define MM_N_SPECIALS 3
static const char *const mm_specials[MM_N_SPECIALS] = {"<unk>", "<s>", "</s>"};

void mm_tokenizer_train_opts_default(mm_tokenizer_train_opts *o) {
    o->vocab_size = 6400;
    o->min_frequency = 2;
    o->threads = 0;
    o->max_bytes = 0;
    o->text_field = "text";
}

// ---------------------------------------------------------------------------------------------
// Word counts: piece bytes -> count (keys live in an arena, addressed by offset)
// ---------------------------------------------------------------------------------------------

typedef struct mm_wc_slot {
    uint64_t hash;
    uint64_t count;  // 0 = empty
    uint64_t off;
    uint32_t len;
} mm_wc_slot;

typedef struct mm_wordcount {
    mm_wc_slot *slots;
    size_t mask, n;
    char *arena;
    size_t arena_len, arena_cap;
} mm_wordcount;

static int mm_wc_init(mm_wordcount *m) {
    memset(m, 0, sizeof *m);
    m->slots = mm_calloc(1 << 12, sizeof *m->slots);
    m->mask = (1 << 12) - 1;
    return m->slots ? 0 : -1;
}

static void mm_wc_free(mm_wordcount *m) {
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

static mm_wc_slot *mm_wc_find(mm_wc_slot *slots, size_t mask, const char *arena, const char *w, size_t n,
                              uint64_t h) {
    size_t i = h & mask;
    for (;;) {
        mm_wc_slot *s = &slots[i];
        if (!s->count || (s->hash == h && s->len == n && memcmp(arena + s->off, w, n) == 0)) return s;
        i = (i + 1) & mask;
    }
}

static int mm_wc_add(mm_wordcount *m, const char *w, size_t n, uint64_t count) {
    if ((m->n + 1) * 2 > m->mask + 1) {
        size_t cap = (m->mask + 1) * 2;
        mm_wc_slot *s = mm_calloc(cap, sizeof *s);
        if (!s) return -1;
        for (size_t i = 0; i <= m->mask; i++)
            if (m->slots[i].count)
                *mm_wc_find(s, cap - 1, m->arena, m->arena + m->slots[i].off, m->slots[i].len, m->slots[i].hash) =
                    m->slots[i];
        free(m->slots);
        m->slots = s;
        m->mask = cap - 1;
    }
    uint64_t h = mm_hash_bytes(w, n);
    mm_wc_slot *s = mm_wc_find(m->slots, m->mask, m->arena, w, n, h);
    if (s->count) {
        s->count += count;
        return 0;
    }
    if (m->arena_len + n > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 1 << 16;
        while (cap < m->arena_len + n) cap *= 2;
        char *a = mm_realloc(m->arena, cap);
        if (!a) return -1;
        m->arena = a;
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->arena_len, w, n);
    s->hash = h;
    s->count = count;
    s->off = m->arena_len;
    s->len = (uint32_t)n;
    m->arena_len += n;
    m->n++;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Phase 1: read the jsonl files and count words
// ---------------------------------------------------------------------------------------------

typedef struct mm_text_batch {
    char *buf;
    size_t len, cap;
    size_t *off;  // (n + 1) start of each text in buf
    size_t n, n_cap;
} mm_text_batch;

static int mm_batch_add(mm_text_batch *b, const char *s, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 20;
        while (cap < b->len + n) cap *= 2;
        char *g = mm_realloc(b->buf, cap);
        if (!g) return -1;
        b->buf = g;
        b->cap = cap;
    }
    if (b->n + 2 > b->n_cap) {
        size_t cap = b->n_cap ? b->n_cap * 2 : 1024;
        size_t *g = mm_realloc(b->off, cap * sizeof *g);
        if (!g) return -1;
        b->off = g;
        b->n_cap = cap;
    }
    if (b->n == 0) b->off[0] = 0;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->off[++b->n] = b->len;
    return 0;
}

// Pre-tokenizes the batch with T threads into the per-thread maps.
static int mm_batch_count(mm_text_batch *b, mm_wordcount *maps, int threads) {
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        mm_wordcount *m = &maps[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 16)
        for (size_t t = 0; t < b->n; t++) {
            const uint8_t *s = (const uint8_t *)b->buf + b->off[t];
            size_t n = b->off[t + 1] - b->off[t];
            for (size_t p = 0; p < n && !failed;) {
                size_t e = mm_pretok_next(s, n, p);
                if (mm_wc_add(m, (const char *)s + p, e - p, 1) != 0) failed = 1;
                p = e;
            }
        }
    }
    b->len = b->n = 0;
    return failed ? mm_errorf("tokenizer train: out of memory counting words") : 0;
}

static int mm_count_words(const char *const *paths, int n_paths, const mm_tokenizer_train_opts *o, int threads,
                          mm_wordcount *total) {
    mm_wordcount *maps = mm_calloc((size_t)threads, sizeof *maps);
    if (!maps) return -1;
    int rc = 0;
    for (int t = 0; t < threads && rc == 0; t++) rc = mm_wc_init(&maps[t]);
    long long file_bytes = 0;
    for (int i = 0; i < n_paths && rc == 0; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) rc = mm_errorf_errno("%s: cannot open", paths[i]);
        else file_bytes += st.st_size;
    }
    mm_text_batch batch = {0};
    mm_progress prog;
    long long text_bytes = 0, done_bytes = 0, n_texts = 0;
    if (rc == 0) mm_progress_begin(&prog, "tokenizer: counting words", file_bytes, "MB", 1e6);
    int limit_hit = 0;
    for (int i = 0; i < n_paths && rc == 0 && !limit_hit; i++) {
        mm_jsonl_reader r;
        if (mm_jsonl_open(&r, paths[i]) != 0) {
            rc = -1;
            break;
        }
        while (rc == 0) {
            json_t *obj;
            int st = mm_jsonl_next(&r, &obj);
            if (st == 0) break;
            if (st < 0) {
                rc = -1;
                break;
            }
            const char *s;
            size_t n;
            if (mm_jsonl_string_field(&r, obj, o->text_field, &s, &n) != 0) rc = -1;
            else if (o->max_bytes > 0 && text_bytes + (long long)n > o->max_bytes) limit_hit = 1;
            else if (mm_batch_add(&batch, s, n) != 0) rc = -1;
            else text_bytes += (long long)n, n_texts++;
            json_decref(obj);
            if (limit_hit) break;
            if (rc == 0 && batch.len >= (16u << 20)) rc = mm_batch_count(&batch, maps, threads);
            mm_progress_update(&prog, done_bytes + r.offset, NULL);
        }
        done_bytes += r.offset;
        mm_jsonl_close(&r);
    }
    if (rc == 0) rc = mm_batch_count(&batch, maps, threads);
    free(batch.buf);
    free(batch.off);
    // Merge the per-thread maps into the first one.
    for (int t = 1; t < threads && rc == 0; t++)
        for (size_t i = 0; i <= maps[t].mask && rc == 0; i++)
            if (maps[t].slots[i].count)
                rc = mm_wc_add(&maps[0], maps[t].arena + maps[t].slots[i].off, maps[t].slots[i].len,
                               maps[t].slots[i].count);
    for (int t = 1; t < threads; t++) mm_wc_free(&maps[t]);
    if (rc == 0) {
        char extra[128];
        snprintf(extra, sizeof extra, "%lld texts, %.1f MB of text, %zu distinct words", n_texts, text_bytes / 1e6,
                 maps[0].n);
        mm_progress_end(&prog, done_bytes, extra);
        *total = maps[0];
    } else {
        mm_wc_free(&maps[0]);
    }
    free(maps);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Phases 2-4: the BPE trainer
// ---------------------------------------------------------------------------------------------

typedef struct mm_u32vec {
    uint32_t *data;
    uint32_t n, cap;
} mm_u32vec;

static int mm_u32vec_push(mm_u32vec *v, uint32_t x) {
    if (v->n == v->cap) {
        uint32_t cap = v->cap ? v->cap * 2 : 4;
        uint32_t *d = mm_realloc(v->data, cap * sizeof *d);
        if (!d) return -1;
        v->data = d;
        v->cap = cap;
    }
    v->data[v->n++] = x;
    return 0;
}

typedef struct mm_pair_info {
    uint64_t key;     // (a << 32) | b
    int64_t count;    // current weighted count
    mm_u32vec pending;  // words where it appeared since it was last queued
    int in_pending;
} mm_pair_info;

typedef struct mm_queue_entry {
    int64_t count;
    uint64_t key;
    mm_u32vec pos;  // words to merge in
} mm_queue_entry;

typedef struct mm_trainer {
    // words
    int32_t *sym;        // all words' symbols, back to back
    uint64_t *word_off;  // (n_words) start in sym
    uint32_t *word_len;  // (n_words) current length
    uint64_t *word_count;
    size_t n_words;
    // pairs: open-addressing index into infos
    uint32_t *pair_slots;  // info index + 1
    uint64_t pair_mask;
    mm_pair_info *infos;
    size_t n_infos, infos_cap;
    uint32_t *pending_list;  // info indices with non-empty pending
    size_t n_pending, pending_cap;
    // queue (max-heap)
    mm_queue_entry *heap;
    size_t n_heap, heap_cap;
    // tokens
    char **tok_bytes;
    uint32_t *tok_len;
    size_t n_toks, toks_cap;
    mm_strmap tok_map;  // token bytes -> id
    // merges
    uint64_t *merges;  // (a << 32) | b, in order
    size_t n_merges, merges_cap;
} mm_trainer;

static void mm_trainer_free(mm_trainer *t) {
    free(t->sym);
    free(t->word_off);
    free(t->word_len);
    free(t->word_count);
    free(t->pair_slots);
    for (size_t i = 0; i < t->n_infos; i++) free(t->infos[i].pending.data);
    free(t->infos);
    free(t->pending_list);
    for (size_t i = 0; i < t->n_heap; i++) free(t->heap[i].pos.data);
    free(t->heap);
    for (size_t i = 0; i < t->n_toks; i++) free(t->tok_bytes[i]);
    free(t->tok_bytes);
    free(t->tok_len);
    mm_strmap_free(&t->tok_map);
    free(t->merges);
}

static int mm_add_token(mm_trainer *t, const char *bytes, size_t n) {
    if (t->n_toks == t->toks_cap) {
        size_t cap = t->toks_cap ? t->toks_cap * 2 : 512;
        char **b = mm_realloc(t->tok_bytes, cap * sizeof *b);
        if (!b) return -1;
        t->tok_bytes = b;
        uint32_t *l = mm_realloc(t->tok_len, cap * sizeof *l);
        if (!l) return -1;
        t->tok_len = l;
        t->toks_cap = cap;
    }
    char *c = mm_malloc(n + 1);
    if (!c) return -1;
    memcpy(c, bytes, n);
    c[n] = '\0';
    t->tok_bytes[t->n_toks] = c;
    t->tok_len[t->n_toks] = (uint32_t)n;
    if (mm_strmap_put(&t->tok_map, c, n, (int32_t)t->n_toks) != 0) return -1;
    t->n_toks++;
    return 0;
}

// splitmix64 finalizer: every bit of the pair key reaches the low bits used as the slot.
static inline uint64_t mm_pair_hash(uint64_t k) { return mm_mix64(k); }

// The info index of pair key, created (count 0) when absent; -1 when out of memory.
static long mm_pair_get(mm_trainer *t, uint64_t key) {
    if ((t->n_infos + 1) * 2 > t->pair_mask + 1) {
        uint64_t cap = (t->pair_mask + 1) * 2;
        uint32_t *s = mm_calloc(cap, sizeof *s);
        if (!s) return -1;
        for (size_t i = 0; i < t->n_infos; i++) {
            uint64_t j = mm_pair_hash(t->infos[i].key) & (cap - 1);
            while (s[j]) j = (j + 1) & (cap - 1);
            s[j] = (uint32_t)i + 1;
        }
        free(t->pair_slots);
        t->pair_slots = s;
        t->pair_mask = cap - 1;
    }
    uint64_t j = mm_pair_hash(key) & t->pair_mask;
    while (t->pair_slots[j]) {
        if (t->infos[t->pair_slots[j] - 1].key == key) return t->pair_slots[j] - 1;
        j = (j + 1) & t->pair_mask;
    }
    if (t->n_infos == t->infos_cap) {
        size_t cap = t->infos_cap ? t->infos_cap * 2 : 4096;
        mm_pair_info *g = mm_realloc(t->infos, cap * sizeof *g);
        if (!g) return -1;
        t->infos = g;
        t->infos_cap = cap;
    }
    t->infos[t->n_infos] = (mm_pair_info){.key = key};
    t->pair_slots[j] = (uint32_t)t->n_infos + 1;
    return (long)t->n_infos++;
}

// Adds change * count[word] to a pair; a positive change records the word for re-queueing.
static int mm_pair_change(mm_trainer *t, int32_t a, int32_t b, int change, uint32_t word) {
    long i = mm_pair_get(t, ((uint64_t)(uint32_t)a << 32) | (uint32_t)b);
    if (i < 0) return -1;
    mm_pair_info *p = &t->infos[i];
    p->count += change * (int64_t)t->word_count[word];
    if (change > 0) {
        if (p->pending.n > 0 && p->pending.data[p->pending.n - 1] == word) return 0;
        if (mm_u32vec_push(&p->pending, word) != 0) return -1;
        if (!p->in_pending) {
            if (t->n_pending == t->pending_cap) {
                size_t cap = t->pending_cap ? t->pending_cap * 2 : 1024;
                uint32_t *g = mm_realloc(t->pending_list, cap * sizeof *g);
                if (!g) return -1;
                t->pending_list = g;
                t->pending_cap = cap;
            }
            t->pending_list[t->n_pending++] = (uint32_t)i;
            p->in_pending = 1;
        }
    }
    return 0;
}

// Max-heap order: higher count first, then the smaller pair (HF's Merge ordering).
static int mm_entry_before(const mm_queue_entry *x, const mm_queue_entry *y) {
    return x->count != y->count ? x->count > y->count : x->key < y->key;
}

static int mm_heap_push_entry(mm_trainer *t, mm_queue_entry e) {
    if (t->n_heap == t->heap_cap) {
        size_t cap = t->heap_cap ? t->heap_cap * 2 : 4096;
        mm_queue_entry *g = mm_realloc(t->heap, cap * sizeof *g);
        if (!g) return -1;
        t->heap = g;
        t->heap_cap = cap;
    }
    size_t i = t->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!mm_entry_before(&e, &t->heap[p])) break;
        t->heap[i] = t->heap[p];
        i = p;
    }
    t->heap[i] = e;
    return 0;
}

static mm_queue_entry mm_heap_pop_entry(mm_trainer *t) {
    mm_queue_entry top = t->heap[0], last = t->heap[--t->n_heap];
    size_t i = 0, n = t->n_heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const mm_queue_entry *mc = &last;
        if (l < n && mm_entry_before(&t->heap[l], mc)) m = l, mc = &t->heap[l];
        if (r < n && mm_entry_before(&t->heap[r], mc)) m = r;
        if (m == i) break;
        t->heap[i] = t->heap[m];
        i = m;
    }
    if (n > 0) t->heap[i] = last;
    return top;
}

// Queues every pair that gained words since the last call (HF: where_to_update.drain()).
static int mm_flush_pending(mm_trainer *t) {
    for (size_t k = 0; k < t->n_pending; k++) {
        mm_pair_info *p = &t->infos[t->pending_list[k]];
        p->in_pending = 0;
        if (p->count > 0) {
            if (mm_heap_push_entry(t, (mm_queue_entry){p->count, p->key, p->pending}) != 0) return -1;
        } else {
            free(p->pending.data);
        }
        p->pending = (mm_u32vec){0};
    }
    t->n_pending = 0;
    return 0;
}

// Builds the words (byte symbols) from the word counts and counts their pairs.
static int mm_trainer_init_words(mm_trainer *t, const mm_wordcount *wc, const int32_t *byte_sym) {
    t->n_words = wc->n;
    t->sym = mm_malloc((wc->arena_len + 1) * sizeof *t->sym);
    t->word_off = mm_malloc((wc->n + 1) * sizeof *t->word_off);
    t->word_len = mm_malloc((wc->n + 1) * sizeof *t->word_len);
    t->word_count = mm_malloc((wc->n + 1) * sizeof *t->word_count);
    t->pair_slots = mm_calloc(1 << 16, sizeof *t->pair_slots);
    t->pair_mask = (1 << 16) - 1;
    if (!t->sym || !t->word_off || !t->word_len || !t->word_count || !t->pair_slots) return -1;
    size_t w = 0, o = 0;
    for (size_t i = 0; i <= wc->mask; i++) {
        const mm_wc_slot *s = &wc->slots[i];
        if (!s->count) continue;
        t->word_off[w] = o;
        t->word_len[w] = s->len;
        t->word_count[w] = s->count;
        for (uint32_t k = 0; k < s->len; k++) t->sym[o++] = byte_sym[(uint8_t)wc->arena[s->off + k]];
        w++;
    }
    for (size_t i = 0; i < t->n_words; i++) {
        const int32_t *s = t->sym + t->word_off[i];
        for (uint32_t k = 0; k + 1 < t->word_len[i]; k++)
            if (mm_pair_change(t, s[k], s[k + 1], 1, (uint32_t)i) != 0) return -1;
    }
    return mm_flush_pending(t);
}

// Merges (a, b) -> id in one word, reporting pair changes exactly as HF's Word::merge does.
static int mm_word_merge(mm_trainer *t, uint32_t w, int32_t a, int32_t b, int32_t id) {
    int32_t *s = t->sym + t->word_off[w];
    uint32_t n = t->word_len[w];
    for (uint32_t i = 0; i < n; i++) {
        if (!(s[i] == a && i + 1 < n && s[i + 1] == b)) continue;
        if (i > 0) {
            if (mm_pair_change(t, s[i - 1], a, -1, w) || mm_pair_change(t, s[i - 1], id, 1, w)) return -1;
        }
        s[i] = id;
        memmove(s + i + 1, s + i + 2, (n - i - 2) * sizeof *s);
        n--;
        if (i + 1 < n) {
            if (mm_pair_change(t, b, s[i + 1], -1, w) || mm_pair_change(t, id, s[i + 1], 1, w)) return -1;
        }
    }
    t->word_len[w] = n;
    return 0;
}

static int mm_trainer_run(mm_trainer *t, const mm_tokenizer_train_opts *o) {
    mm_progress prog;
    mm_progress_begin(&prog, "tokenizer: merges", o->vocab_size, "tokens", 1.0);
    int rc = 0;
    while (rc == 0 && t->n_toks < (size_t)o->vocab_size && t->n_heap > 0) {
        mm_queue_entry top = mm_heap_pop_entry(t);
        long pi = mm_pair_get(t, top.key);
        if (pi < 0) {
            free(top.pos.data);
            rc = -1;
            break;
        }
        int64_t now = t->infos[pi].count;
        if (top.count != now) {  // stale: re-queue with the current count (same words)
            top.count = now;
            rc = mm_heap_push_entry(t, top);
            continue;
        }
        if (top.count < 1 || (int64_t)o->min_frequency > top.count) {
            free(top.pos.data);
            break;
        }
        int32_t a = (int32_t)(top.key >> 32), b = (int32_t)(top.key & 0xFFFFFFFFu);
        size_t la = t->tok_len[a], lb = t->tok_len[b];
        char *joined = mm_malloc(la + lb);
        if (!joined) {
            free(top.pos.data);
            rc = -1;
            break;
        }
        memcpy(joined, t->tok_bytes[a], la);
        memcpy(joined + la, t->tok_bytes[b], lb);
        int32_t id = mm_strmap_get(&t->tok_map, joined, la + lb);
        if (id < 0) {
            id = (int32_t)t->n_toks;
            rc = mm_add_token(t, joined, la + lb);
        }
        free(joined);
        if (rc == 0 && t->n_merges == t->merges_cap) {
            size_t cap = t->merges_cap ? t->merges_cap * 2 : 1024;
            uint64_t *g = mm_realloc(t->merges, cap * sizeof *g);
            if (!g) rc = -1;
            else t->merges = g, t->merges_cap = cap;
        }
        if (rc == 0) t->merges[t->n_merges++] = top.key;
        for (uint32_t k = 0; rc == 0 && k < top.pos.n; k++) rc = mm_word_merge(t, top.pos.data[k], a, b, id);
        free(top.pos.data);
        if (rc == 0) rc = mm_flush_pending(t);
        mm_progress_update(&prog, (int64_t)t->n_toks, NULL);
    }
    char extra[64];
    snprintf(extra, sizeof extra, "%zu merges", t->n_merges);
    mm_progress_end(&prog, (int64_t)t->n_toks, extra);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Writing tokenizer.json and tokenizer_config.json
// ---------------------------------------------------------------------------------------------

// The byte-level string of a token (specials are written as they are).
static json_t *mm_token_json(const mm_trainer *t, size_t id) {
    if (id < MM_N_SPECIALS) return json_string(mm_specials[id]);
    char *buf = malloc(2 * (size_t)t->tok_len[id] + 1);
    if (!buf) return NULL;
    size_t n = mm_bytelevel_encode((const uint8_t *)t->tok_bytes[id], t->tok_len[id], buf);
    json_t *s = json_stringn(buf, n);
    free(buf);
    return s;
}

static json_t *mm_bytelevel_component(int add_prefix_space) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", add_prefix_space,
                     "trim_offsets", 1, "use_regex", 1);
}

static json_t *mm_tokenizer_json(const mm_trainer *t) {
    json_t *added = json_array();
    for (int i = 0; i < MM_N_SPECIALS; i++)
        json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", i, "content", mm_specials[i],
                                               "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1));
    json_t *vocab = json_object(), *merges = json_array();
    int ok = added && vocab && merges;
    for (size_t id = 0; ok && id < t->n_toks; id++) {
        json_t *s = mm_token_json(t, id);
        ok = s && json_object_set_new(vocab, json_string_value(s), json_integer((json_int_t)id)) == 0;
        json_decref(s);
    }
    for (size_t m = 0; ok && m < t->n_merges; m++) {
        json_t *a = mm_token_json(t, t->merges[m] >> 32), *b = mm_token_json(t, t->merges[m] & 0xFFFFFFFFu);
        ok = a && b;
        if (ok) {
            size_t la = json_string_length(a), lb = json_string_length(b);
            char *s = malloc(la + lb + 2);
            ok = s != NULL;
            if (ok) {
                memcpy(s, json_string_value(a), la);
                s[la] = ' ';
                memcpy(s + la + 1, json_string_value(b), lb);
                ok = json_array_append_new(merges, json_stringn(s, la + lb + 1)) == 0;
                free(s);
            }
        }
        json_decref(a);
        json_decref(b);
    }
    if (!ok) {
        json_decref(added);
        json_decref(vocab);
        json_decref(merges);
        return NULL;
    }
    json_t *model = json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout",
                              "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0,
                              "byte_fallback", 0, "ignore_merges", 0, "vocab", vocab, "merges", merges);
    return json_pack("{s:s, s:n, s:n, s:o, s:n, s:o, s:n, s:o, s:o}", "version", "1.0", "truncation", "padding",
                     "added_tokens", added, "normalizer", "pre_tokenizer", mm_bytelevel_component(0), "post_processor",
                     "decoder", mm_bytelevel_component(1), "model", model);
}

static const char mm_chat_template[] =
    "{% if messages[0]['role'] == 'system' %}{% set system_message = messages[0]['content'] %}"
    "{{ '<s>system\\n' + system_message + '</s>\\n' }}{% else %}"
    "{{ '<s>system\\n\xe4\xbd\xa0\xe6\x98\xaf MiniMind\xef\xbc\x8c\xe6\x98\xaf\xe4\xb8\x80\xe4\xb8\xaa\xe6\x9c\x89"
    "\xe7\x94\xa8\xe7\x9a\x84\xe4\xba\xba\xe5\xb7\xa5\xe6\x99\xba\xe8\x83\xbd\xe5\x8a\xa9\xe6\x89\x8b\xe3\x80\x82"
    "</s>\\n' }}{% endif %}{% for message in messages %}{% set content = message['content'] %}"
    "{% if message['role'] == 'user' %}{{ '<s>user\\n' + content + '</s>\\n<s>assistant\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ content + '</s>' + '\\n' }}{% endif %}{% endfor %}";

static json_t *mm_tokenizer_config_json(void) {
    json_t *dec = json_object();
    for (int i = 0; i < MM_N_SPECIALS; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", i);
        json_object_set_new(dec, key,
                            json_pack("{s:s, s:b, s:b, s:b, s:b, s:b}", "content", mm_specials[i], "lstrip", 0,
                                      "normalized", 0, "rstrip", 0, "single_word", 0, "special", 1));
    }
    return json_pack("{s:b, s:b, s:b, s:o, s:[], s:s, s:b, s:s, s:b, s:i, s:s, s:{}, s:b, s:s, s:s, s:s}",
                     "add_bos_token", 0, "add_eos_token", 0, "add_prefix_space", 0, "added_tokens_decoder", dec,
                     "additional_special_tokens", "bos_token", "<s>", "clean_up_tokenization_spaces", 0, "eos_token",
                     "</s>", "legacy", 1, "model_max_length", 32768, "pad_token", "<unk>", "sp_model_kwargs",
                     "spaces_between_special_tokens", 0, "tokenizer_class", "PreTrainedTokenizerFast", "unk_token",
                     "<unk>", "chat_template", mm_chat_template);
}

static int mm_write_json(const char *dir, const char *name, json_t *v) {
    if (!v) return mm_errorf("tokenizer train: out of memory building %s", name);
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (!text) return mm_errorf("tokenizer train: out of memory writing %s", name);
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = mm_malloc(n);
    int rc = -1;
    if (path) {
        snprintf(path, n, "%s/%s", dir, name);
        size_t tl = strlen(text);
        text[tl] = '\n';  // replaces the NUL: the file ends with a newline
        rc = mm_write_file_atomic(path, text, tl + 1);
    }
    free(path);
    free(text);
    return rc;
}

static int mm_mkdir_p(const char *dir) {
    char *p = mm_strdup(dir);
    if (!p) return -1;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                mm_errorf_errno("%s: cannot create directory", p);
                free(p);
                return -1;
            }
            *s = c;
            if (c == '\0') break;
        }
    }
    free(p);
    return 0;
}

// ---------------------------------------------------------------------------------------------

int mm_tokenizer_train(const char *const *jsonl_paths, int n_paths, const mm_tokenizer_train_opts *opts,
                       const char *out_dir) {
    mm_tokenizer_train_opts o;
    mm_tokenizer_train_opts_default(&o);
    if (opts) o = *opts;
    if (!o.text_field) o.text_field = "text";
    if (o.vocab_size < MM_N_SPECIALS + 256)
        return mm_errorf("tokenizer train: vocab_size %d is below %d (3 specials + 256 bytes)", o.vocab_size,
                         MM_N_SPECIALS + 256);
    if (n_paths < 1) return mm_errorf("tokenizer train: no training files");
    int threads = o.threads > 0 ? o.threads : omp_get_num_procs();
    mm_pretok_init();
    if (mm_mkdir_p(out_dir) != 0) return -1;

    mm_wordcount wc;
    if (mm_count_words(jsonl_paths, n_paths, &o, threads, &wc) != 0) return -1;

    mm_trainer t = {0};
    int rc = mm_strmap_init(&t.tok_map, (size_t)o.vocab_size);
    for (int i = 0; rc == 0 && i < MM_N_SPECIALS; i++) rc = mm_add_token(&t, mm_specials[i], strlen(mm_specials[i]));
    // The 256 byte symbols, ordered by the code point of their byte-level character.
    int32_t byte_sym[256];
    uint8_t order[256];
    for (int b = 0; b < 256; b++) order[b] = (uint8_t)b;
    for (int i = 1; i < 256; i++)  // insertion sort by code point
        for (int j = i; j > 0 && mm_bytelevel_char(order[j - 1]) > mm_bytelevel_char(order[j]); j--) {
            uint8_t x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    for (int i = 0; rc == 0 && i < 256; i++) {
        byte_sym[order[i]] = (int32_t)t.n_toks;
        char c = (char)order[i];
        rc = mm_add_token(&t, &c, 1);
    }
    if (rc == 0) rc = mm_trainer_init_words(&t, &wc, byte_sym);
    mm_wc_free(&wc);
    if (rc == 0) rc = mm_trainer_run(&t, &o);
    if (rc == 0) rc = mm_write_json(out_dir, "tokenizer.json", mm_tokenizer_json(&t));
    if (rc == 0) rc = mm_write_json(out_dir, "tokenizer_config.json", mm_tokenizer_config_json());
    if (rc != 0 && mm_error_message()[0] == '\0') mm_errorf("tokenizer train: out of memory");
    mm_trainer_free(&t);
    return rc;
}
