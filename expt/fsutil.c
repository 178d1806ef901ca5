// File-system helpers (see fsutil.h).
#include "fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "strbuf.h"

int ex_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int ex_mkdirs(const char *path) {
    char *p = mm_strdup(path);
    if (!p) return -1;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0') continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int rc = mm_errorf_errno("%s: cannot create the directory", p);
            free(p);
            return rc;
        }
        *c = saved;
        if (saved == '\0') break;
    }
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
    free(p);
    return ok ? 0 : mm_errorf("%s: exists and is not a directory", path);
}

int ex_write_if_changed(const char *path, const void *data, size_t len, int *changed) {
    if (changed) *changed = 0;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len) {
        size_t old_len = 0;
        char *old = mm_read_file(path, &old_len);
        int same = old && old_len == len && (len == 0 || memcmp(old, data, len) == 0);
        free(old);
        if (same) return 0;
    }
    mm_error_clear();
    if (mm_write_file_atomic(path, data, len) != 0) return -1;
    if (changed) *changed = 1;
    return 0;
}

char *ex_relpath(const char *path, const char *from) {
    if (path[0] != '/' || from[0] != '/') return mm_strdup(path);
    // Longest common prefix ending at a '/' boundary.
    size_t i = 0, common = 0;
    while (path[i] && from[i] && path[i] == from[i]) {
        if (path[i] == '/') common = i;
        i++;
    }
    if (from[i] == '\0' && (path[i] == '/' || path[i] == '\0')) common = i;
    ex_buf b = {0};
    for (const char *c = from + common; *c; c++)
        if (*c == '/' && c[1] != '\0') ex_buf_puts(&b, "../");
    const char *rest = path + common;
    if (*rest == '/') rest++;
    ex_buf_puts(&b, rest);
    return ex_buf_take(&b);
}
