// Internals of the byte-level BPE tokenizer shared by tokenizer.c, tokenizer_pretok.c,
// bytelevel.c, tokenizer_train.c and the tests (not a public header).
#ifndef MM_TOKENIZER_INTERNAL_H
#define MM_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

// ---- Unicode classes of the GPT-2 pre-tokenizer regex (tokenizer_unicode.c is generated) ----
enum { MM_CLS_OTHER = 0, MM_CLS_LETTER = 1, MM_CLS_NUMBER = 2, MM_CLS_SPACE = 3 };

typedef struct mm_unicode_range {
    uint32_t lo, hi;  // inclusive code point range
    uint8_t cls;      // MM_CLS_*
} mm_unicode_range;

extern const char mm_unicode_version[];
extern const int mm_unicode_n_ranges;
extern const mm_unicode_range mm_unicode_ranges[];

// Code point of a byte that is not part of a valid UTF-8 sequence (it is its own "character",
// class other).
#define MM_CP_INVALID 0xFFFFFFFFu

// Builds the lookup tables once (thread-safe, idempotent). Called by load and train.
void mm_pretok_init(void);
// Class of a code point (MM_CP_INVALID -> MM_CLS_OTHER). mm_pretok_init() must have run.
int mm_unicode_class(uint32_t cp);
// Decodes the character at s[i] (i < n): returns its length in bytes (1..4) and sets *cp
// (MM_CP_INVALID for a byte that does not start a valid, shortest-form, non-surrogate sequence).
size_t mm_utf8_decode(const uint8_t *s, size_t n, size_t i, uint32_t *cp);
// GPT-2 pre-tokenizer: the end (exclusive) of the piece that starts at pos < n. Implements
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ with the
// leftmost-first alternation of Oniguruma.
size_t mm_pretok_next(const uint8_t *s, size_t n, size_t pos);

// ---- GPT-2 byte-level alphabet (bytelevel.c) ----
// The printable code point standing for byte b.
uint32_t mm_bytelevel_char(uint8_t b);
// The byte a code point stands for, or -1 when cp is not in the alphabet.
int mm_bytelevel_byte(uint32_t cp);
// Maps raw bytes to the UTF-8 of their byte-level characters (<= 2 bytes each). dst must hold
// 2*n bytes. Returns the length written.
size_t mm_bytelevel_encode(const uint8_t *src, size_t n, char *dst);
// Maps a UTF-8 byte-level string back to raw bytes. dst must hold n bytes. Returns the length,
// or -1 when some character is not in the alphabet (or the UTF-8 is invalid).
long mm_bytelevel_decode(const char *src, size_t n, uint8_t *dst);

// ---- BPE merge table (tokenizer.c), exposed for the trainer's tests ----
typedef struct mm_merge_slot {
    uint64_t key;  // (a << 32) | b, or MM_MERGE_EMPTY
    uint32_t rank;
    int32_t id;    // id of the merged token
} mm_merge_slot;
#define MM_MERGE_EMPTY UINT64_MAX

// Applies the merges to the symbols ids[0..n) in place (lowest rank first, leftmost on ties)
// and returns the new count. Two strategies, chosen by length; both are exposed so tests can
// check they agree.
struct mm_tokenizer;
size_t mm_bpe_merge_naive(const struct mm_tokenizer *tok, int32_t *ids, size_t n);
size_t mm_bpe_merge_heap(const struct mm_tokenizer *tok, int32_t *ids, size_t n);

// ---- Byte-string hash map (tokenizer.c): key bytes (not copied: they must outlive the map) ->
// int32 value. Grows as needed.
typedef struct mm_strmap_slot {
    const char *key;  // NULL = empty
    uint32_t len;
    int32_t val;
    uint64_t hash;
} mm_strmap_slot;
typedef struct mm_strmap {
    mm_strmap_slot *slots;
    size_t mask;  // capacity - 1 (a power of two)
    size_t n;
} mm_strmap;

uint64_t mm_hash_bytes(const void *p, size_t n);
int mm_strmap_init(mm_strmap *m, size_t expected);
void mm_strmap_free(mm_strmap *m);
// The value of key, or -1 when absent.
int32_t mm_strmap_get(const mm_strmap *m, const char *key, size_t len);
// Inserts or overwrites. Returns 0, or -1 when out of memory.
int mm_strmap_put(mm_strmap *m, const char *key, size_t len, int32_t val);

#endif
