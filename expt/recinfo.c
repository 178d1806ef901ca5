// Human fields needed by the run half (see recinfo.h).
#include "recinfo.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "record.h"

// The first non-blank line of field f of the record of `version` into out. 1 / 0 / -1 as above.
static int ex_recinfo_line(const ex_project *p, const char *version, ex_field f, char *out, size_t cap) {
    out[0] = '\0';
    char *path = ex_record_path(p, version);
    if (!path) return -1;
    ex_record r;
    int rc = ex_record_load(&r, path, NULL);
    free(path);
    if (rc != 0) return -1;
    ex_field_value v;
    rc = ex_record_field(&r, f, &v);
    ex_record_free(&r);
    if (rc != 0) return -1;
    char *line = v.filled ? ex_field_first_line(&v) : NULL;
    int found = line && *line;
    if (found) snprintf(out, cap, "%s", line);
    free(line);
    ex_field_value_free(&v);
    return found;
}

int ex_recinfo_based_on(const ex_project *p, const char *version, char *out, size_t cap) {
    char line[512];
    int found = ex_recinfo_line(p, version, EX_FIELD_BASED_ON, line, sizeof line);
    out[0] = '\0';
    if (found <= 0) return found;
    // The first X.Y.Z in the line ("1.0.0", "`1.0.0`", "experiment 1.0.0", ...).
    for (const char *c = line; *c; c++) {
        if (!isdigit((unsigned char)*c) || (c > line && (isdigit((unsigned char)c[-1]) || c[-1] == '.')))
            continue;
        size_t n = strspn(c, "0123456789.");
        char cand[64];
        if (n >= sizeof cand) continue;
        memcpy(cand, c, n);
        cand[n] = '\0';
        while (n && cand[n - 1] == '.') cand[--n] = '\0';
        if (ex_version_validate(cand) == 0 && n < cap) {
            memcpy(out, cand, n + 1);
            return 1;
        }
    }
    mm_error_clear();
    return 0;
}

int ex_recinfo_goal(const ex_project *p, const char *version, char *out, size_t cap) {
    return ex_recinfo_line(p, version, EX_FIELD_GOAL, out, cap);
}
