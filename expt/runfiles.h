// Readers for the files of a run that expt reports on (expt/runfiles.c): INI configurations,
// metrics.jsonl and eval.json. Schemas: see report.h.
#ifndef EXPT_RUNFILES_H
#define EXPT_RUNFILES_H

#include <jansson.h>

// An INI file as (section, key, value) entries in file order, read with inih.
typedef struct ex_ini_entry {
    char *section, *key, *value;
} ex_ini_entry;

typedef struct ex_ini {
    ex_ini_entry *e;
    int n, cap;
} ex_ini;

// Optional per-entry check: returns NULL when fine, else a static/thread-local reason; the load
// fails with "PATH:LINE: [section] key: reason".
typedef const char *(*ex_ini_check_fn)(const char *section, const char *key, const char *value);

// Every non-zero ini_parse result is an error ("PATH:LINE: ..."; inih cuts lines at 200 bytes).
// A key repeated in a section (or an indented continuation line) is an error too.
int ex_ini_load(const char *path, ex_ini_check_fn check, ex_ini *out);
const char *ex_ini_get(const ex_ini *c, const char *section, const char *key);
void ex_ini_free(ex_ini *c);

// metrics.jsonl: one object per logged step {step, total_steps, epoch, loss, lr, grad_norm,
// tokens_per_s, elapsed_s, eta_s, ...}. Lines without a "loss" field are ignored.
typedef struct ex_metrics {
    int n;                 // points with a loss
    double *step, *loss, *lr, *epoch;  // (n,) each; lr/epoch NaN when absent
    long long total_steps; // from the last line (0 if absent)
    double final_loss, best_loss, best_step;
    double tokens_per_s, elapsed_s;  // of the last line (NaN when absent)
    int n_bad;             // lines with a non-finite loss, or not parseable as JSON
    long first_bad_line;   // 1-based line of the first such line (0 if none)
} ex_metrics;

// Returns 0, or -1 when the file cannot be opened (message set).
int ex_metrics_load(const char *path, ex_metrics *m);
void ex_metrics_free(ex_metrics *m);

// eval.json: {"samples": [{"input", "reference", "output", "loss"}, ...],
//             "summary": {"mean_loss", "perplexity", "num_samples"}}
// ("prompt" is accepted for "input", "generated" for "output").
typedef struct ex_eval {
    json_t *root;
    json_t *samples;   // array (borrowed; may be NULL)
    double mean_loss;  // NaN when absent
    double perplexity; // exp(mean_loss) when absent
    int num_samples;
} ex_eval;

// Returns 0 or -1 (missing file, not JSON, "summary.mean_loss" absent and no sample losses).
int ex_eval_load(const char *path, ex_eval *e);
void ex_eval_free(ex_eval *e);
// Sample field with the aliases above ("" when absent).
const char *ex_eval_sample_str(json_t *sample, const char *field);

// A JSON file's object (json_decref), or NULL with the message set.
json_t *ex_json_load(const char *path);
// Number or NAN.
double ex_json_num(json_t *obj, const char *key);
// String or NULL.
const char *ex_json_str(json_t *obj, const char *key);

#endif
