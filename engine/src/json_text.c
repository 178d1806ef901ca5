// JSON strings of text that may not be valid UTF-8 (see minimind/json_text.h).
#include "minimind/json_text.h"

#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"

// Length of the valid UTF-8 sequence at s[0..n), or -(length of its maximal invalid subpart)
// (Unicode's "maximal subpart" rule, as Python's errors="replace" and Rust's from_utf8_lossy).
static int mm_utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return -1;
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n) return -k;
        unsigned char b = s[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -k;
    }
    return len;
}

json_t *mm_json_text(const char *s, size_t n) {
    char *out = mm_malloc(3 * n + 1);  // each invalid byte at most becomes 3 bytes
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int k = mm_utf8_seq((const unsigned char *)s + i, n - i);
        if (k > 0) {
            memcpy(out + o, s + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += (size_t)-k;
        }
    }
    json_t *j = json_stringn(out, o);
    if (!j) mm_errorf("out of memory building a JSON string of %zu bytes", o);
    free(out);
    return j;
}
