// Streaming reader for JSON Lines files: one object per line, read line by line (a 1.6 GB file is
// never held in memory). Errors name the file, the 1-based line and the column.
#ifndef MINIMIND_JSONL_H
#define MINIMIND_JSONL_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

typedef struct mm_jsonl_reader {
    const char *path;
    FILE *fp;
    char *line;        // current raw line (valid until the next call)
    size_t line_cap;
    size_t line_len;
    long line_no;      // 1-based number of the current line
    long long offset;  // byte offset of the start of the next line (for progress)
} mm_jsonl_reader;

int mm_jsonl_open(mm_jsonl_reader *r, const char *path);
void mm_jsonl_close(mm_jsonl_reader *r);

// Reads the next non-blank line as a JSON object.
// Returns 1 with *obj set (caller json_decref's it), 0 at end of file, or -1 when the line is not
// a JSON object: the error reads "PATH:LINE:COL: ..." and the next call goes on with the next line.
// Returns -2 on an I/O error (stop reading).
int mm_jsonl_next(mm_jsonl_reader *r, json_t **obj);

// The two halves of mm_jsonl_next, for readers that parse lines on several threads:
// mm_jsonl_next_raw advances to the next non-blank line without parsing it (r->line, r->line_len,
// r->line_no describe it until the next call); returns 1, 0 at end of file, -2 on an I/O error.
int mm_jsonl_next_raw(mm_jsonl_reader *r);
// Parses one line (line number line_no of path) as a JSON object: 1 with *obj set, or -1 with the
// error "PATH:LINE:COL: ..." exactly as mm_jsonl_next reports it. Thread-safe.
int mm_jsonl_parse_line(const char *path, long line_no, const char *line, size_t len, json_t **obj);

// Fetches the string field `key` of obj; -1 with "PATH:LINE: missing string field 'key'" if absent
// or not a string. *len receives the length in bytes (strings may contain NUL).
int mm_jsonl_string_field(const mm_jsonl_reader *r, json_t *obj, const char *key, const char **s,
                          size_t *len);

#endif
