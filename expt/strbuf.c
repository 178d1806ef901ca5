// Growable byte string (see strbuf.h).
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"

static int ex_buf_reserve(ex_buf *b, size_t extra) {
    if (b->failed) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = mm_realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void ex_buf_append(ex_buf *b, const char *s, size_t n) {
    if (ex_buf_reserve(b, n) != 0) return;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ex_buf_puts(ex_buf *b, const char *s) { ex_buf_append(b, s, strlen(s)); }

void ex_buf_printf(ex_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || ex_buf_reserve(b, (size_t)n) != 0) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ex_buf_md_cell(ex_buf *b, const char *s, size_t max_bytes) {
    size_t n = strlen(s), cut = n;
    if (max_bytes && n > max_bytes) {
        cut = max_bytes;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;  // UTF-8 boundary
    }
    for (size_t i = 0; i < cut; i++) {
        char c = s[i];
        switch (c) {
        case '\r': break;
        case '\n': case '\t': ex_buf_puts(b, " "); break;
        case '|': ex_buf_puts(b, "\\|"); break;
        case '<': ex_buf_puts(b, "&lt;"); break;
        case '>': ex_buf_puts(b, "&gt;"); break;
        case '&': ex_buf_puts(b, "&amp;"); break;
        case '\\': case '*': case '[': case ']': case '`':
            ex_buf_append(b, "\\", 1);
            ex_buf_append(b, &c, 1);
            break;
        default: ex_buf_append(b, &c, 1);
        }
    }
    if (cut < n) ex_buf_puts(b, "…");
}

char *ex_buf_take(ex_buf *b) {
    if (b->failed) {
        ex_buf_free(b);
        return NULL;
    }
    if (!b->data) ex_buf_reserve(b, 0);
    if (b->data) b->data[b->len] = '\0';
    char *d = b->data;
    memset(b, 0, sizeof *b);
    return d;
}

void ex_buf_free(ex_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}
