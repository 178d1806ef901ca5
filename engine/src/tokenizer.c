// Byte-level BPE tokenizer: loads a Hugging Face `tokenizer.json`, encodes and decodes.
//
// Encoding a text: (1) added tokens (<s>, </s>, ...) written literally are matched first,
// leftmost-longest; (2) the text between them is split by the GPT-2 pre-tokenizer
// (tokenizer_pretok.c); (3) each piece's bytes become the ids of their byte-level characters and
// (4) BPE merges them, lowest merge rank first. A per-thread cache remembers the ids of recent
// short pieces, so a tokenizer shared by many threads needs no locks.
#include "minimind/tokenizer.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "tokenizer_internal.h"

typedef struct mm_added_token {
    char *text;
    size_t len;
    int32_t id;
} mm_added_token;

struct mm_tokenizer {
    int32_t n_ids;       // vocabulary size: largest id + 1
    char *tok_data;      // raw bytes of every token, back to back
    uint32_t *tok_off;   // (n_ids) start of token id in tok_data
    uint32_t *tok_len;   // (n_ids) its length
    uint8_t *tok_known;  // (n_ids) 1 when the id has a token
    int32_t byte_id[256];  // id of the single-byte token of each byte (-1: none)
    mm_merge_slot *merges;  // open addressing, capacity merge_mask + 1
    uint64_t merge_mask;
    int merge_shift;
    uint64_t *merge_filter;  // (MM_FILTER_BITS / 64) bit set of hashed pair keys: most misses stop here
    mm_added_token *added;  // sorted by nothing in particular; matched leftmost-longest
    int n_added;
    uint8_t added_first[256];  // 1 when some added token starts with this byte
    int added_one_first;       // the first byte when all added tokens share it, else -1
    int32_t unk_id;            // -1: none (bytes without a token are dropped, as HF does)
    int fuse_unk;
    int ignore_merges;
    int add_prefix_space;
    mm_strmap raw_vocab;  // raw token bytes -> id (only with ignore_merges)
    uint64_t serial;      // unique per loaded tokenizer: keys the per-thread caches
};

static atomic_uint_fast64_t mm_tokenizer_serial = 1;

// ---------------------------------------------------------------------------------------------
// mm_ids
// ---------------------------------------------------------------------------------------------

static int mm_ids_reserve(mm_ids *ids, size_t extra) {
    if (ids->len + extra <= ids->cap) return 0;
    size_t cap = ids->cap ? ids->cap : 64;
    while (cap < ids->len + extra) cap *= 2;
    int32_t *d = mm_realloc(ids->data, cap * sizeof *d);
    if (!d) return -1;
    ids->data = d;
    ids->cap = cap;
    return 0;
}

int mm_ids_push(mm_ids *ids, int32_t id) {
    if (mm_ids_reserve(ids, 1) != 0) return -1;
    ids->data[ids->len++] = id;
    return 0;
}

void mm_ids_free(mm_ids *ids) {
    free(ids->data);
    ids->data = NULL;
    ids->len = ids->cap = 0;
}

// ---------------------------------------------------------------------------------------------
// Byte-string hash map
// ---------------------------------------------------------------------------------------------

uint64_t mm_hash_bytes(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, n);
    h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
}

int mm_strmap_init(mm_strmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    m->slots = mm_calloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    m->n = 0;
    return m->slots ? 0 : -1;
}

void mm_strmap_free(mm_strmap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static mm_strmap_slot *mm_strmap_find(const mm_strmap *m, const char *key, size_t len, uint64_t h) {
    size_t i = h & m->mask;
    for (;;) {
        mm_strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)) return s;
        i = (i + 1) & m->mask;
    }
}

int32_t mm_strmap_get(const mm_strmap *m, const char *key, size_t len) {
    if (!m->slots) return -1;
    mm_strmap_slot *s = mm_strmap_find(m, key, len, mm_hash_bytes(key, len));
    return s->key ? s->val : -1;
}

