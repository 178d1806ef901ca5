// The GPT-2 byte-level alphabet: each of the 256 byte values stands for one printable code point,
// so any byte string is a (printable) Unicode string. Printable Latin-1 bytes ('!'..'~',
// '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes, in increasing order, for
// U+0100, U+0101, ... (so the space 0x20 is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
#include <stdint.h>

#include "tokenizer_internal.h"

static int mm_bytelevel_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

// Index of byte b among the non-printable bytes (b must be non-printable).
static unsigned mm_bytelevel_rank(unsigned b) {
    if (b <= 0x20) return b;             // 0x00..0x20: 33 bytes
    if (b <= 0xA0) return 33 + b - 0x7F;  // 0x7F..0xA0: 34 bytes
    return 67;                           // 0xAD
}

uint32_t mm_bytelevel_char(uint8_t b) {
    return mm_bytelevel_printable(b) ? b : 256u + mm_bytelevel_rank(b);
}

int mm_bytelevel_byte(uint32_t cp) {
    if (cp < 256) return mm_bytelevel_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    unsigned r = cp - 256;
    if (r <= 32) return (int)r;
    if (r <= 66) return (int)(r - 33 + 0x7F);
    return 0xAD;
}

size_t mm_bytelevel_encode(const uint8_t *src, size_t n, char *dst) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = mm_bytelevel_char(src[i]);
        if (c < 0x80) {
            dst[o++] = (char)c;
        } else {  // all alphabet code points are < 0x800: two UTF-8 bytes
            dst[o++] = (char)(0xC0 | (c >> 6));
            dst[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    return o;
}

long mm_bytelevel_decode(const char *src, size_t n, uint8_t *dst) {
    const uint8_t *s = (const uint8_t *)src;
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = mm_utf8_decode(s, n, i, &cp);
        int b = cp == MM_CP_INVALID ? -1 : mm_bytelevel_byte(cp);
        if (b < 0) return -1;
        dst[o++] = (uint8_t)b;
        i += l;
    }
    return (long)o;
}
