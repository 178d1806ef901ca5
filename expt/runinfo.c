// Run records: JSON helpers and log tails (see runinfo.h).
#include "runinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"

json_t *ex_runjson_read(const char *path, int *missing) {
    if (missing) *missing = 0;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        if (missing) *missing = 1;
        mm_errorf("%s: does not exist", path);
        return NULL;
    }
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) {
        mm_errorf("%s:%d:%d: %s", path, e.line, e.column, e.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        mm_errorf("%s: expected a JSON object", path);
        return NULL;
    }
    return j;
}

int ex_runjson_write(const char *path, const json_t *obj) {
    char *s = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s) return mm_errorf("%s: cannot encode JSON", path);
    size_t n = strlen(s);
    char *buf = mm_malloc(n + 2);
    if (!buf) {
        free(s);
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\n';
    free(s);
    int rc = mm_write_file_atomic(path, buf, n + 1);
    free(buf);
    return rc;
}

long long ex_jint(const json_t *obj, const char *key, long long def) {
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v)) return json_integer_value(v);
    if (json_is_real(v)) return (long long)json_real_value(v);
    return def;
}

double ex_jnum(const json_t *obj, const char *key, double def) {
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

const char *ex_jstr(const json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int ex_jbool(const json_t *obj, const char *key, int def) {
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

char *ex_log_tail(const char *path, int n, long since) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return mm_strdup("");
    // Read at most the last 64 KiB: enough for 40 lines of a log.
    long cap = 64 * 1024;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    if (since < 0 || since > size) since = 0;
    long from = size - since > cap ? size - cap : since;
    fseek(fp, from, SEEK_SET);
    char *buf = mm_malloc((size_t)(size - from) + 1);
    if (!buf) {
        fclose(fp);
        return NULL;
    }
    size_t got = fread(buf, 1, (size_t)(size - from), fp);
    fclose(fp);
    buf[got] = '\0';
    // Walk back over n line ends (ignoring a final newline).
    size_t end = got;
    if (end > 0 && buf[end - 1] == '\n') end--;
    size_t start = end;
    int lines = 0;
    while (start > 0) {
        if (buf[start - 1] == '\n' && ++lines == n) break;
        start--;
    }
    if (start == 0 && from > since) {  // skip a partial first line
        char *nl = memchr(buf, '\n', got);
        if (nl) start = (size_t)(nl - buf) + 1;
    }
    memmove(buf, buf + start, got - start + 1);
    return buf;
}

double ex_mtime(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec;
}