int mm_strmap_put(mm_strmap *m, const char *key, size_t len, int32_t val) {
    if ((m->n + 1) * 2 > m->mask + 1) {  // grow
        mm_strmap old = *m;
        size_t cap = (old.mask + 1) * 2;
        m->slots = mm_calloc(cap, sizeof *m->slots);
        if (!m->slots) {
            *m = old;
            return -1;
        }
        m->mask = cap - 1;
        for (size_t i = 0; i <= old.mask; i++)
            if (old.slots[i].key) *mm_strmap_find(m, old.slots[i].key, old.slots[i].len, old.slots[i].hash) = old.slots[i];
        free(old.slots);
    }
    uint64_t h = mm_hash_bytes(key, len);
    mm_strmap_slot *s = mm_strmap_find(m, key, len, h);
    if (!s->key) m->n++;
    s->key = key;
    s->len = (uint32_t)len;
    s->hash = h;
    s->val = val;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Merge table: (a, b) -> (rank, merged id)
// ---------------------------------------------------------------------------------------------

static inline uint64_t mm_merge_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

// The table (16 bytes a slot) is larger than L1; most pairs looked up have no merge, so a 32 KB
// bit set answers those first.
#define MM_FILTER_LOG2 18
static inline uint64_t mm_filter_bit(uint64_t key) { return (key * 0xD6E8FEB86659FD93ull) >> (64 - MM_FILTER_LOG2); }

static inline const mm_merge_slot *mm_merge_find(const mm_tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = mm_merge_key(a, b);
    uint64_t f = mm_filter_bit(key);
    if (!(t->merge_filter[f >> 6] >> (f & 63) & 1)) return NULL;
    uint64_t i = (key * 0x9E3779B97F4A7C15ull) >> t->merge_shift;
    for (;;) {
        const mm_merge_slot *s = &t->merges[i];
        if (s->key == key) return s;
        if (s->key == MM_MERGE_EMPTY) return NULL;
        i = (i + 1) & t->merge_mask;
    }
}

static int mm_merge_table_init(mm_tokenizer *t, size_t n) {
    int bits = 4;
    while (((size_t)1 << bits) < n * 2) bits++;
    size_t cap = (size_t)1 << bits;
    t->merges = mm_malloc(cap * sizeof *t->merges);
    t->merge_filter = mm_calloc(((size_t)1 << MM_FILTER_LOG2) / 64, sizeof *t->merge_filter);
    if (!t->merges || !t->merge_filter) return -1;
    for (size_t i = 0; i < cap; i++) t->merges[i].key = MM_MERGE_EMPTY;
    t->merge_mask = cap - 1;
    t->merge_shift = 64 - bits;
    return 0;
}

// A later duplicate of a pair overwrites the earlier one (as HF's HashMap collect does).
static void mm_merge_table_put(mm_tokenizer *t, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    uint64_t key = mm_merge_key(a, b);
    uint64_t i = (key * 0x9E3779B97F4A7C15ull) >> t->merge_shift;
    while (t->merges[i].key != MM_MERGE_EMPTY && t->merges[i].key != key) i = (i + 1) & t->merge_mask;
    uint64_t f = mm_filter_bit(key);
    t->merge_filter[f >> 6] |= 1ull << (f & 63);
    t->merges[i].key = key;
    t->merges[i].rank = rank;
    t->merges[i].id = id;
}

// ---------------------------------------------------------------------------------------------
// BPE on one piece
// ---------------------------------------------------------------------------------------------

#define MM_RANK_NONE UINT32_MAX

// O(n^2), no allocation for short pieces: find the lowest-rank adjacent pair, merge, repeat.
size_t mm_bpe_merge_naive(const mm_tokenizer *tok, int32_t *ids, size_t n) {
    if (n < 2) return n;
    uint32_t rank_buf[64];
    int32_t nid_buf[64];
    uint32_t *rank = rank_buf;
    int32_t *nid = nid_buf;
    if (n > 64) {
        rank = malloc(n * sizeof *rank);
        nid = malloc(n * sizeof *nid);
        if (!rank || !nid) {  // cannot happen in practice; fall back to the heap version
            free(rank == rank_buf ? NULL : rank);
            free(nid == nid_buf ? NULL : nid);
            return mm_bpe_merge_heap(tok, ids, n);
        }
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const mm_merge_slot *m = mm_merge_find(tok, ids[i], ids[i + 1]);
        rank[i] = m ? m->rank : MM_RANK_NONE;
        nid[i] = m ? m->id : -1;
    }
    for (;;) {
        uint32_t best = MM_RANK_NONE;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < n; i++)
            if (rank[i] < best) {
                best = rank[i];
                bi = i;
            }
        if (best == MM_RANK_NONE) break;
        ids[bi] = nid[bi];
        size_t tail = n - bi - 2;  // pairs after the merged one
        memmove(ids + bi + 1, ids + bi + 2, tail * sizeof *ids);
        memmove(rank + bi + 1, rank + bi + 2, (tail > 0 ? tail - 1 : 0) * sizeof *rank);
        memmove(nid + bi + 1, nid + bi + 2, (tail > 0 ? tail - 1 : 0) * sizeof *nid);
        n--;
        if (bi > 0) {
            const mm_merge_slot *m = mm_merge_find(tok, ids[bi - 1], ids[bi]);
            rank[bi - 1] = m ? m->rank : MM_RANK_NONE;
            nid[bi - 1] = m ? m->id : -1;
        }
        if (bi + 1 < n) {
            const mm_merge_slot *m = mm_merge_find(tok, ids[bi], ids[bi + 1]);
            rank[bi] = m ? m->rank : MM_RANK_NONE;
            nid[bi] = m ? m->id : -1;
        }
    }
    if (rank != rank_buf) {
        free(rank);
        free(nid);
    }
    return n;
}

// O(n log n) for long pieces (a Chinese paragraph is one piece): symbols in a linked list and a
// min-heap of candidate merges ordered by (rank, position). Each symbol remembers the rank of the
// pair it currently starts; a popped candidate whose rank differs is stale (ranks are unique per
// pair, so an equal rank means the same pair) and is skipped without a table lookup.
typedef struct mm_bpe_sym {
    int32_t id;
    int32_t prev, next;  // -1 at the ends
    uint32_t rank;       // rank of the pair (this, next), MM_RANK_NONE if none or merged away
    int32_t merged;      // id that pair merges to
} mm_bpe_sym;
typedef struct mm_bpe_cand {
    uint32_t rank;
    int32_t pos;
} mm_bpe_cand;

