// Readers for INI configurations, metrics.jsonl and eval.json (see runfiles.h).
#include "runfiles.h"

#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "minimind/error.h"
#include "minimind/jsonl.h"

// ---------------------------------------------------------------------------------------------
// INI

typedef struct ex_ini_ctx {
    ex_ini *ini;
    ex_ini_check_fn check;
    char err[256];
    int oom;
} ex_ini_ctx;

static int ex_ini_handler(void *user, const char *section, const char *key, const char *value) {
    ex_ini_ctx *c = user;
    ex_ini *ini = c->ini;
    if (c->check) {
        const char *why = c->check(section, key, value);
        if (why) {
            if (!c->err[0]) snprintf(c->err, sizeof c->err, "[%s] %s: %s", section, key, why);
            return 0;
        }
    }
    if (ex_ini_get(ini, section, key)) {
        if (!c->err[0])
            snprintf(c->err, sizeof c->err, "[%s] %s: given twice (or an indented continuation line)", section, key);
        return 0;
    }
    if (ini->n == ini->cap) {
        int cap = ini->cap ? ini->cap * 2 : 32;
        ex_ini_entry *e = mm_realloc(ini->e, (size_t)cap * sizeof *e);
        if (!e) {
            c->oom = 1;
            return 0;
        }
        ini->e = e;
        ini->cap = cap;
    }
    ex_ini_entry *e = &ini->e[ini->n];
    e->section = mm_strdup(section);
    e->key = mm_strdup(key);
    e->value = mm_strdup(value);
    if (!e->section || !e->key || !e->value) {
        free(e->section), free(e->key), free(e->value);
        c->oom = 1;
        return 0;
    }
    ini->n++;
    return 1;
}

int ex_ini_load(const char *path, ex_ini_check_fn check, ex_ini *out) {
    memset(out, 0, sizeof *out);
    ex_ini_ctx c = {.ini = out, .check = check};
    int r = ini_parse(path, ex_ini_handler, &c);
    if (r == 0) return 0;
    int rc;
    if (c.oom) rc = -1;
    else if (r < 0) rc = mm_errorf("%s: cannot read", path);
    else rc = mm_errorf("%s:%d: %s", path, r,
                        c.err[0] ? c.err : "not `key = value` (or a line longer than 200 bytes)");
    ex_ini_free(out);
    return rc;
}

const char *ex_ini_get(const ex_ini *c, const char *section, const char *key) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].section, section) && !strcmp(c->e[i].key, key)) return c->e[i].value;
    return NULL;
}

void ex_ini_free(ex_ini *c) {
    for (int i = 0; i < c->n; i++) free(c->e[i].section), free(c->e[i].key), free(c->e[i].value);
    free(c->e);
    memset(c, 0, sizeof *c);
}

// ---------------------------------------------------------------------------------------------
// JSON helpers

