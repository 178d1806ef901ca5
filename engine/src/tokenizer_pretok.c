// The GPT-2 pre-tokenizer used by byte-level BPE, without a regex engine:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Oniguruma (behind Hugging Face `tokenizers`) tries the alternatives in order at each position
// and every character is matched by one of them, so the text splits into consecutive pieces:
//   - an apostrophe followed by s t m d / re ve ll (case-sensitive) is a piece;
//   - an optional single U+0020 plus a maximal run of letters, of numbers, or of "other";
//   - a whitespace run: whole at the end of the text; otherwise `\s+(?!\S)` backtracks one
//     character so the last whitespace can join the next word (if it is a U+0020), and a single
//     whitespace character before a non-space is matched alone by `\s+`.
// Bytes that are not valid UTF-8 each count as one character of class "other" (HF cannot see
// them at all: Python/Rust strings are valid UTF-8); their bytes still go through the byte-level
// alphabet, so encoding is total and decoding gives the bytes back.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

// Two-level class table built from the generated ranges: stage1[cp >> 8] selects a 256-entry
// block of stage2.
static uint16_t mm_cls_stage1[0x110000 >> 8];
static uint8_t *mm_cls_stage2;
static uint8_t mm_cls_ascii[128];
static pthread_once_t mm_pretok_once = PTHREAD_ONCE_INIT;

static void mm_pretok_build(void) {
    const size_t n_blocks = 0x110000 >> 8;
    uint8_t block[256];
    size_t n_unique = 0, cap = 64;
    uint8_t *uniq = malloc(cap * 256);
    int r = 0;
    for (size_t bi = 0; bi < n_blocks && uniq; bi++) {
        uint32_t base = (uint32_t)(bi << 8);
        for (uint32_t k = 0; k < 256; k++) {
            uint32_t cp = base + k;
            while (r < mm_unicode_n_ranges && mm_unicode_ranges[r].hi < cp) r++;
            block[k] = (r < mm_unicode_n_ranges && mm_unicode_ranges[r].lo <= cp) ? mm_unicode_ranges[r].cls
                                                                                    : MM_CLS_OTHER;
        }
        size_t u = 0;
        while (u < n_unique && memcmp(uniq + u * 256, block, 256) != 0) u++;
        if (u == n_unique) {
            if (n_unique == cap) {
                uint8_t *g = realloc(uniq, (cap *= 2) * 256);
                if (!g) {
                    free(uniq);
                    uniq = NULL;
                    break;
                }
                uniq = g;
            }
            memcpy(uniq + u * 256, block, 256);
            n_unique++;
        }
        mm_cls_stage1[bi] = (uint16_t)u;
    }
    if (!uniq) {  // out of memory at start-up: fall back to one all-"other" block
        static uint8_t other[256];
        memset(mm_cls_stage1, 0, sizeof mm_cls_stage1);
        mm_cls_stage2 = other;
    } else {
        mm_cls_stage2 = uniq;  // kept for the life of the process
    }
    for (int c = 0; c < 128; c++) mm_cls_ascii[c] = mm_cls_stage2[mm_cls_stage1[0] * 256 + c];
}

void mm_pretok_init(void) { pthread_once(&mm_pretok_once, mm_pretok_build); }

int mm_unicode_class(uint32_t cp) {
    if (cp >= 0x110000) return MM_CLS_OTHER;
    return mm_cls_stage2[(size_t)mm_cls_stage1[cp >> 8] * 256 + (cp & 0xFF)];
}

size_t mm_utf8_decode(const uint8_t *s, size_t n, size_t i, uint32_t *cp) {
    uint8_t c = s[i];
    size_t left = n - i;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c < 0xE0) {
        if (left >= 2 && (s[i + 1] & 0xC0) == 0x80) {
            *cp = ((uint32_t)(c & 0x1F) << 6) | (s[i + 1] & 0x3F);
            return 2;
        }
    } else if (c >= 0xE0 && c < 0xF0) {
        if (left >= 3 && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80 &&
            !(c == 0xE0 && s[i + 1] < 0xA0) && !(c == 0xED && s[i + 1] >= 0xA0)) {
            *cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
            return 3;
        }
    } else if (c >= 0xF0 && c < 0xF5) {
        if (left >= 4 && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80 &&
            (s[i + 3] & 0xC0) == 0x80 && !(c == 0xF0 && s[i + 1] < 0x90) && !(c == 0xF4 && s[i + 1] >= 0x90)) {
            *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3F) << 12) |
                  ((uint32_t)(s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
            return 4;
        }
    }
    *cp = MM_CP_INVALID;
    return 1;
}

// Class and length of the character at s[i].
static inline int mm_char_at(const uint8_t *s, size_t n, size_t i, size_t *len) {
    if (s[i] < 0x80) {
        *len = 1;
        return mm_cls_ascii[s[i]];
    }
    uint32_t cp;
    *len = mm_utf8_decode(s, n, i, &cp);
    return cp == MM_CP_INVALID ? MM_CLS_OTHER : mm_unicode_class(cp);
}

size_t mm_pretok_next(const uint8_t *s, size_t n, size_t pos) {
    size_t l0;
    int k0 = mm_char_at(s, n, pos, &l0);
    if (s[pos] == '\'' && pos + 1 < n) {  // contractions
        uint8_t a = s[pos + 1];
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return pos + 2;
        if (pos + 2 < n) {
            uint8_t b = s[pos + 2];
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return pos + 3;
        }
    }
    size_t start = pos;
    int k = k0;
    if (s[pos] == ' ' && pos + 1 < n) {  // ` ?X+`: a space joins a following non-space run
        size_t l1;
        int k1 = mm_char_at(s, n, pos + 1, &l1);
        if (k1 != MM_CLS_SPACE) {
            start = pos + 1;
            k = k1;
        }
    }
    if (k != MM_CLS_SPACE) {  // maximal run of one class
        size_t e = start;
        while (e < n) {
            size_t l;
            if (mm_char_at(s, n, e, &l) != k) break;
            e += l;
        }
        return e;
    }
    // Whitespace run.
    size_t e = pos, last = pos, count = 0;
    while (e < n) {
        size_t l;
        if (mm_char_at(s, n, e, &l) != MM_CLS_SPACE) break;
        last = e;
        e += l;
        count++;
    }
    if (e == n || count < 2) return e;  // `\s+(?!\S)` whole at the end; `\s+` for one char
    return last;                        // `\s+(?!\S)` leaves the last one for the next piece
}
