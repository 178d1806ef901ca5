// Human fields needed by the run half (see recinfo.h).
#include "recinfo.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"

static const char *const ex_based_on_labels[] = {"基于实验", "Based on", NULL};
static const char *const ex_goal_labels[] = {"实验目的", "Goal", NULL};

static int ex_is_heading(const char *line, size_t len, const char **title) {
    size_t i = 0;
    while (i < len && i < 3 && line[i] == ' ') i++;
    size_t h = i;
    while (i < len && line[i] == '#') i++;
    if (i == h || i - h > 6 || (i < len && line[i] != ' ' && line[i] != '\t')) return 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    *title = line + i;
    return 1;
}

static int ex_placeholder(const char *s, size_t n) {
    const char *const ph[] = {"[人类填写", "[AI填写", "[human fills", "[AI fills"};
    for (size_t k = 0; k < sizeof ph / sizeof ph[0]; k++) {
        size_t m = strlen(ph[k]);
        for (size_t i = 0; i + m <= n; i++)
            if (!strncasecmp(s + i, ph[k], m)) return 1;
    }
    return 0;
}

int ex_recinfo_field(const char *text, const char *const labels[], char *out, size_t cap) {
    out[0] = '\0';
    const char *line = text;
    int in_field = 0;
    const char *start = NULL, *end = NULL;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *title;
        int heading = ex_is_heading(line, len, &title);
        int marker = !strncmp(line + strspn(line, " "), "<!--", 4);
        if (in_field && (heading || marker)) break;
        if (heading)
            for (const char *const *l = labels; *l; l++)
                if (!strncasecmp(title, *l, strlen(*l))) {
                    in_field = 1;
                    start = nl ? nl + 1 : line + len;
                }
        if (in_field) end = line + len;
        line = nl ? nl + 1 : line + len;
    }
    if (!in_field || !start || end < start) return 0;
    if (ex_placeholder(start, (size_t)(end - start))) return 0;
    // First non-blank line.
    for (const char *l = start; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        const char *e = nl ? nl : end;
        const char *b = l;
        while (b < e && isspace((unsigned char)*b)) b++;
        const char *t = e;
        while (t > b && isspace((unsigned char)t[-1])) t--;
        if (t > b) {
            size_t n = (size_t)(t - b) < cap - 1 ? (size_t)(t - b) : cap - 1;
            memcpy(out, b, n);
            out[n] = '\0';
            return 1;
        }
        l = nl ? nl + 1 : end;
    }
    return 0;
}

static char *ex_read_record(const ex_project *p, const char *version) {
    char *path = ex_record_path(p, version);
    if (!path) return NULL;
    char *text = mm_read_file(path, NULL);
    free(path);
    return text;
}

int ex_recinfo_based_on(const ex_project *p, const char *version, char *out, size_t cap) {
    char *text = ex_read_record(p, version);
    if (!text) return -1;
    char line[512];
    int found = ex_recinfo_field(text, ex_based_on_labels, line, sizeof line);
    free(text);
    out[0] = '\0';
    if (!found) return 0;
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
    char *text = ex_read_record(p, version);
    if (!text) return -1;
    int found = ex_recinfo_field(text, ex_goal_labels, out, cap);
    free(text);
    return found;
}