static inline int mm_cand_less(mm_bpe_cand a, mm_bpe_cand b) {
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
}

static void mm_heap_push(mm_bpe_cand *h, size_t *n, mm_bpe_cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!mm_cand_less(c, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static mm_bpe_cand mm_heap_pop(mm_bpe_cand *h, size_t *n) {
    mm_bpe_cand top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        mm_bpe_cand mc = last;
        if (l < *n && mm_cand_less(h[l], mc)) m = l, mc = h[l];
        if (r < *n && mm_cand_less(h[r], mc)) m = r;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (*n > 0) h[i] = last;
    return top;
}

// Looks up the pair starting at pos, records it in the symbol and queues it.
static void mm_heap_add_pair(const mm_tokenizer *tok, mm_bpe_cand *h, size_t *nh, mm_bpe_sym *s, int32_t pos) {
    const mm_merge_slot *m = s[pos].next >= 0 ? mm_merge_find(tok, s[pos].id, s[s[pos].next].id) : NULL;
    s[pos].rank = m ? m->rank : MM_RANK_NONE;
    s[pos].merged = m ? m->id : -1;
    if (m) mm_heap_push(h, nh, (mm_bpe_cand){m->rank, pos});
}

size_t mm_bpe_merge_heap(const mm_tokenizer *tok, int32_t *ids, size_t n) {
    if (n < 2) return n;
    mm_bpe_sym *s = malloc(n * sizeof *s);
    mm_bpe_cand *h = malloc(3 * n * sizeof *h);  // n-1 initial + at most 2 per merge
    if (!s || !h) {
        free(s);
        free(h);
        return mm_bpe_merge_naive(tok, ids, n);
    }
    size_t nh = 0;
    for (size_t i = 0; i < n; i++)
        s[i] = (mm_bpe_sym){ids[i], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, MM_RANK_NONE, -1};
    for (size_t i = 0; i + 1 < n; i++) mm_heap_add_pair(tok, h, &nh, s, (int32_t)i);
    while (nh > 0) {
        mm_bpe_cand c = mm_heap_pop(h, &nh);
        mm_bpe_sym *a = &s[c.pos];
        if (a->rank != c.rank) continue;  // stale: this symbol's pair changed since it was queued
        mm_bpe_sym *b = &s[a->next];
        a->id = a->merged;
        b->rank = MM_RANK_NONE;  // b is gone
        a->next = b->next;
        if (a->next >= 0) s[a->next].prev = c.pos;
        if (a->prev >= 0) mm_heap_add_pair(tok, h, &nh, s, a->prev);
        mm_heap_add_pair(tok, h, &nh, s, c.pos);
    }
    size_t o = 0;
    for (int32_t i = 0; i >= 0; i = s[i].next) ids[o++] = s[i].id;
    free(s);
    free(h);
    return o;
}

// ---------------------------------------------------------------------------------------------
// Per-thread state: the piece -> ids cache and scratch space
// ---------------------------------------------------------------------------------------------

#define MM_CACHE_SLOTS (1u << 16)
#define MM_CACHE_MAX_ENTRIES (1u << 15)
#define MM_CACHE_MAX_PIECE 64  // longer pieces are rarely repeated: not cached
#define MM_CACHE_KEY_BYTES (1u << 20)
#define MM_CACHE_ID_COUNT (1u << 18)
#define MM_NAIVE_MAX 48  // pieces up to this many symbols use the O(n^2) merge

typedef struct mm_cache_entry {
    uint64_t hash;
    uint32_t key_off, ids_off;
    uint16_t key_len, n_ids;
} mm_cache_entry;

typedef struct mm_tok_tls {
    uint64_t serial;  // tokenizer the cache belongs to (0: none)
    uint32_t *slots;  // entry index + 1; 0 = empty
    mm_cache_entry *entries;
    uint32_t n_entries;
    uint8_t *keys;
    uint32_t keys_len;
    int32_t *ids;
    uint32_t ids_len;
    int32_t *scratch;  // symbols of the piece being merged
    size_t scratch_cap;
} mm_tok_tls;

static pthread_key_t mm_tls_key;
static pthread_once_t mm_tls_once = PTHREAD_ONCE_INIT;
static _Thread_local mm_tok_tls *mm_tls_cur;

static void mm_tls_destroy(void *p) {
    mm_tok_tls *t = p;
    if (!t) return;
    free(t->slots);
    free(t->entries);
    free(t->keys);
    free(t->ids);
    free(t->scratch);
    free(t);
    mm_tls_cur = NULL;
}

static void mm_tls_key_create(void) { pthread_key_create(&mm_tls_key, mm_tls_destroy); }

static void mm_cache_clear(mm_tok_tls *t) {
    memset(t->slots, 0, MM_CACHE_SLOTS * sizeof *t->slots);
    t->n_entries = t->keys_len = t->ids_len = 0;
}

static mm_tok_tls *mm_tls_get(const mm_tokenizer *tok) {
    mm_tok_tls *t = mm_tls_cur;
    if (!t) {
        pthread_once(&mm_tls_once, mm_tls_key_create);
        t = calloc(1, sizeof *t);
        if (!t) return NULL;
        t->slots = calloc(MM_CACHE_SLOTS, sizeof *t->slots);
        t->entries = malloc(MM_CACHE_MAX_ENTRIES * sizeof *t->entries);
        t->keys = malloc(MM_CACHE_KEY_BYTES);
        t->ids = malloc(MM_CACHE_ID_COUNT * sizeof *t->ids);
        if (!t->slots || !t->entries || !t->keys || !t->ids) {
            mm_tls_destroy(t);
            return NULL;
        }
        pthread_setspecific(mm_tls_key, t);
        mm_tls_cur = t;
    }
    if (t->serial != tok->serial) {
        mm_cache_clear(t);
        t->serial = tok->serial;
    }
    return t;
}

static const mm_cache_entry *mm_cache_get(const mm_tok_tls *t, const uint8_t *w, size_t n, uint64_t h) {
    uint32_t i = (uint32_t)h & (MM_CACHE_SLOTS - 1);
    for (;;) {
        uint32_t e = t->slots[i];
        if (!e) return NULL;
        const mm_cache_entry *ce = &t->entries[e - 1];
        if (ce->hash == h && ce->key_len == n && memcmp(t->keys + ce->key_off, w, n) == 0) return ce;
        i = (i + 1) & (MM_CACHE_SLOTS - 1);
    }
}

static void mm_cache_put(mm_tok_tls *t, const uint8_t *w, size_t n, uint64_t h, const int32_t *ids, size_t k) {
    if (t->n_entries >= MM_CACHE_MAX_ENTRIES || t->keys_len + n > MM_CACHE_KEY_BYTES ||
        t->ids_len + k > MM_CACHE_ID_COUNT)
        mm_cache_clear(t);  // full: start over (bounded memory, no eviction bookkeeping)
    uint32_t i = (uint32_t)h & (MM_CACHE_SLOTS - 1);
    while (t->slots[i]) i = (i + 1) & (MM_CACHE_SLOTS - 1);
    mm_cache_entry *ce = &t->entries[t->n_entries];
    ce->hash = h;
    ce->key_off = t->keys_len;
    ce->key_len = (uint16_t)n;
    ce->ids_off = t->ids_len;
    ce->n_ids = (uint16_t)k;
    memcpy(t->keys + t->keys_len, w, n);
    memcpy(t->ids + t->ids_len, ids, k * sizeof *ids);
    t->keys_len += (uint32_t)n;
    t->ids_len += (uint32_t)k;
    t->slots[i] = ++t->n_entries;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

// Appends the ids of one pre-tokenized piece. out has room for n more ids.
static int mm_encode_piece(const mm_tokenizer *tok, mm_tok_tls *t, const uint8_t *w, size_t n, mm_ids *out) {
    if (n == 1 && tok->byte_id[w[0]] >= 0) {
        out->data[out->len++] = tok->byte_id[w[0]];
        return 0;
    }
    if (tok->ignore_merges) {
        int32_t id = mm_strmap_get(&tok->raw_vocab, (const char *)w, n);
        if (id >= 0) {
            out->data[out->len++] = id;
            return 0;
        }
    }
    uint64_t h = 0;
    int cacheable = n <= MM_CACHE_MAX_PIECE;
    if (cacheable) {
        h = mm_hash_bytes(w, n);
        const mm_cache_entry *ce = mm_cache_get(t, w, n, h);
        if (ce) {
            memcpy(out->data + out->len, t->ids + ce->ids_off, ce->n_ids * sizeof(int32_t));
            out->len += ce->n_ids;
            return 0;
        }
    }
    if (t->scratch_cap < n) {
        int32_t *s = mm_realloc(t->scratch, n * sizeof *s);
        if (!s) return -1;
        t->scratch = s;
        t->scratch_cap = n;
    }
    int32_t *sym = t->scratch;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok->byte_id[w[i]];
        if (id < 0) {  // a byte without a token: <unk> if the model has one, else dropped
            if (tok->unk_id < 0 || (tok->fuse_unk && k > 0 && sym[k - 1] == tok->unk_id)) continue;
            id = tok->unk_id;
        }
        sym[k++] = id;
    }
    k = k <= MM_NAIVE_MAX ? mm_bpe_merge_naive(tok, sym, k) : mm_bpe_merge_heap(tok, sym, k);
    memcpy(out->data + out->len, sym, k * sizeof *sym);
    out->len += k;
    if (cacheable) mm_cache_put(t, w, n, h, sym, k);
    return 0;
}

// Pre-tokenizes and encodes text without added tokens.
static int mm_encode_plain(const mm_tokenizer *tok, mm_tok_tls *t, const uint8_t *s, size_t n, mm_ids *out) {
    if (n == 0) return 0;
    uint8_t *buf = NULL;
    if (tok->add_prefix_space && s[0] != ' ') {
        buf = mm_malloc(n + 1);
        if (!buf) return -1;
        buf[0] = ' ';
        memcpy(buf + 1, s, n);
        s = buf;
        n++;
    }
    int rc = mm_ids_reserve(out, n);  // never more ids than bytes
    for (size_t p = 0; rc == 0 && p < n;) {
        size_t e = mm_pretok_next(s, n, p);
        rc = mm_encode_piece(tok, t, s + p, e - p, out);
        p = e;
    }
    free(buf);
    return rc;
}

// Leftmost-longest added token at or after pos: returns its start (n when none) and sets *which.
static size_t mm_find_added(const mm_tokenizer *tok, const uint8_t *s, size_t n, size_t pos, int *which) {
    for (size_t i = pos; i < n; i++) {
        if (tok->added_one_first >= 0) {
            const uint8_t *p = memchr(s + i, tok->added_one_first, n - i);
            if (!p) return n;
            i = (size_t)(p - s);
        } else if (!tok->added_first[s[i]]) {
            continue;
        }
        int best = -1;
        for (int a = 0; a < tok->n_added; a++) {
            const mm_added_token *at = &tok->added[a];
            if (at->len <= n - i && (best < 0 || at->len > tok->added[best].len) && memcmp(s + i, at->text, at->len) == 0)
                best = a;
        }
        if (best >= 0) {
            *which = best;
            return i;
        }
    }
    return n;
}

int mm_tokenizer_encode(const mm_tokenizer *tok, const char *text, size_t len, mm_ids *out) {
    mm_tok_tls *t = mm_tls_get(tok);
    if (!t) return mm_errorf("tokenizer: out of memory (per-thread cache)");
    const uint8_t *s = (const uint8_t *)text;
    size_t pos = 0;
    while (pos < len) {
        int which = -1;
        size_t m = tok->n_added ? mm_find_added(tok, s, len, pos, &which) : len;
        if (mm_encode_plain(tok, t, s + pos, m - pos, out) != 0) return -1;
        if (m == len) break;
        if (mm_ids_push(out, tok->added[which].id) != 0) return -1;
        pos = m + tok->added[which].len;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

int mm_tokenizer_vocab_size(const mm_tokenizer *tok) { return tok->n_ids; }

const char *mm_tokenizer_token_bytes(const mm_tokenizer *tok, int32_t id, size_t *len_out) {
    if (id < 0 || id >= tok->n_ids || !tok->tok_known[id]) return NULL;
    if (len_out) *len_out = tok->tok_len[id];
    return tok->tok_data + tok->tok_off[id];
}

char *mm_tokenizer_decode(const mm_tokenizer *tok, const int32_t *ids, size_t n, size_t *len_out) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_ids || !tok->tok_known[ids[i]]) {
            mm_errorf("decode: token id %d (at position %zu) is not in the vocabulary (size %d)", (int)ids[i], i,
                      (int)tok->n_ids);
            return NULL;
        }
        total += tok->tok_len[ids[i]];
    }
    char *buf = mm_malloc(total + 1);
    if (!buf) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + o, tok->tok_data + tok->tok_off[ids[i]], tok->tok_len[ids[i]]);
        o += tok->tok_len[ids[i]];
    }
    buf[o] = '\0';
    if (len_out) *len_out = o;
    return buf;
}

