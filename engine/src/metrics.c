// metrics.jsonl + progress.json (see minimind/metrics.h).
#include "minimind/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/json_text.h"
#include "minimind/jsonl.h"

static char *mm_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = mm_malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

// JSON has no NaN/Inf: write them as null so every line stays valid JSON.
static json_t *mm_json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *mm_metrics_row_json(const mm_metrics_row *r) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "step", json_integer(r->step));
    json_object_set_new(o, "total_steps", json_integer(r->total_steps));
    json_object_set_new(o, "epoch", json_integer(r->epoch));
    json_object_set_new(o, "loss", mm_json_num(r->loss));
    json_object_set_new(o, "lr", mm_json_num(r->lr));
    json_object_set_new(o, "grad_norm", mm_json_num(r->grad_norm));
    json_object_set_new(o, "tokens_per_s", mm_json_num(r->tokens_per_s));
    json_object_set_new(o, "elapsed_s", mm_json_num(r->elapsed_s));
    json_object_set_new(o, "eta_s", mm_json_num(r->eta_s));
    return o;
}

// Keeps the rows of an existing metrics.jsonl up to keep_until_step (atomic rewrite).
static int mm_metrics_trim(const char *path, long keep_until_step) {
    if (access(path, F_OK) != 0) return 0;
    mm_jsonl_reader r;
    if (mm_jsonl_open(&r, path) != 0) return -1;
    mm_atomic_file af;
    if (mm_atomic_open(&af, path) != 0) {
        mm_jsonl_close(&r);
        return -1;
    }
    json_t *o;
    int rc;
    while ((rc = mm_jsonl_next(&r, &o)) != 0) {
        if (rc == -2) break;
        if (rc < 0) continue;  // a torn last line of a killed run: dropped
        json_t *s = json_object_get(o, "step");
        if (json_is_integer(s) && json_integer_value(s) <= keep_until_step) fwrite(r.line, 1, r.line_len, af.fp);
        json_decref(o);
    }
    mm_jsonl_close(&r);
    if (rc == -2) {
        mm_atomic_abort(&af);
        return -1;
    }
    return mm_atomic_commit(&af);
}

int mm_metrics_open(mm_metrics_log *log, const char *out_dir, long keep_until_step) {
    memset(log, 0, sizeof *log);
    log->metrics_path = mm_join(out_dir, "metrics.jsonl");
    log->progress_path = mm_join(out_dir, "progress.json");
    if (!log->metrics_path || !log->progress_path) goto fail;
    if (keep_until_step >= 0 && mm_metrics_trim(log->metrics_path, keep_until_step) != 0) goto fail;
    log->fp = fopen(log->metrics_path, keep_until_step >= 0 ? "ab" : "wb");
    if (!log->fp) {
        mm_errorf_errno("%s: cannot open", log->metrics_path);
        goto fail;
    }
    return 0;
fail:
    mm_metrics_close(log);
    return -1;
}

static int mm_progress_write(const mm_metrics_log *log, json_t *row, const char *status, const char *message) {
    json_object_set_new(row, "status", json_string(status));
    if (message) json_object_set_new(row, "message", mm_json_text(message, strlen(message)));
    if (log->device) json_object_set_new(row, "device", json_string(log->device));
    if (log->precision) json_object_set_new(row, "precision", json_string(log->precision));
    if (log->attention) json_object_set_new(row, "attention", json_string(log->attention));
    if (log->attention_storage)
        json_object_set_new(row, "attention_storage", json_string(log->attention_storage));
    if (log->ffn) json_object_set_new(row, "ffn", json_string(log->ffn));
    if (log->head) json_object_set_new(row, "head", json_string(log->head));
    char *text = json_dumps(row, JSON_COMPACT);
    if (!text) return mm_errorf("%s: cannot serialise", log->progress_path);
    size_t n = strlen(text);
    text[n] = '\0';
    int rc = mm_write_file_atomic(log->progress_path, text, n);
    free(text);
    return rc;
}

int mm_metrics_write(mm_metrics_log *log, const mm_metrics_row *row, json_t *extra) {
    json_t *o = mm_metrics_row_json(row);
    if (!o) return mm_errorf("out of memory (metrics row)");
    if (extra) json_object_update(o, extra);
    char *line = json_dumps(o, JSON_COMPACT);
    int rc = 0;
    if (!line || fprintf(log->fp, "%s\n", line) < 0 || fflush(log->fp) != 0)
        rc = mm_errorf_errno("%s: write failed", log->metrics_path);
    free(line);
    if (rc == 0) rc = mm_progress_write(log, o, "running", NULL);
    json_decref(o);
    return rc;
}

int mm_metrics_finish(mm_metrics_log *log, const mm_metrics_row *last, const char *status, const char *message) {
    json_t *o = mm_metrics_row_json(last);
    if (!o) return mm_errorf("out of memory (progress)");
    int rc = mm_progress_write(log, o, status, message);
    json_decref(o);
    return rc;
}

void mm_metrics_close(mm_metrics_log *log) {
    if (log->fp) fclose(log->fp);
    free(log->metrics_path);
    free(log->progress_path);
    memset(log, 0, sizeof *log);
}
