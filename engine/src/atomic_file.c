// Temp-name-then-rename writes (see minimind/atomic_file.h).
#include "minimind/atomic_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/error.h"

int mm_atomic_open(mm_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = mm_strdup(path);
    af->tmp_path = mm_malloc(n);
    if (!af->path || !af->tmp_path) {
        mm_atomic_abort(af);
        return -1;
    }
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        int rc = mm_errorf_errno("%s: cannot create", af->tmp_path);
        mm_atomic_abort(af);
        return rc;
    }
    return 0;
}

static void mm_atomic_release(mm_atomic_file *af) {
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

int mm_atomic_commit(mm_atomic_file *af) {
    int failed = ferror(af->fp) || fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0;
    if (failed) mm_errorf_errno("%s: write failed", af->path);
    if (fclose(af->fp) != 0 && !failed) {
        failed = 1;
        mm_errorf_errno("%s: close failed", af->path);
    }
    af->fp = NULL;
    if (!failed && rename(af->tmp_path, af->path) != 0) {
        failed = 1;
        mm_errorf_errno("%s: cannot rename into place", af->path);
    }
    if (failed) unlink(af->tmp_path);
    mm_atomic_release(af);
    return failed ? -1 : 0;
}

void mm_atomic_abort(mm_atomic_file *af) {
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    mm_atomic_release(af);
}

int mm_write_file_atomic(const char *path, const void *data, size_t len) {
    mm_atomic_file af;
    if (mm_atomic_open(&af, path) != 0) return -1;
    if (len && fwrite(data, 1, len, af.fp) != len) {
        int rc = mm_errorf_errno("%s: write failed", path);
        mm_atomic_abort(&af);
        return rc;
    }
    return mm_atomic_commit(&af);
}

char *mm_read_file(const char *path, size_t *len_out) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        mm_errorf_errno("%s: cannot open", path);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = mm_malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            char *nb = mm_realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, fp);
        len += got;
        if (got == 0) break;
    }
    if (buf && ferror(fp)) {
        mm_errorf_errno("%s: read failed", path);
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (!buf) return NULL;
    buf[len] = '\0';
    if (len_out) *len_out = len;
    return buf;
}
