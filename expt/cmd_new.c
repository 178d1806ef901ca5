// `expt new X.Y.Z [--from A.B.C] [--model-type T] [--lang zh|en]`: creates the record, the run
// script and the configuration of a new experiment from the templates.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "fsutil.h"
#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "record.h"
#include "runconfig.h"
#include "strbuf.h"
#include "templates.h"

static const char ex_new_usage[] =
    "usage: expt new X.Y.Z [--from A.B.C] [--model-type T] [--set SECTION.KEY=VALUE ...] [--lang zh|en]\n\n"
    "Creates experiment/experiment_X.Y.Z.md (from templates/EXPERIMENT_TEMPLATE.md, or .en.md with\n"
    "--lang en), run_file/experiment_X.Y.Z.sh and run_file/experiment_X.Y.Z.ini. Refuses to overwrite.\n"
    "  X.Y.Z            digits only: X architecture, Y feature or important parameters, Z tuning\n"
    "  --from A.B.C     copy A.B.C's configuration and fill \"based on\" with A.B.C\n"
    "  --model-type T   model_original (default), model or model_no_feed\n"
    "  --set S.K=V      set [S] K = V in the new configuration (repeatable; checked as the run's\n"
    "                   pre-run gate checks it: an unknown key or a bad value creates nothing)\n"
    "  --lang zh|en     record language (default: expt.ini [record] lang, else zh)\n";

static const char *const ex_model_types[] = {"model_original", "model", "model_no_feed", NULL};

// Replaces every occurrence of `from` in s by `to` (malloc'd).
static char *ex_replace_all(const char *s, const char *from, const char *to) {
    ex_buf b = {0};
    size_t fn = strlen(from);
    for (const char *c = s;;) {
        const char *hit = strstr(c, from);
        if (!hit) {
            ex_buf_puts(&b, c);
            break;
        }
        ex_buf_append(&b, c, (size_t)(hit - c));
        ex_buf_puts(&b, to);
        c = hit + fn;
    }
    return ex_buf_take(&b);
}

// Where an inline comment starts in the value [v, end) — whitespace then ';' (inih's rule) — or end.
static const char *ex_inline_comment(const char *v, const char *end) {
    for (const char *c = v; c < end; c++)
        if (*c == ';' && c > v && (c[-1] == ' ' || c[-1] == '\t')) {
            while (c > v && (c[-1] == ' ' || c[-1] == '\t')) c--;
            return c;
        }
    return end;
}

// Sets `key = value` in [section] of INI text, keeping every other byte (the line's inline comment
// and ending too);
// the key is added right after the section header when absent, the section at the end when absent.
static char *ex_ini_text_set(const char *text, const char *section, const char *key, const char *value) {
    const char *eol = strstr(text, "\r\n") ? "\r\n" : "\n";
    ex_buf b = {0};
    const char *c = text, *insert_at = NULL;
    int in_section = 0, done = 0;
    while (*c) {
        const char *line = c, *end = c + strcspn(c, "\r\n");
        const char *next = end;
        if (*next == '\r') next++;
        if (*next == '\n') next++;
        const char *t = line;
        while (t < end && (*t == ' ' || *t == '\t')) t++;
        if (*t == '[') {
            const char *close = memchr(t, ']', (size_t)(end - t));
            in_section = close && (size_t)(close - t - 1) == strlen(section) && !strncmp(t + 1, section, strlen(section));
            if (in_section && !done) insert_at = next;
        } else if (in_section && !done && !strncmp(t, key, strlen(key))) {
            const char *k = t + strlen(key);
            while (k < end && (*k == ' ' || *k == '\t')) k++;
            if (k < end && (*k == '=' || *k == ':')) {
                ex_buf_append(&b, line, (size_t)(k + 1 - line));
                ex_buf_printf(&b, " %s", value);
                const char *comment = ex_inline_comment(k + 1, end);  // kept: " ; why"
                ex_buf_append(&b, comment, (size_t)(next - comment));
                c = next;
                done = 1;
                continue;
            }
        }
        ex_buf_append(&b, line, (size_t)(next - line));
        c = next;
    }
    char *out = ex_buf_take(&b);
    if (done || !out) return out;
    ex_buf r = {0};
    if (insert_at) {
        size_t at = (size_t)(insert_at - text);
        ex_buf_append(&r, out, at);
        ex_buf_printf(&r, "%s = %s%s", key, value, eol);
        ex_buf_puts(&r, out + at);
    } else {
        ex_buf_puts(&r, out);
        size_t n = strlen(out);
        if (n && out[n - 1] != '\n') ex_buf_puts(&r, eol);
        ex_buf_printf(&r, "%s[%s]%s%s = %s%s", eol, section, eol, key, value, eol);
    }
    free(out);
    return ex_buf_take(&r);
}

