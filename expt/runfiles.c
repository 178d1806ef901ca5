// The files of a run in out/experiment_X_Y_Z/ (DESIGN.md §3) that expt reads: metrics.jsonl,
// eval.json and experiment.log (see runfiles.h).
#include "runfiles.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonfile.h"
#include "minimind/error.h"
#include "minimind/jsonl.h"
#include "minimind/stats.h"

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

// A row's "val_loss" ([train] eval_interval), when finite: appended to the validation series.
static int ex_metrics_val(ex_metrics *m, int *cap, const json_t *o, double step) {
    const double v = ex_json_num(o, "val_loss", NAN);
    if (!isfinite(v)) return 0;
    if (m->n_val == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        double *s = mm_realloc(m->val_step, (size_t)*cap * sizeof *s);
        if (s) m->val_step = s;
        double *l = s ? mm_realloc(m->val_loss, (size_t)*cap * sizeof *l) : NULL;
        if (!l) return -1;
        m->val_loss = l;
    }
    m->val_step[m->n_val] = step;
    m->val_loss[m->n_val++] = v;
    m->final_val = v, m->final_val_step = step;
    m->final_val_stderr = ex_json_num(o, "val_loss_stderr", NAN);
    if (!(v >= m->best_val)) m->best_val = v, m->best_val_step = step;
    return 0;
}

static void ex_metrics_bad(ex_metrics *m, long line) {
    if (!m->n_bad++) m->first_bad_line = line;
}

// a + b for counts read from a file: negative counts are ignored, the sum saturates.
static long long ex_add_count(long long a, long long b) {
    if (b <= 0) return a;
    return a > LLONG_MAX - b ? LLONG_MAX : a + b;
}

// The memory usage fields of a row (a memory variant's run): the window's, and the EMA's counts.
static void ex_metrics_memory(ex_metrics *m, const json_t *o) {
    if (!json_object_get(o, "memory_used_fraction")) return;
    m->mem_used = ex_json_num(o, "memory_used_fraction", NAN);
    m->mem_entropy = ex_json_num(o, "memory_usage_entropy", NAN);
    m->mem_kl = ex_json_num(o, "memory_kl_uniform", NAN);
    m->mem_rewritten = ex_add_count(m->mem_rewritten, ex_json_int(o, "memory_entries_rewritten", 0));
    m->mem_updates = ex_add_count(m->mem_updates, ex_json_int(o, "memory_ema_updates", 0));
}

int ex_metrics_load(const char *path, ex_metrics *m) {
    memset(m, 0, sizeof *m);
    m->final_loss = m->best_loss = m->best_step = m->tokens_per_s = m->elapsed_s = NAN;
    m->mem_used = m->mem_entropy = m->mem_kl = NAN;
    m->final_val = m->final_val_stderr = m->final_val_step = m->best_val = m->best_val_step = NAN;
    mm_jsonl_reader r;
    if (mm_jsonl_open(&r, path) != 0) return -1;
    int cap = 0, val_cap = 0, rc = 0;
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
            double step = ex_json_num(o, "step", NAN);
            if (!isfinite(step)) step = m->n;
            if (ex_metrics_push(m, &cap, step, loss, ex_json_num(o, "lr", NAN),
                                ex_json_num(o, "epoch", NAN)) != 0 ||
                ex_metrics_val(m, &val_cap, o, step) != 0) {
                json_decref(o);
                rc = -1;
                break;
            }
            if (isfinite(loss)) {
                m->final_loss = loss;
                if (!(loss >= m->best_loss)) m->best_loss = loss, m->best_step = step;
            }
            double ts = ex_json_num(o, "total_steps", NAN);
            if (isfinite(ts)) m->total_steps = (long long)ts;
            m->tokens_per_s = ex_json_num(o, "tokens_per_s", NAN);
            m->elapsed_s = ex_json_num(o, "elapsed_s", NAN);
            ex_metrics_memory(m, o);
        }
        json_decref(o);
    }
    mm_jsonl_close(&r);
    if (rc != 0) ex_metrics_free(m);
    return rc;
}

void ex_metrics_free(ex_metrics *m) {
    free(m->step), free(m->loss), free(m->lr), free(m->epoch), free(m->val_step), free(m->val_loss);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------------------------------------
// eval.json

int ex_eval_load(const char *path, ex_eval *e) {
    memset(e, 0, sizeof *e);
    e->root = ex_json_load(path, NULL);
    if (!e->root) return -1;
    json_t *s = json_object_get(e->root, "samples");
    e->samples = json_is_array(s) ? s : NULL;
    json_t *sum = json_object_get(e->root, "summary");
    e->mean_loss = ex_json_num(sum, "mean_loss", NAN);
    e->perplexity = ex_json_num(sum, "perplexity", NAN);
    json_t *f = json_object_get(e->root, "facts");
    e->facts = json_is_object(f) ? f : NULL;
    e->facts_correct = (int)ex_json_int(e->facts, "correct", 0);
    e->facts_total = (int)ex_json_int(e->facts, "total", 0);
    json_t *ab = json_object_get(e->root, "bank_ablation");
    e->ablation = json_is_object(ab) ? ab : NULL;
    json_t *rt = json_object_get(e->root, "retrieval");
    e->retrieval = json_is_object(rt) ? rt : NULL;
    double ns = ex_json_num(sum, "num_samples", NAN);
    e->num_samples = isfinite(ns) ? (int)ns : (e->samples ? (int)json_array_size(e->samples) : 0);
    size_t n = 0;
    double *losses = e->samples ? mm_malloc(json_array_size(e->samples) * sizeof *losses + 1) : NULL;
    if (e->samples && !losses) {
        ex_eval_free(e);
        return mm_error_prefix("%s", path);
    }
    for (size_t i = 0; losses && i < json_array_size(e->samples); i++) {
        double l = ex_json_num(json_array_get(e->samples, i), "loss", NAN);
        if (isfinite(l)) losses[n++] = l;
    }
    const double mean = mm_mean_stderr(losses, n, &e->loss_stderr);
    if (!isfinite(e->mean_loss)) e->mean_loss = mean;
    free(losses);
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

// ---------------------------------------------------------------------------------------------
// experiment.log, file times

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
