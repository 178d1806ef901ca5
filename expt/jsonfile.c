// JSON file helpers (see jsonfile.h).
#include "jsonfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/json_text.h"

json_t *ex_json_load(const char *path, int *missing) {
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

int ex_json_save(const char *path, const json_t *obj) {
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

long long ex_json_int(const json_t *obj, const char *key, long long def) {
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (json_is_integer(v)) return json_integer_value(v);
    if (json_is_real(v)) {  // in range only: the cast of a larger value is undefined
        const double x = json_real_value(v);
        return x > -9.2e18 && x < 9.2e18 ? (long long)x : def;
    }
    return def;
}

double ex_json_num(const json_t *obj, const char *key, double def) {
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_number(v) ? json_number_value(v) : def;
}

const char *ex_json_str(const json_t *obj, const char *key) {
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int ex_json_bool(const json_t *obj, const char *key, int def) {
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_boolean(v) ? json_is_true(v) : def;
}

json_t *ex_json_text(const char *s) { return mm_json_text(s, strlen(s)); }