// ---------------------------------------------------------------------------------------------
// Loading tokenizer.json
// ---------------------------------------------------------------------------------------------

typedef struct mm_load_ctx {
    const char *path;
    mm_tokenizer *tok;
    mm_strmap vocab;      // byte-level token string (JSON key) -> id
    const char **id_str;  // (n_ids) token strings as written in the JSON (added ones override)
    size_t *id_str_len;
} mm_load_ctx;

#define MM_FIELD_ERR(ctx, field, ...) mm_load_field_error((ctx)->path, field, __VA_ARGS__)

MM_PRINTF(3, 4)
static int mm_load_field_error(const char *path, const char *field, const char *fmt, ...) {
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mm_errorf("%s: field '%s': %s", path, field, what);
}

static const char *mm_json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

// Optional boolean field: absent or null -> def.
static int mm_get_bool(mm_load_ctx *c, json_t *obj, const char *key, const char *field, int def, int *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) return MM_FIELD_ERR(c, field, "expected a boolean, got %s", mm_json_type_name(v));
    *out = json_is_true(v);
    return 0;
}

// Checks obj.key is absent/null or an object whose "type" is one of the allowed names.
static int mm_check_component(mm_load_ctx *c, json_t *root, const char *key, const char *allowed, int null_ok,
                              json_t **out) {
    json_t *v = json_object_get(root, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (null_ok) return 0;
        return MM_FIELD_ERR(c, key, "missing (expected a %s %s)", allowed, key);
    }
    if (!json_is_object(v)) return MM_FIELD_ERR(c, key, "expected an object or null, got %s", mm_json_type_name(v));
    json_t *type = json_object_get(v, "type");
    char field[64];
    snprintf(field, sizeof field, "%s.type", key);
    if (!json_is_string(type)) return MM_FIELD_ERR(c, field, "expected a string");
    if (strcmp(json_string_value(type), allowed) != 0)
        return MM_FIELD_ERR(c, field, "unsupported %s '%s' (supported: %s%s)", key, json_string_value(type), allowed,
                            null_ok ? " or null" : "");
    *out = v;
    return 0;
}