typedef struct ex_new_opts {
    const char *version, *from, *model_type, *lang;
    mm_strlist sets;  // --set SECTION.KEY=VALUE, in order
} ex_new_opts;

// "SECTION.KEY=VALUE" split into its parts (section and key in fixed buffers); 0, or -1 with the
// error set when malformed, unknown or not a value the engine accepts.
typedef struct ex_set {
    char section[64], key[64];
    const char *value;
} ex_set;

// Why `key = value` cannot be one INI line as inih reads it back (NULL when it can): no line
// break, no ';' after whitespace (the rest would be an inline comment), under inih's 200 bytes.
static const char *ex_set_value_fits(const ex_set *s) {
    if (strpbrk(s->value, "\r\n")) return "a value cannot hold a line break";
    for (const char *c = strchr(s->value, ';'); c; c = strchr(c + 1, ';'))
        if (c > s->value && (c[-1] == ' ' || c[-1] == '\t'))
            return "a ';' after a space would start a comment in the INI file";
    if (strlen(s->key) + 3 + strlen(s->value) >= 200) return "the line would pass the INI reader's 200 bytes";
    return NULL;
}

static int ex_set_parse(const char *arg, ex_set *s) {
    const char *dot = strchr(arg, '.'), *eq = strchr(arg, '=');
    if (!dot || !eq || dot > eq || dot == arg || eq == dot + 1 || (size_t)(dot - arg) >= sizeof s->section ||
        (size_t)(eq - dot - 1) >= sizeof s->key)
        return mm_errorf("--set '%s': expected SECTION.KEY=VALUE, e.g. train.learning_rate=1e-3", arg);
    memcpy(s->section, arg, (size_t)(dot - arg));
    s->section[dot - arg] = '\0';
    memcpy(s->key, dot + 1, (size_t)(eq - dot - 1));
    s->key[eq - dot - 1] = '\0';
    s->value = eq + 1;
    const char *why = ex_config_check(s->section, s->key, s->value);
    if (!why) why = ex_set_value_fits(s);
    return why ? mm_errorf("--set %s: [%s] %s: %s", arg, s->section, s->key, why) : 0;
}

// Applies every --set to the configuration's text (keeping its comments and every other line).
static char *ex_apply_sets(char *ini, const mm_strlist *sets) {
    for (int i = 0; ini && i < sets->n; i++) {
        ex_set s;
        char *set =
            ex_set_parse(sets->v[i], &s) == 0 ? ex_ini_text_set(ini, s.section, s.key, s.value) : NULL;
        free(ini);
        ini = set;
    }
    return ini;
}

// Parses and checks the arguments. Returns EX_CONTINUE, or the exit status (0 after --help).
static int ex_new_parse(int argc, char **argv, ex_new_opts *o) {
    mm_opt opts[] = {
        mm_opt_required(mm_opt_arg("X.Y.Z", &o->version)),
        mm_opt_str("--from", &o->from),
        mm_opt_str("--model-type", &o->model_type),
        mm_opt_list("--set SECTION.KEY=VALUE", &o->sets),
        mm_opt_str("--lang", &o->lang),
    };
    int rc = ex_parse_args("new", ex_new_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != EX_CONTINUE) return rc;
    if (ex_version_validate(o->version) != 0) return ex_fail() + 1;
    if (o->from && ex_version_validate(o->from) != 0) return ex_fail() + 1;
    if (o->from && !strcmp(o->from, o->version))
        return ex_usage_error("new", "an experiment cannot be based on itself");
    if (o->model_type) {
        int ok = 0;
        for (int i = 0; ex_model_types[i]; i++) ok |= !strcmp(ex_model_types[i], o->model_type);
        if (!ok) return ex_usage_error("new", "--model-type '%s': expected model_original, model or model_no_feed",
                                       o->model_type);
    }
    if (o->lang && strcmp(o->lang, "zh") && strcmp(o->lang, "en"))
        return ex_usage_error("new", "--lang '%s': expected zh or en", o->lang);
    for (int i = 0; i < o->sets.n; i++) {
        ex_set s;
        if (ex_set_parse(o->sets.v[i], &s) != 0) return ex_usage_error("new", "%s", mm_error_message());
    }
    return EX_CONTINUE;
}

