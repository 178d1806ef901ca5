// Experiment records: sections, marker regions and fields found with cmark; byte splices (record.h).
#include "record.h"

#include <cmark.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fsutil.h"
#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "strbuf.h"

const char *const ex_region_names[] = {"git", "config", "execution", "training", "evaluation", NULL};

typedef struct ex_region_home_entry {
    const char *name, *emoji, *zh, *en;
} ex_region_home_entry;

static const ex_region_home_entry ex_homes[] = {
    {"git", "📝", "📝 Git变更记录", "📝 Git Changes"},
    {"config", "⚙", "⚙️ 配置参数", "⚙️ Configuration"},
    {"execution", "🚀", "🚀 执行记录", "🚀 Execution"},
    {"training", "📊", "📊 训练结果", "📊 Training Results"},
    {"evaluation", "🔍", "🔍 推理评估", "🔍 Inference Evaluation"},
};
#define EX_N_HOMES ((int)(sizeof ex_homes / sizeof ex_homes[0]))

const char *ex_region_home(const char *name) {
    for (int i = 0; i < EX_N_HOMES; i++)
        if (!strcmp(ex_homes[i].name, name)) return ex_homes[i].emoji;
    return NULL;
}

// ---------------------------------------------------------------------------------------------
// Lines

static int ex_build_lines(ex_record *r) {
    size_t cap = 64;
    r->line_start = mm_malloc(cap * sizeof *r->line_start);
    if (!r->line_start) return -1;
    r->n_lines = 0;
    r->line_start[r->n_lines++] = r->bom;
    for (size_t i = r->bom; i < r->len; i++) {
        size_t next;
        if (r->text[i] == '\n') next = i + 1;
        else if (r->text[i] == '\r') next = (i + 1 < r->len && r->text[i + 1] == '\n') ? i + 2 : i + 1;
        else continue;
        if ((size_t)r->n_lines == cap) {
            size_t *ls = mm_realloc(r->line_start, (cap *= 2) * sizeof *ls);
            if (!ls) return -1;
            r->line_start = ls;
        }
        r->line_start[r->n_lines++] = next;
        i = next - 1;
    }
    return 0;
}

// Offset of the first byte of 1-based line `line` (the text length past the last line).
static size_t ex_line_off(const ex_record *r, int line) {
    if (line < 1) return r->bom;
    if (line > r->n_lines) return r->len;
    return r->line_start[line - 1];
}

// Length of the line's content, without its line ending.
static size_t ex_line_len(const ex_record *r, int line) {
    size_t s = ex_line_off(r, line), e = s;
    while (e < r->len && r->text[e] != '\n' && r->text[e] != '\r') e++;
    return e - s;
}

// ---------------------------------------------------------------------------------------------
// Markers

// Parses a marker line; returns 1 (begin), 2 (end) or 0, with the name copied.
static int ex_marker_parse(const char *s, size_t n, char name[EX_REGION_NAME_MAX]) {
    size_t i = 0, sp = 0;
    while (i < n && s[i] == ' ' && sp < 3) i++, sp++;
    if (n - i < 4 || memcmp(s + i, "<!--", 4) != 0) return 0;
    i += 4;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (n - i < 5 || memcmp(s + i, "expt:", 5) != 0) return 0;
    i += 5;
    size_t nl = 0;
    while (i < n && (islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' || s[i] == '-')) {
        if (nl + 1 >= EX_REGION_NAME_MAX) return 0;
        name[nl++] = s[i++];
    }
    name[nl] = '\0';
    if (nl == 0 || i >= n || s[i] != ':') return 0;
    i++;
    int kind;
    if (n - i >= 5 && memcmp(s + i, "begin", 5) == 0) kind = 1, i += 5;
    else if (n - i >= 3 && memcmp(s + i, "end", 3) == 0) kind = 2, i += 3;
    else return 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (n - i < 3 || memcmp(s + i, "-->", 3) != 0) return 0;
    i += 3;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    return i == n ? kind : 0;
}

typedef struct ex_marker {
    int kind;  // 1 begin, 2 end
    int line;
    char name[EX_REGION_NAME_MAX];
} ex_marker;

typedef struct ex_scan {
    ex_marker *markers;
    int n, cap;
    int failed;
} ex_scan;

static void ex_scan_add(ex_scan *s, int kind, int line, const char *name) {
    if (s->failed) return;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        ex_marker *m = mm_realloc(s->markers, (size_t)cap * sizeof *m);
        if (!m) {
            s->failed = 1;
            return;
        }
        s->markers = m;
        s->cap = cap;
    }
    ex_marker *m = &s->markers[s->n++];
    m->kind = kind;
    m->line = line;
    snprintf(m->name, sizeof m->name, "%s", name);
}

