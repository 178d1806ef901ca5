// A growable byte string for building Markdown, SVG and JSON text (expt/strbuf.c).
#ifndef EXPT_STRBUF_H
#define EXPT_STRBUF_H

#include <stddef.h>

#include "minimind/error.h"

typedef struct ex_buf {
    char *data;  // NUL-terminated (NULL until the first append)
    size_t len, cap;
    int failed;  // an allocation failed; later appends are ignored
} ex_buf;

void ex_buf_append(ex_buf *b, const char *s, size_t n);
void ex_buf_puts(ex_buf *b, const char *s);
void ex_buf_printf(ex_buf *b, const char *fmt, ...) MM_PRINTF(2, 3);
// Appends s for a Markdown table cell: newlines become spaces, `|` `\` `<` `>` `&` `*` `[`
// `]` and backquotes are escaped (so text can never form a marker, a link or a code span), at
// most max_bytes bytes (0 = no limit; cut at a UTF-8 boundary, then "…").
void ex_buf_md_cell(ex_buf *b, const char *s, size_t max_bytes);
// Returns the string (never NULL when !failed; "" for an empty buffer) and hands it over.
char *ex_buf_take(ex_buf *b);
void ex_buf_free(ex_buf *b);

#endif