// Builds the three files' contents.
static int ex_new_contents(const ex_project *p, const ex_new_opts *o, char **record, size_t *record_len,
                           char **script, char **config) {
    *record = *script = *config = NULL;
    const char *lang = o->lang ? o->lang : p->lang;
    size_t n;
    char *tpl = ex_template_load(p->root, !strcmp(lang, "en") ? "templates/EXPERIMENT_TEMPLATE.en.md"
                                                               : "templates/EXPERIMENT_TEMPLATE.md", &n);
    if (!tpl) return -1;
    char *md = ex_replace_all(tpl, "{{VERSION}}", o->version);
    free(tpl);
    if (!md) return -1;
    ex_record r;
    if (ex_record_parse(&r, "templates/EXPERIMENT_TEMPLATE.md", md, strlen(md)) != 0) {
        free(md);
        return -1;
    }
    free(md);
    if (o->from && ex_record_set_field(&r, EX_FIELD_BASED_ON, o->from) != 0) {
        ex_record_free(&r);
        return -1;
    }
    *record = mm_malloc(r.len + 1);
    if (*record) {
        memcpy(*record, r.text, r.len + 1);
        *record_len = r.len;
    }
    ex_record_free(&r);
    if (!*record) return -1;

    tpl = ex_template_load(p->root, "templates/experiment_template.sh", &n);
    if (!tpl) return -1;
    *script = ex_replace_all(tpl, "{{VERSION}}", o->version);
    free(tpl);
    if (!*script) return -1;

    char *ini;
    if (o->from) {
        char *parent = ex_config_path(p, o->from);
        if (!parent) return -1;
        if (!ex_exists(parent)) {
            char *rel = ex_relpath(parent, p->root);
            mm_errorf("%s: missing (the configuration of %s, the experiment to build on)", rel ? rel : parent, o->from);
            free(rel), free(parent);
            return -1;
        }
        ini = mm_read_file(parent, &n);
        free(parent);
        if (!ini) return -1;
        if (o->model_type) {
            char *set = ex_ini_text_set(ini, "model", "model_type", o->model_type);
            free(ini);
            ini = set;
        }
    } else {
        tpl = ex_template_load(p->root, "templates/experiment_template.ini", &n);
        if (!tpl) return -1;
        char *v = ex_replace_all(tpl, "{{VERSION}}", o->version);
        free(tpl);
        ini = v ? ex_replace_all(v, "{{MODEL_TYPE}}", o->model_type ? o->model_type : "model_original") : NULL;
        free(v);
    }
    *config = ex_apply_sets(ini, &o->sets);
    return *config ? 0 : -1;
}

int ex_cmd_new(int argc, char **argv) {
    ex_new_opts o = {0};
    int rc = ex_new_parse(argc, argv, &o);
    ex_project p;
    if (rc == EX_CONTINUE && ex_open_project(&p, NULL) != 0) rc = 1;
    if (rc != EX_CONTINUE) {
        mm_strlist_free(&o.sets);
        return rc;
    }
    char *paths[3] = {ex_record_path(&p, o.version), ex_script_path(&p, o.version), ex_config_path(&p, o.version)};
    char *record = NULL, *script = NULL, *config = NULL;
    size_t record_len = 0;
    int created[3] = {0, 0, 0};
    rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (!paths[i]) rc = -1;
        else if (ex_exists(paths[i])) {
            char *rel = ex_relpath(paths[i], p.root);
            rc = mm_errorf("%s already exists: refusing to overwrite (pick a new version)", rel ? rel : paths[i]);
            free(rel);
        }
    }
    if (rc == 0) rc = ex_new_contents(&p, &o, &record, &record_len, &script, &config);
    if (rc == 0) {
        char *dirs[2] = {ex_path_join(p.root, "experiment"), ex_path_join(p.root, "run_file")};
        for (int i = 0; i < 2; i++) {
            if (rc == 0 && (!dirs[i] || ex_mkdirs(dirs[i]) != 0)) rc = -1;
            free(dirs[i]);
        }
    }
    const void *data[3] = {record, script, config};
    size_t lens[3] = {record_len, script ? strlen(script) : 0, config ? strlen(config) : 0};
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = mm_write_file_atomic(paths[i], data[i], lens[i]);
        if (rc == 0) created[i] = 1;
        if (rc == 0 && chmod(paths[i], i == 1 ? 0755 : 0644) != 0) rc = mm_errorf_errno("%s: chmod", paths[i]);
    }
    if (rc != 0) {
        for (int i = 0; i < 3; i++)
            if (created[i]) unlink(paths[i]);  // all or nothing
        rc = ex_fail();
    } else {
        printf("created experiment %s%s%s:\n", o.version, o.from ? ", based on " : "", o.from ? o.from : "");
        for (int i = 0; i < 3; i++) {
            char *rel = ex_relpath(paths[i], p.root);
            printf("  %s\n", rel ? rel : paths[i]);
            free(rel);
        }
        printf("next: the human fills [人类填写] (goal, hypothesis, expected result), the AI fills [AI填写]\n"
               "      (reasoning, configuration choice) and edits the .ini; then `expt check %s`, `expt run %s`\n",
               o.version, o.version);
    }
    for (int i = 0; i < 3; i++) free(paths[i]);
    free(record), free(script), free(config);
    mm_strlist_free(&o.sets);
    ex_project_close(&p);
    return rc;
}
