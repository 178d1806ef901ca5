// Thread-local error messages for the engine (see minimind/error.h).
#include "minimind/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MM_ERROR_CAP 2048

static _Thread_local char mm_error_buf[MM_ERROR_CAP];

int mm_errorf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mm_error_buf, sizeof mm_error_buf, fmt, ap);
    va_end(ap);
    return -1;
}

int mm_error_prefix(const char *fmt, ...) {
    char prefix[MM_ERROR_CAP];
    char old[MM_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, mm_error_buf, sizeof old);
    snprintf(mm_error_buf, sizeof mm_error_buf, "%s: %s", prefix, old);
    return -1;
}

int mm_errorf_errno(const char *fmt, ...) {
    int saved = errno;
    char what[MM_ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(mm_error_buf, sizeof mm_error_buf, "%s: %s", what, strerror(saved));
    return -1;
}

const char *mm_error_message(void) { return mm_error_buf; }

void mm_error_clear(void) { mm_error_buf[0] = '\0'; }

void *mm_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) mm_errorf("out of memory (allocating %zu bytes)", n);
    return p;
}

void *mm_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) mm_errorf("out of memory (allocating %zu x %zu bytes)", count, size);
    return p;
}

void *mm_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) mm_errorf("out of memory (reallocating to %zu bytes)", n);
    return q;
}

char *mm_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = mm_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}