json_t *ex_json_load(const char *path) {
    json_error_t err;
    json_t *j = json_load_file(path, JSON_DECODE_ANY, &err);
    if (!j) {
        mm_errorf("%s:%d:%d: %s", path, err.line, err.column, err.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        mm_errorf("%s: not a JSON object", path);
        return NULL;
    }
    return j;
}

double ex_json_num(json_t *obj, const char *key) {
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_number(v) ? json_number_value(v) : NAN;
}

const char *ex_json_str(json_t *obj, const char *key) {
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

// ---------------------------------------------------------------------------------------------
// metrics.jsonl

static int ex_metrics_push(ex_metrics *m, int *cap, double step, double loss, double lr, double epoch) {
    if (m->n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        double **arrs[4] = {&m->step, &m->loss, &m->lr, &m->epoch};
        for (int i = 0; i < 4; i++) {
            double *a = mm_realloc(*arrs[i], (size_t)*cap * sizeof(double));
            if (!a) return -1;
            *arrs[i] = a;
        }
    }
    m->step[m->n] = step;
    m->loss[m->n] = loss;
    m->lr[m->n] = lr;
    m->epoch[m->n] = epoch;
    m->n++;
    return 0;
}

static void ex_metrics_bad(ex_metrics *m, long line) {
    if (!m->n_bad++) m->first_bad_line = line;
}

int ex_metrics_load(const char *path, ex_metrics *m) {
    memset(m, 0, sizeof *m);
    m->final_loss = m->best_loss = m->best_step = m->tokens_per_s = m->elapsed_s = NAN;
    mm_jsonl_reader r;
    if (mm_jsonl_open(&r, path) != 0) return -1;
    int cap = 0, rc = 0;
    for (;;) {
        json_t *o = NULL;
        int k = mm_jsonl_next(&r, &o);
        if (k == 0) break;
        if (k == -2) {
            rc = -1;
            break;
        }
        if (k < 0) {  // not JSON: NaN/Infinity written as bare words, or a torn line
            ex_metrics_bad(m, r.line_no);
            continue;
        }
        json_t *lv = json_object_get(o, "loss");
        if (lv) {
            double loss = json_is_number(lv) ? json_number_value(lv) : NAN;
            if (!isfinite(loss)) ex_metrics_bad(m, r.line_no);
            double step = ex_json_num(o, "step");
            if (!isfinite(step)) step = m->n;
            if (ex_metrics_push(m, &cap, step, loss, ex_json_num(o, "lr"), ex_json_num(o, "epoch")) != 0) {
                json_decref(o);
                rc = -1;
                break;
            }
            if (isfinite(loss)) {
                m->final_loss = loss;
                if (!(loss >= m->best_loss)) m->best_loss = loss, m->best_step = step;
            }
            double ts = ex_json_num(o, "total_steps");
            if (isfinite(ts)) m->total_steps = (long long)ts;
            m->tokens_per_s = ex_json_num(o, "tokens_per_s");
            m->elapsed_s = ex_json_num(o, "elapsed_s");
        }
        json_decref(o);
    }
    mm_jsonl_close(&r);
    if (rc != 0) ex_metrics_free(m);
    return rc;
}

void ex_metrics_free(ex_metrics *m) {
    free(m->step), free(m->loss), free(m->lr), free(m->epoch);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------------------------------------
// eval.json

int ex_eval_load(const char *path, ex_eval *e) {
    memset(e, 0, sizeof *e);
    e->root = ex_json_load(path);
    if (!e->root) return -1;
    json_t *s = json_object_get(e->root, "samples");
    e->samples = json_is_array(s) ? s : NULL;
    json_t *sum = json_object_get(e->root, "summary");
    e->mean_loss = ex_json_num(sum, "mean_loss");
    e->perplexity = ex_json_num(sum, "perplexity");
    double ns = ex_json_num(sum, "num_samples");
    e->num_samples = isfinite(ns) ? (int)ns : (e->samples ? (int)json_array_size(e->samples) : 0);
    if (!isfinite(e->mean_loss) && e->samples) {
        double sum_l = 0;
        int n = 0;
        for (size_t i = 0; i < json_array_size(e->samples); i++) {
            double l = ex_json_num(json_array_get(e->samples, i), "loss");
            if (isfinite(l)) sum_l += l, n++;
        }
        if (n) e->mean_loss = sum_l / n;
    }
    if (!isfinite(e->mean_loss)) {
        ex_eval_free(e);
        return mm_errorf("%s: no summary.mean_loss and no sample losses", path);
    }
    if (!isfinite(e->perplexity)) e->perplexity = exp(e->mean_loss);
    return 0;
}

void ex_eval_free(ex_eval *e) {
    if (e->root) json_decref(e->root);
    memset(e, 0, sizeof *e);
}

const char *ex_eval_sample_str(json_t *sample, const char *field) {
    const char *v = ex_json_str(sample, field);
    if (!v && !strcmp(field, "input")) v = ex_json_str(sample, "prompt");
    if (!v && !strcmp(field, "output")) v = ex_json_str(sample, "generated");
    return v ? v : "";
}