static int mm_load_vocab(mm_load_ctx *c, json_t *model) {
    json_t *vocab = json_object_get(model, "vocab");
    if (!vocab) return MM_FIELD_ERR(c, "model.vocab", "missing");
    if (!json_is_object(vocab)) return MM_FIELD_ERR(c, "model.vocab", "expected an object, got %s", mm_json_type_name(vocab));
    if (json_object_size(vocab) == 0) return MM_FIELD_ERR(c, "model.vocab", "is empty");
    if (mm_strmap_init(&c->vocab, json_object_size(vocab)) != 0) return -1;
    const char *key;
    json_t *v;
    int32_t max_id = -1;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (1 << 30)) {
            char field[320];
            snprintf(field, sizeof field, "model.vocab[\"%.256s\"]", key);
            return MM_FIELD_ERR(c, field, "expected a token id (an integer in 0..2^30), got %s",
                                json_is_integer(v) ? "a negative or huge integer" : mm_json_type_name(v));
        }
        if (json_integer_value(v) > max_id) max_id = (int32_t)json_integer_value(v);
        if (mm_strmap_put(&c->vocab, key, strlen(key), (int32_t)json_integer_value(v)) != 0) return -1;
    }
    c->tok->n_ids = max_id + 1;
    return 0;
}

static int mm_load_added(mm_load_ctx *c, json_t *root) {
    json_t *arr = json_object_get(root, "added_tokens");
    if (!arr || json_is_null(arr)) return 0;
    if (!json_is_array(arr)) return MM_FIELD_ERR(c, "added_tokens", "expected an array, got %s", mm_json_type_name(arr));
    mm_tokenizer *tok = c->tok;
    tok->added = mm_calloc(json_array_size(arr) + 1, sizeof *tok->added);
    if (!tok->added) return -1;
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        char field[96];
        snprintf(field, sizeof field, "added_tokens[%zu]", i);
        if (!json_is_object(e)) return MM_FIELD_ERR(c, field, "expected an object, got %s", mm_json_type_name(e));
        json_t *id = json_object_get(e, "id"), *content = json_object_get(e, "content");
        snprintf(field, sizeof field, "added_tokens[%zu].id", i);
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 30))
            return MM_FIELD_ERR(c, field, "expected a token id (an integer in 0..2^30)");
        snprintf(field, sizeof field, "added_tokens[%zu].content", i);
        if (!json_is_string(content) || json_string_length(content) == 0)
            return MM_FIELD_ERR(c, field, "expected a non-empty string");
        static const char *const unsupported[] = {"single_word", "lstrip", "rstrip"};
        for (int u = 0; u < 3; u++) {
            int flag = 0;
            snprintf(field, sizeof field, "added_tokens[%zu].%s", i, unsupported[u]);
            if (mm_get_bool(c, e, unsupported[u], field, 0, &flag) != 0) return -1;
            if (flag) return MM_FIELD_ERR(c, field, "true is not supported");
        }
        int ignored;
        snprintf(field, sizeof field, "added_tokens[%zu].special", i);
        if (mm_get_bool(c, e, "special", field, 0, &ignored) != 0) return -1;
        snprintf(field, sizeof field, "added_tokens[%zu].normalized", i);
        if (mm_get_bool(c, e, "normalized", field, 0, &ignored) != 0) return -1;
        mm_added_token *at = &tok->added[tok->n_added++];
        at->id = (int32_t)json_integer_value(id);
        at->len = json_string_length(content);
        at->text = mm_malloc(at->len + 1);
        if (!at->text) return -1;
        memcpy(at->text, json_string_value(content), at->len + 1);
        if (at->id >= tok->n_ids) tok->n_ids = at->id + 1;
    }
    int first = -1;
    for (int a = 0; a < tok->n_added; a++) {
        uint8_t b = (uint8_t)tok->added[a].text[0];
        tok->added_first[b] = 1;
        first = (first == -1 || first == b) ? b : -2;
    }
    tok->added_one_first = first >= 0 ? first : -1;
    return 0;
}

