// JSON Lines streaming reader (see minimind/jsonl.h).
#include "minimind/jsonl.h"

#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"

int mm_jsonl_open(mm_jsonl_reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->fp = fopen(path, "rb");
    if (!r->fp) return mm_errorf_errno("%s: cannot open", path);
    return 0;
}

void mm_jsonl_close(mm_jsonl_reader *r) {
    if (r->fp) fclose(r->fp);
    free(r->line);
    memset(r, 0, sizeof *r);
}

static int mm_is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

int mm_jsonl_next_raw(mm_jsonl_reader *r) {
    for (;;) {
        ssize_t n = getline(&r->line, &r->line_cap, r->fp);
        if (n < 0) {
            if (ferror(r->fp)) return mm_errorf_errno("%s:%ld: read failed", r->path, r->line_no + 1), -2;
            return 0;
        }
        r->line_no++;
        r->offset += n;
        r->line_len = (size_t)n;
        if (!mm_is_blank(r->line, r->line_len)) return 1;
    }
}

int mm_jsonl_parse_line(const char *path, long line_no, const char *line, size_t len, json_t **obj) {
    *obj = NULL;
    json_error_t err;
    json_t *v = json_loadb(line, len, JSON_ALLOW_NUL, &err);
    if (!v) return mm_errorf("%s:%ld:%d: malformed JSON: %s", path, line_no, err.column, err.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return mm_errorf("%s:%ld:1: expected a JSON object", path, line_no);
    }
    *obj = v;
    return 1;
}

int mm_jsonl_next(mm_jsonl_reader *r, json_t **obj) {
    *obj = NULL;
    int rc = mm_jsonl_next_raw(r);
    if (rc <= 0) return rc;
    return mm_jsonl_parse_line(r->path, r->line_no, r->line, r->line_len, obj);
}

int mm_jsonl_string_field(const mm_jsonl_reader *r, json_t *obj, const char *key, const char **s,
                          size_t *len) {
    json_t *v = json_object_get(obj, key);
    if (!v) return mm_errorf("%s:%ld: missing field '%s'", r->path, r->line_no, key);
    if (!json_is_string(v)) return mm_errorf("%s:%ld: field '%s' is not a string", r->path, r->line_no, key);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}