static const ex_region *ex_find_region_n(const ex_region *rs, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(rs[i].name, name)) return &rs[i];
    return NULL;
}

// Pairs the markers (in document order) into regions; errors name the lines.
static int ex_pair_markers(ex_record *r, const ex_scan *s) {
    r->regions = s->n ? mm_calloc((size_t)s->n, sizeof *r->regions) : NULL;
    if (s->n && !r->regions) return -1;
    const ex_marker *open = NULL;
    for (int i = 0; i < s->n; i++) {
        const ex_marker *m = &s->markers[i];
        const ex_region *done = ex_find_region_n(r->regions, r->n_regions, m->name);
        if (m->kind == 1) {
            if (open && !strcmp(open->name, m->name))
                return mm_errorf("%s:%d: duplicate begin marker '%s' (first at line %d, which has no end marker)",
                                 r->name, m->line, m->name, open->line);
            if (open)
                return mm_errorf("%s:%d: begin marker '%s' inside region '%s' (begun at line %d, not ended)",
                                 r->name, m->line, m->name, open->name, open->line);
            if (done)
                return mm_errorf("%s:%d: duplicate begin marker '%s' (first at line %d)", r->name, m->line,
                                 m->name, done->begin_line);
            open = m;
            continue;
        }
        if (!open) {
            if (done)
                return mm_errorf("%s:%d: duplicate end marker '%s' (first at line %d)", r->name, m->line, m->name,
                                 done->end_line);
            return mm_errorf("%s:%d: end marker '%s' without a begin marker", r->name, m->line, m->name);
        }
        if (strcmp(open->name, m->name))
            return mm_errorf("%s:%d: end marker '%s' while region '%s' (begun at line %d) is open", r->name,
                             m->line, m->name, open->name, open->line);
        ex_region *g = &r->regions[r->n_regions++];
        snprintf(g->name, sizeof g->name, "%s", m->name);
        g->begin_line = open->line;
        g->end_line = m->line;
        g->content_start = ex_line_off(r, open->line + 1);
        g->content_end = ex_line_off(r, m->line);
        open = NULL;
    }
    if (open)
        return mm_errorf("%s:%d: begin marker '%s' has no end marker", r->name, open->line, open->name);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Parsing

static void ex_collect_text(cmark_node *n, ex_buf *b) {
    for (cmark_node *c = cmark_node_first_child(n); c; c = cmark_node_next(c)) {
        cmark_node_type t = cmark_node_get_type(c);
        if (t == CMARK_NODE_TEXT || t == CMARK_NODE_CODE) {
            const char *lit = cmark_node_get_literal(c);
            if (lit) ex_buf_puts(b, lit);
        } else if (t == CMARK_NODE_SOFTBREAK || t == CMARK_NODE_LINEBREAK) {
            ex_buf_puts(b, " ");
        } else {
            ex_collect_text(c, b);
        }
    }
}

// A malloc'd copy of s[0..n) without leading and trailing spaces and tabs.
static char *ex_trim_ndup(const char *s, size_t n) {
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    char *d = mm_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static char *ex_trim_dup(const char *s) { return ex_trim_ndup(s, strlen(s)); }

static int ex_add_section(ex_record *r, int *cap, cmark_node *h) {
    if (r->n_sections == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        ex_section *s = mm_realloc(r->sections, (size_t)*cap * sizeof *s);
        if (!s) return -1;
        r->sections = s;
    }
    ex_buf b = {0};
    ex_collect_text(h, &b);
    char *raw = ex_buf_take(&b);
    if (!raw) return -1;
    ex_section *s = &r->sections[r->n_sections];
    s->title = ex_trim_dup(raw);
    free(raw);
    if (!s->title) return -1;
    s->level = cmark_node_get_heading_level(h);
    s->line = cmark_node_get_start_line(h);
    s->start = ex_line_off(r, s->line);
    s->body = ex_line_off(r, cmark_node_get_end_line(h) + 1);
    s->end = r->len;
    r->n_sections++;
    return 0;
}

static int ex_parse_tree(ex_record *r, ex_scan *scan) {
    cmark_node *doc = cmark_parse_document(r->text + r->bom, r->len - r->bom, CMARK_OPT_DEFAULT);
    if (!doc) return mm_errorf("%s: cannot parse the Markdown", r->name);
    int sec_cap = 0, rc = 0;
    // Top-level blocks only: a marker inside a list item or block quote is text.
    for (cmark_node *n = cmark_node_first_child(doc); n && rc == 0; n = cmark_node_next(n)) {
        cmark_node_type t = cmark_node_get_type(n);
        if (t == CMARK_NODE_HEADING) {
            rc = ex_add_section(r, &sec_cap, n);
        } else if (t == CMARK_NODE_HTML_BLOCK) {
            // cmark 0.30 reports end_line = start_line - 1 for an HTML block that ends on its
            // first line: count the literal's lines instead.
            int a = cmark_node_get_start_line(n), z = cmark_node_get_end_line(n);
            const char *lit = cmark_node_get_literal(n);
            int nl = 0;
            for (const char *c = lit ? lit : ""; *c; c++) nl += *c == '\n';
            if (lit && *lit && lit[strlen(lit) - 1] != '\n') nl++;
            if (z < a + nl - 1) z = a + nl - 1;
            if (z > r->n_lines) z = r->n_lines;
            for (int line = a; line <= z; line++) {
                char name[EX_REGION_NAME_MAX];
                int kind = ex_marker_parse(r->text + ex_line_off(r, line), ex_line_len(r, line), name);
                if (kind) ex_scan_add(scan, kind, line, name);
            }
        }
    }
    cmark_node_free(doc);
    if (rc == 0 && scan->failed) rc = -1;
    for (int i = 0; i < r->n_sections; i++)
        for (int j = i + 1; j < r->n_sections; j++)
            if (r->sections[j].level <= r->sections[i].level) {
                r->sections[i].end = r->sections[j].start;
                break;
            }
    return rc;
}

static void ex_record_clear_parse(ex_record *r) {
    for (int i = 0; i < r->n_sections; i++) free(r->sections[i].title);
    free(r->sections);
    free(r->regions);
    free(r->line_start);
    r->sections = NULL;
    r->regions = NULL;
    r->line_start = NULL;
    r->n_sections = r->n_regions = r->n_lines = 0;
}

// (Re)builds everything derived from r->text.
static int ex_record_index(ex_record *r) {
    ex_record_clear_parse(r);
    r->bom = (r->len >= 3 && memcmp(r->text, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    r->eol = "\n";
    for (size_t i = r->bom; i < r->len; i++)
        if (r->text[i] == '\n' || r->text[i] == '\r') {
            if (r->text[i] == '\r' && i + 1 < r->len && r->text[i + 1] == '\n') r->eol = "\r\n";
            break;
        }
    if (ex_build_lines(r) != 0) return -1;
    ex_scan scan = {0};
    int rc = ex_parse_tree(r, &scan);
    if (rc == 0) rc = ex_pair_markers(r, &scan);
    free(scan.markers);
    return rc;
}

int ex_record_parse(ex_record *r, const char *name, const char *text, size_t len) {
    memset(r, 0, sizeof *r);
    r->name = mm_strdup(name);
    r->text = mm_malloc(len + 1);
    if (!r->name || !r->text) {
        ex_record_free(r);
        return -1;
    }
    memcpy(r->text, text, len);
    r->text[len] = '\0';
    r->len = len;
    if (ex_record_index(r) != 0) {
        ex_record_free(r);
        return -1;
    }
    return 0;
}

int ex_record_load(ex_record *r, const char *path, const char *name) {
    size_t len = 0;
    char *text = mm_read_file(path, &len);
    if (!text) {
        memset(r, 0, sizeof *r);
        return -1;
    }
    int rc = ex_record_parse(r, name ? name : path, text, len);
    free(text);
    return rc;
}

void ex_record_free(ex_record *r) {
    ex_record_clear_parse(r);
    free(r->name);
    free(r->text);
    memset(r, 0, sizeof *r);
}

int ex_record_save(const ex_record *r, const char *path) { return ex_write_if_changed(path, r->text, r->len, NULL); }

const ex_region *ex_record_region(const ex_record *r, const char *name) {
    return ex_find_region_n(r->regions, r->n_regions, name);
}

const ex_section *ex_record_section(const ex_record *r, const char *key) {
    for (int i = 0; i < r->n_sections; i++)
        if (strstr(r->sections[i].title, key)) return &r->sections[i];
    return NULL;
}

// ---------------------------------------------------------------------------------------------
// Splicing

// Replaces text[a, b) with `with` (already in the record's line endings) and re-indexes. On a
// parse failure of the result the record is left unchanged.
static int ex_splice(ex_record *r, size_t a, size_t b, const char *with, size_t n) {
    size_t len = r->len - (b - a) + n;
    char *t = mm_malloc(len + 1);
    if (!t) return -1;
    memcpy(t, r->text, a);
    memcpy(t + a, with, n);
    memcpy(t + a + n, r->text + b, r->len - b);
    t[len] = '\0';
    char *old = r->text;
    size_t old_len = r->len;
    r->text = t;
    r->len = len;
    if (ex_record_index(r) != 0) {
        char *msg = mm_strdup(mm_error_message());
        r->text = old;
        r->len = old_len;
        free(t);
        ex_record_index(r);
        mm_errorf("%s", msg ? msg : "splice failed");
        free(msg);
        return -1;
    }
    free(old);
    return 0;
}

// content with '\n' endings -> the record's endings, ending with one line ending unless empty.
static char *ex_to_eol(const ex_record *r, const char *content) {
    ex_buf b = {0};
    for (const char *c = content; *c; c++) {
        if (*c == '\r') continue;
        if (*c == '\n') ex_buf_puts(&b, r->eol);
        else ex_buf_append(&b, c, 1);
    }
    size_t n = strlen(content);
    if (n && content[n - 1] != '\n') ex_buf_puts(&b, r->eol);
    return ex_buf_take(&b);
}

static int ex_record_is_en(const ex_record *r) {
    if (strstr(r->text, "人类填写") || strstr(r->text, "AI填写") || ex_record_section(r, "思考")) return 0;
    return strstr(r->text, "[human fills]") || strstr(r->text, "[AI fills]") || ex_record_section(r, "AI Reasoning");
}

static int ex_insert_region(ex_record *r, const char *name) {
    const ex_region_home_entry *h = NULL;
    for (int i = 0; i < EX_N_HOMES; i++)
        if (!strcmp(ex_homes[i].name, name)) h = &ex_homes[i];
    if (!h) return mm_errorf("%s: unknown machine region '%s'", r->name, name);
    const ex_section *s = ex_record_section(r, h->emoji);
    ex_buf b = {0};
    size_t at;
    int ends_open = r->len > r->bom && r->text[r->len - 1] != '\n' && r->text[r->len - 1] != '\r';
    if (s) {
        at = s->body;
        if (at == r->len && ends_open) ex_buf_puts(&b, r->eol);
    } else {
        at = r->len;
        if (ends_open) ex_buf_puts(&b, r->eol);
        ex_buf_printf(&b, "%s## %s%s", r->eol, ex_record_is_en(r) ? h->en : h->zh, r->eol);
    }
    ex_buf_printf(&b, "%s<!-- expt:%s:begin -->%s<!-- expt:%s:end -->%s", r->eol, name, r->eol, name, r->eol);
    char *ins = ex_buf_take(&b);
    if (!ins) return -1;
    int rc = ex_splice(r, at, at, ins, strlen(ins));
    free(ins);
    return rc;
}

int ex_record_set_region(ex_record *r, const char *name, const char *content) {
    if (!ex_record_region(r, name) && ex_insert_region(r, name) != 0) return -1;
    const ex_region *g = ex_record_region(r, name);
    if (!g) return mm_errorf("%s: region '%s' could not be placed", r->name, name);
    char *with = ex_to_eol(r, content);
    if (!with) return -1;
    int rc = ex_splice(r, g->content_start, g->content_end, with, strlen(with));
    free(with);
    if (rc == 0 && !ex_record_region(r, name))
        return mm_errorf("%s: the content written into region '%s' broke its markers", r->name, name);
    return rc;
}

int ex_record_ensure_regions(ex_record *r) {
    int n = 0;
    for (int i = 0; ex_region_names[i]; i++) {
        if (ex_record_region(r, ex_region_names[i])) continue;
        if (ex_insert_region(r, ex_region_names[i]) != 0) return -1;
        n++;
    }
    return n;
}

// ---------------------------------------------------------------------------------------------
// Fields

typedef struct ex_field_def {
    const char *key, *zh, *en;
} ex_field_def;

static const ex_field_def ex_fields[EX_FIELD_COUNT] = {
    {"based_on", "基于实验", "Based on"},
    {"goal", "实验目的", "Goal"},
    {"hypothesis", "研究假设", "Hypothesis"},
    {"expected", "预期结果", "Expected result"},
    {"reasoning", "设计思路", "Design reasoning"},
    {"config_choice", "配置选择", "Configuration choice"},
    {"analysis", "结果分析", "Result analysis"},
    {"conclusion", "结论", "Conclusion"},
    {"next_steps", "下一步", "Next steps"},
};

const char *ex_field_key(ex_field f) { return f < EX_FIELD_COUNT ? ex_fields[f].key : "?"; }
const char *ex_field_label(ex_field f) { return f < EX_FIELD_COUNT ? ex_fields[f].zh : "?"; }

static const char *const ex_placeholders[] = {"[人类填写]", "[AI填写]", "[human fills]", "[AI fills]", NULL};

int ex_has_placeholder(const char *s, size_t len) {
    for (int i = 0; ex_placeholders[i]; i++) {
        size_t n = strlen(ex_placeholders[i]);
        for (size_t j = 0; j + n <= len; j++)
            if (memcmp(s + j, ex_placeholders[i], n) == 0) return 1;
    }
    return 0;
}

static int ex_title_is(const char *title, const ex_field_def *d) {
    // Skip a leading emoji or symbol (any non-ASCII that is not CJK text is fine to skip only
    // when followed by a space): "🎯 结论" matches "结论".
    const char *t = title;
    const char *sp = strchr(t, ' ');
    if (sp && (unsigned char)t[0] >= 0xF0) t = sp + 1;
    size_t zn = strlen(d->zh), en = strlen(d->en);
    if (!strncmp(t, d->zh, zn)) return 1;
    if (!strncasecmp(t, d->en, en) && !isalnum((unsigned char)t[en])) return 1;
    return 0;
}

static int ex_is_blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int ex_record_field(const ex_record *r, ex_field f, ex_field_value *out) {
    memset(out, 0, sizeof *out);
    if (f >= EX_FIELD_COUNT) return mm_errorf("unknown field %d", (int)f);
    const ex_section *s = NULL;
    int idx = -1;
    for (int i = 0; i < r->n_sections; i++)
        if (r->sections[i].level >= 3 && ex_title_is(r->sections[i].title, &ex_fields[f])) {
            s = &r->sections[i];
            idx = i;
            break;
        }
    if (!s) {
        out->text = mm_strdup("");
        return out->text ? 0 : -1;
    }
    size_t start = s->body, end = idx + 1 < r->n_sections ? r->sections[idx + 1].start : r->len;
    for (int i = 0; i < r->n_regions; i++) {
        size_t m = ex_line_off(r, r->regions[i].begin_line);
        if (m >= start && m < end) end = m;
    }
    out->found = 1;
    out->line = s->line;
    out->start = start;
    out->end = end;
    size_t a = start, b = end;
    while (a < b && ex_is_blank((unsigned char)r->text[a])) a++;
    while (b > a && ex_is_blank((unsigned char)r->text[b - 1])) b--;
    out->text = mm_malloc(b - a + 1);
    if (!out->text) return -1;
    memcpy(out->text, r->text + a, b - a);
    out->text[b - a] = '\0';
    // Filled: something besides blanks and HTML comments, and no placeholder.
    int content = 0;
    for (size_t i = a; i < b && !content; i++) {
        if (r->text[i] == '<' && b - i >= 4 && !memcmp(r->text + i, "<!--", 4)) {
            const char *close = NULL;
            for (size_t j = i + 4; j + 3 <= b; j++)
                if (!memcmp(r->text + j, "-->", 3)) {
                    close = r->text + j;
                    break;
                }
            if (!close) break;
            i = (size_t)(close - r->text) + 2;
            continue;
        }
        if (!ex_is_blank((unsigned char)r->text[i])) content = 1;
    }
    out->filled = content && !ex_has_placeholder(r->text + a, b - a);
    return 0;
}

void ex_field_value_free(ex_field_value *v) {
    free(v->text);
    memset(v, 0, sizeof *v);
}

int ex_record_set_field(ex_record *r, ex_field f, const char *content) {
    ex_field_value v;
    if (ex_record_field(r, f, &v) != 0) return -1;
    if (!v.found) {
        ex_field_value_free(&v);
        return mm_errorf("%s: no '### %s' heading for the field %s", r->name, ex_fields[f].zh, ex_fields[f].key);
    }
    char *body = ex_to_eol(r, content);
    ex_buf b = {0};
    ex_buf_puts(&b, r->eol);
    if (body) ex_buf_puts(&b, body);
    if (v.end < r->len) ex_buf_puts(&b, r->eol);
    free(body);
    char *with = ex_buf_take(&b);
    int rc = with ? ex_splice(r, v.start, v.end, with, strlen(with)) : -1;
    free(with);
    ex_field_value_free(&v);
    return rc;
}

char *ex_field_first_line(const ex_field_value *v) {
    const char *s = v->filled && v->text ? v->text : "";
    while (*s == '\n' || *s == '\r' || *s == ' ' || *s == '\t') s++;
    return ex_trim_ndup(s, strcspn(s, "\r\n"));
}