// Token bytes for every id: the byte-level decoding of its string when every character is in the
// byte-level alphabet, else the string's own UTF-8 (what HF's ByteLevel decoder does).
static int mm_build_token_bytes(mm_load_ctx *c) {
    mm_tokenizer *tok = c->tok;
    size_t n = (size_t)tok->n_ids;
    c->id_str = mm_calloc(n, sizeof *c->id_str);
    c->id_str_len = mm_calloc(n, sizeof *c->id_str_len);
    tok->tok_off = mm_calloc(n, sizeof *tok->tok_off);
    tok->tok_len = mm_calloc(n, sizeof *tok->tok_len);
    tok->tok_known = mm_calloc(n, 1);
    if (!c->id_str || !c->id_str_len || !tok->tok_off || !tok->tok_len || !tok->tok_known) return -1;
    for (size_t i = 0; i <= c->vocab.mask; i++) {
        const mm_strmap_slot *s = &c->vocab.slots[i];
        if (!s->key) continue;
        if (c->id_str[s->val]) {
            char field[320];
            snprintf(field, sizeof field, "model.vocab[\"%.256s\"]", s->key);
            return MM_FIELD_ERR(c, field, "id %d is also used by \"%.256s\"", (int)s->val, c->id_str[s->val]);
        }
        c->id_str[s->val] = s->key;
        c->id_str_len[s->val] = s->len;
    }
    for (int a = 0; a < tok->n_added; a++) {
        c->id_str[tok->added[a].id] = tok->added[a].text;
        c->id_str_len[tok->added[a].id] = tok->added[a].len;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += c->id_str_len[i];
    if (total >= UINT32_MAX) return mm_errorf("%s: vocabulary too large", c->path);
    tok->tok_data = mm_malloc(total + 1);
    if (!tok->tok_data) return -1;
    uint32_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (!c->id_str[i]) continue;
        long k = mm_bytelevel_decode(c->id_str[i], c->id_str_len[i], (uint8_t *)tok->tok_data + off);
        if (k < 0) {
            memcpy(tok->tok_data + off, c->id_str[i], c->id_str_len[i]);
            k = (long)c->id_str_len[i];
        }
        tok->tok_off[i] = off;
        tok->tok_len[i] = (uint32_t)k;
        tok->tok_known[i] = 1;
        off += (uint32_t)k;
    }
    for (int b = 0; b < 256; b++) {
        char u[4];
        uint8_t byte = (uint8_t)b;
        size_t ul = mm_bytelevel_encode(&byte, 1, u);
        tok->byte_id[b] = mm_strmap_get(&c->vocab, u, ul);
    }
    return 0;
}

