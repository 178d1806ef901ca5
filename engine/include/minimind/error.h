// Error reporting for the engine: functions return an int status (0 ok, -1 error) and set a
// thread-local message. The CLI prints it as `minimind: error: MESSAGE` and exits non-zero.
// Messages about input name the place: "FILE:LINE:COL: what was wrong" or "FILE: field 'x': ...".
#ifndef MINIMIND_ERROR_H
#define MINIMIND_ERROR_H

#include <stddef.h>

#if defined(__GNUC__)
#define MM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MM_PRINTF(a, b)
#endif

// Sets the message (printf-style) and returns -1, so `return mm_errorf(...);` reads naturally.
int mm_errorf(const char *fmt, ...) MM_PRINTF(1, 2);

// Prepends context to the current message: "CTX: old message". Returns -1.
int mm_error_prefix(const char *fmt, ...) MM_PRINTF(1, 2);

// The last message set on this thread ("" when none).
const char *mm_error_message(void);

// Clears the message.
void mm_error_clear(void);

// Sets the message from errno: "WHAT: strerror(errno)". Returns -1.
int mm_errorf_errno(const char *fmt, ...) MM_PRINTF(1, 2);

// Allocation helpers that set an error message instead of returning silently.
void *mm_malloc(size_t n);
void *mm_calloc(size_t count, size_t size);
void *mm_realloc(void *p, size_t n);
char *mm_strdup(const char *s);

#endif