// One entry of model.merges: "a b" or ["a", "b"].
static int mm_load_merge(mm_load_ctx *c, json_t *e, size_t i) {
    char field[64];
    snprintf(field, sizeof field, "model.merges[%zu]", i);
    const char *a, *b;
    size_t la, lb;
    char *joined = NULL;
    if (json_is_string(e)) {
        const char *s = json_string_value(e);
        const char *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' ') || sp == s || sp[1] == '\0')
            return MM_FIELD_ERR(c, field, "expected \"LEFT RIGHT\" (two tokens separated by one space), got \"%.200s\"", s);
        a = s;
        la = (size_t)(sp - s);
        b = sp + 1;
        lb = strlen(b);
    } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
               json_is_string(json_array_get(e, 1))) {
        a = json_string_value(json_array_get(e, 0));
        la = json_string_length(json_array_get(e, 0));
        b = json_string_value(json_array_get(e, 1));
        lb = json_string_length(json_array_get(e, 1));
    } else {
        return MM_FIELD_ERR(c, field, "expected a string \"LEFT RIGHT\" or an array [\"LEFT\", \"RIGHT\"], got %s",
                            mm_json_type_name(e));
    }
    int32_t ia = mm_strmap_get(&c->vocab, a, la), ib = mm_strmap_get(&c->vocab, b, lb);
    if (ia < 0) return MM_FIELD_ERR(c, field, "token \"%.*s\" is not in model.vocab", (int)(la > 200 ? 200 : la), a);
    if (ib < 0) return MM_FIELD_ERR(c, field, "token \"%.*s\" is not in model.vocab", (int)(lb > 200 ? 200 : lb), b);
    joined = mm_malloc(la + lb + 1);
    if (!joined) return -1;
    memcpy(joined, a, la);
    memcpy(joined + la, b, lb);
    int32_t id = mm_strmap_get(&c->vocab, joined, la + lb);
    if (id < 0) {
        MM_FIELD_ERR(c, field, "merged token \"%.*s\" is not in model.vocab", (int)(la + lb > 200 ? 200 : la + lb), joined);
        free(joined);
        return -1;
    }
    free(joined);
    mm_merge_table_put(c->tok, ia, ib, (uint32_t)i, id);
    return 0;
}

static int mm_load_model(mm_load_ctx *c, json_t *root) {
    mm_tokenizer *tok = c->tok;
    json_t *model = json_object_get(root, "model");
    if (!model) return MM_FIELD_ERR(c, "model", "missing");
    if (!json_is_object(model)) return MM_FIELD_ERR(c, "model", "expected an object, got %s", mm_json_type_name(model));
    json_t *type = json_object_get(model, "type");
    if (type && !(json_is_string(type) && !strcmp(json_string_value(type), "BPE")))
        return MM_FIELD_ERR(c, "model.type", "unsupported model (only \"BPE\")");
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && !(json_is_number(dropout) && json_number_value(dropout) == 0.0))
        return MM_FIELD_ERR(c, "model.dropout", "BPE dropout is not supported (expected null)");
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(model, affixes[k]);
        char field[64];
        snprintf(field, sizeof field, "model.%s", affixes[k]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
            return MM_FIELD_ERR(c, field, "not supported with byte-level BPE (expected null)");
    }
    int byte_fallback = 0;
    if (mm_get_bool(c, model, "byte_fallback", "model.byte_fallback", 0, &byte_fallback) != 0) return -1;
    if (byte_fallback) return MM_FIELD_ERR(c, "model.byte_fallback", "true is not supported");
    if (mm_get_bool(c, model, "fuse_unk", "model.fuse_unk", 0, &tok->fuse_unk) != 0) return -1;
    if (mm_get_bool(c, model, "ignore_merges", "model.ignore_merges", 0, &tok->ignore_merges) != 0) return -1;
    if (mm_load_vocab(c, model) != 0) return -1;
    json_t *unk = json_object_get(model, "unk_token");
    tok->unk_id = -1;
    if (unk && !json_is_null(unk)) {
        if (!json_is_string(unk)) return MM_FIELD_ERR(c, "model.unk_token", "expected a string or null");
        tok->unk_id = mm_strmap_get(&c->vocab, json_string_value(unk), json_string_length(unk));
        if (tok->unk_id < 0)
            return MM_FIELD_ERR(c, "model.unk_token", "\"%.200s\" is not in model.vocab", json_string_value(unk));
    }
    json_t *merges = json_object_get(model, "merges");
    if (!merges) return MM_FIELD_ERR(c, "model.merges", "missing");
    if (!json_is_array(merges)) return MM_FIELD_ERR(c, "model.merges", "expected an array, got %s", mm_json_type_name(merges));
    if (mm_merge_table_init(tok, json_array_size(merges)) != 0) return -1;
    size_t i;
    json_t *e;
    json_array_foreach(merges, i, e) if (mm_load_merge(c, e, i) != 0) return -1;
    return 0;
}

static int mm_load_json(mm_load_ctx *c, json_t *root) {
    mm_tokenizer *tok = c->tok;
    if (!json_is_object(root)) return mm_errorf("%s: expected a JSON object at the top level", c->path);
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) return MM_FIELD_ERR(c, "normalizer", "only null is supported");
    json_t *trunc = json_object_get(root, "truncation");
    if (trunc && !json_is_null(trunc)) return MM_FIELD_ERR(c, "truncation", "only null is supported");
    json_t *pre, *dec, *post;
    if (mm_check_component(c, root, "pre_tokenizer", "ByteLevel", 0, &pre) != 0) return -1;
    if (mm_get_bool(c, pre, "add_prefix_space", "pre_tokenizer.add_prefix_space", 0, &tok->add_prefix_space) != 0)
        return -1;
    int use_regex = 1;
    if (mm_get_bool(c, pre, "use_regex", "pre_tokenizer.use_regex", 1, &use_regex) != 0) return -1;
    if (!use_regex) return MM_FIELD_ERR(c, "pre_tokenizer.use_regex", "false is not supported");
    if (mm_check_component(c, root, "decoder", "ByteLevel", 1, &dec) != 0) return -1;
    if (mm_check_component(c, root, "post_processor", "ByteLevel", 1, &post) != 0) return -1;
    if (mm_load_model(c, root) != 0) return -1;
    if (mm_load_added(c, root) != 0) return -1;
    if (mm_build_token_bytes(c) != 0) return -1;
    if (tok->ignore_merges) {
        if (mm_strmap_init(&tok->raw_vocab, (size_t)tok->n_ids) != 0) return -1;
        for (int32_t id = 0; id < tok->n_ids; id++)
            if (tok->tok_known[id] &&
                mm_strmap_put(&tok->raw_vocab, tok->tok_data + tok->tok_off[id], tok->tok_len[id], id) != 0)
                return -1;
    }
    return 0;
}

int mm_tokenizer_load(const char *path, mm_tokenizer **out) {
    *out = NULL;
    mm_pretok_init();
    char *file = NULL;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(path) + sizeof "/tokenizer.json";
        file = mm_malloc(n);
        if (!file) return -1;
        snprintf(file, n, "%s/tokenizer.json", path);
    } else {
        file = mm_strdup(path);
        if (!file) return -1;
    }
    size_t len;
    char *text = mm_read_file(file, &len);
    if (!text) {
        free(file);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!root) {
        mm_errorf("%s:%d:%d: malformed JSON: %s", file, jerr.line, jerr.column, jerr.text);
        free(file);
        return -1;
    }
    mm_tokenizer *tok = mm_calloc(1, sizeof *tok);
    mm_load_ctx c = {.path = file, .tok = tok};
    int rc = tok ? mm_load_json(&c, root) : -1;
    mm_strmap_free(&c.vocab);
    free(c.id_str);
    free(c.id_str_len);
    json_decref(root);
    free(file);
    if (rc != 0) {
        mm_tokenizer_free(tok);
        return -1;
    }
    tok->serial = atomic_fetch_add(&mm_tokenizer_serial, 1);
    *out = tok;
    return 0;
}

void mm_tokenizer_free(mm_tokenizer *tok) {
    if (!tok) return;
    for (int a = 0; a < tok->n_added; a++) free(tok->added[a].text);
    free(tok->added);
    free(tok->tok_data);
    free(tok->tok_off);
    free(tok->tok_len);
    free(tok->tok_known);
    free(tok->merges);
    free(tok->merge_filter);
    mm_strmap_free(&tok->raw_vocab);
    free(tok);
}
