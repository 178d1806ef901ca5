// The quality standard as gates (see gates.h and experiment/README.md).
#include "gates.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "inifile.h"
#include "jsonfile.h"
#include "minimind/error.h"
#include "minimind/jsonl.h"
#include "record.h"
#include "runconfig.h"
#include "runfiles.h"

static ex_gate *ex_gate_add(ex_gate_list *g, const char *name) {
    if (g->n >= EX_MAX_GATES) return NULL;
    ex_gate *x = &g->gates[g->n++];
    memset(x, 0, sizeof *x);
    x->name = name;
    return x;
}

static void ex_gate_set(ex_gate *x, int passed, const char *fmt, ...) MM_PRINTF(3, 4);
static void ex_append(char *dst, size_t cap, const char *fmt, ...) MM_PRINTF(3, 4);
static void ex_gate_set(ex_gate *x, int passed, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->reason, sizeof x->reason, fmt, ap);
    va_end(ap);
    x->passed = passed;
}

static void ex_append(char *dst, size_t cap, const char *fmt, ...) {
    size_t n = strlen(dst);
    if (n >= cap - 1) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst + n, cap - n, fmt, ap);
    va_end(ap);
}

// ---------------------------------------------------------------------------------------------
// Record fields

static void ex_gate_fields(ex_gate *x, const ex_record *r, const ex_field *fields, int n) {
    char why[512] = "";
    int ok = 1;
    for (int i = 0; i < n; i++) {
        ex_field_value v;
        if (ex_record_field(r, fields[i], &v) != 0) {
            ex_gate_set(x, 0, "%s", mm_error_message());
            return;
        }
        if (!v.found) {
            ex_append(why, sizeof why, "%s%s (%s): no '### %s' heading", ok ? "" : "; ", ex_field_label(fields[i]),
                      ex_field_key(fields[i]), ex_field_label(fields[i]));
            ok = 0;
        } else if (!v.filled) {
            ex_append(why, sizeof why, "%s%s (%s, line %d): %s", ok ? "" : "; ", ex_field_label(fields[i]),
                      ex_field_key(fields[i]), v.line, v.text[0] ? "still holds the placeholder" : "empty");
            ok = 0;
        }
        ex_field_value_free(&v);
    }
    ex_gate_set(x, ok, "%s", ok ? "filled" : why);
}

// ---------------------------------------------------------------------------------------------
// Configuration (run_file/experiment_X.Y.Z.ini)

static void ex_gate_config(ex_gate *x, const char *path, const char *rel, ex_ini *ini, int *ok) {
    *ok = 0;
    if (!ex_exists(path)) {
        ex_gate_set(x, 0, "%s: missing", rel);
        return;
    }
    if (ex_config_load(path, ini) != 0) {
        const char *m = mm_error_message();
        // Name the file relative to the project.
        const char *tail = strncmp(m, path, strlen(path)) == 0 ? m + strlen(path) : NULL;
        if (tail) ex_gate_set(x, 0, "%s%s", rel, tail);
        else ex_gate_set(x, 0, "%s", m);
        return;
    }
    const char *mt = ex_ini_get(ini, "model", "model_type");
    const char *ab = ex_config_bank_ablation(ini);
    const int bankless = !mt || !strcmp(mt, "model_original"), retrieval = ex_config_retrieval_on(ini);
    *ok = 1;
    // settings the evaluation would fail on
    if (bankless && (retrieval || ab)) {
        ex_gate_set(x, 0, "%s: [eval] %s = %s needs a memory bank, model_type %s has none", rel,
                    retrieval ? "retrieval" : "bank_ablation", retrieval ? "on" : ab,
                    mt ? mt : "model_original (the default)");
        return;
    }
    if (retrieval && !ex_ini_get(ini, "eval", "facts_path")) {
        ex_gate_set(
            x, 0, "%s: [eval] retrieval = on needs [eval] facts_path (the facts whose entries it looks for)",
            rel);
        return;
    }
    if (retrieval && !ex_ini_get(ini, "knowledge", "database_init_path")) {
        ex_gate_set(
            x, 0,
            "%s: [eval] retrieval = on needs [knowledge] database_init_path (the bank whose rows state the "
            "facts)",
            rel);
        return;
    }
    ex_gate_set(x, 1, "%s: %d keys, model_type %s", rel, ini->n, mt ? mt : "(default)");
}

// 0 when every item of the facts file carries an integer fact_id (`eval --retrieval` needs one per
// item to find the fact's bank row); else the first line without one (or not an object).
static long ex_facts_without_id(const char *facts) {
    mm_jsonl_reader r;
    if (mm_jsonl_open(&r, facts) != 0) return 1;
    long bad = 0;
    for (;;) {
        json_t *o = NULL;
        const int got = mm_jsonl_next(&r, &o);
        if (got == 0) break;
        if (got != 1 || !json_is_integer(json_object_get(o, "fact_id"))) bad = r.line_no ? r.line_no : 1;
        json_decref(o);
        if (bad) break;
    }
    mm_jsonl_close(&r);
    mm_error_clear();
    return bad;
}

// BANK.mapping.jsonl beside the bank (the name minimind/knowledge.h gives it; `memory retrieval`
// finds the facts' rows through it).
static int ex_mapping_exists(const char *bank) {
    char mapping[4096];
    const int n = snprintf(mapping, sizeof mapping, "%s.mapping.jsonl", bank);
    return n > 0 && (size_t)n < sizeof mapping && ex_exists(mapping);
}

// Data paths: every path key that must exist does (relative to the repository root); data_path
// (training), tokenizer_path and eval_data_path (the mandatory evaluation) must be set.
static void ex_gate_paths(ex_gate *x, const ex_project *p, const ex_ini *ini, int config_ok) {
    if (!config_ok) {
        ex_gate_set(x, 0, "the configuration does not parse");
        return;
    }
    static const char *const required[] = {"data_path", "tokenizer_path", "eval_data_path", NULL};
    char why[512] = "";
    int ok = 1, checked = 0;
    long line;
    for (const ex_config_key *k = ex_config_keys; k->section; k++) {
        if (k->kind != EX_KEY_PATH || !k->must_exist) continue;
        const char *v = ex_ini_get(ini, k->section, k->key);
        if (!v || !*v) {
            for (int i = 0; required[i]; i++)
                if (!strcmp(required[i], k->key)) {
                    ex_append(why, sizeof why, "%s[%s] %s is not set", ok ? "" : "; ", k->section, k->key);
                    ok = 0;
                }
            continue;
        }
        char *abs = v[0] == '/' ? mm_strdup(v) : ex_path_join(p->root, v);
        if (!abs) {
            ex_gate_set(x, 0, "%s", mm_error_message());
            return;
        }
        if (!ex_exists(abs)) {
            ex_append(why, sizeof why, "%s%s = %s does not exist", ok ? "" : "; ", k->key, v);
            ok = 0;
        } else if (!strcmp(k->key, "database_init_path") && ex_config_retrieval_on(ini) &&
                   !ex_mapping_exists(abs)) {
            ex_append(why, sizeof why,
                      "%s%s.mapping.jsonl (beside %s, written by `minimind prep knowledge`) does "
                      "not exist: [eval] retrieval = on reads it",
                      ok ? "" : "; ", v, k->key);
            ok = 0;
        } else if (!strcmp(k->key, "facts_path") && ex_config_retrieval_on(ini) &&
                   (line = ex_facts_without_id(abs))) {
            ex_append(why, sizeof why,
                      "%s%s = %s: line %ld has no integer fact_id, which [eval] retrieval = on needs",
                      ok ? "" : "; ", k->key, v, line);
            ok = 0;
        }
        checked++;
        free(abs);
    }
    if (ok) ex_gate_set(x, 1, "%d data paths exist", checked);
    else ex_gate_set(x, 0, "%s", why);
}

// ---------------------------------------------------------------------------------------------
// Run outputs

// 1 when the region's bytes contain the first max_n bytes of needle.
static int ex_region_contains(const ex_record *r, const ex_region *reg, const char *needle, size_t max_n) {
    size_t n = reg->content_end - reg->content_start, k = strlen(needle);
    if (k > max_n) k = max_n;
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(r->text + reg->content_start + i, needle, k)) return 1;
    return 0;
}

static void ex_gate_git(ex_gate *x, const ex_project *p, const char *version, const ex_record *r) {
    char *json_path = ex_out_file(p, version, "git.json"), *patch_path = ex_out_file(p, version, "git.patch");
    json_t *g = NULL;
    if (!json_path || !patch_path) {
        ex_gate_set(x, 0, "%s", mm_error_message());
    } else if (!ex_exists(json_path)) {
        ex_gate_set(x, 0, "no git.json in the output directory (not run yet?)");
    } else if (!ex_exists(patch_path)) {
        ex_gate_set(x, 0, "no git.patch in the output directory");
    } else if (!(g = ex_json_load(json_path, NULL))) {
        ex_gate_set(x, 0, "%s", mm_error_message());
    } else {
        const char *commit = ex_json_str(g, "commit");
        const ex_region *reg = ex_record_region(r, "git");
        if (!commit) {
            ex_gate_set(x, 0, "git.json has no commit field");
        } else if (!reg) {
            ex_gate_set(x, 0, "the record has no git region (run `expt report %s`)", version);
        } else {
            int found = ex_region_contains(r, reg, *commit ? commit : "no commits yet", 12);
            if (found) ex_gate_set(x, 1, "commit %.12s recorded (line %d)", *commit ? commit : "(none)", reg->begin_line);
            else ex_gate_set(x, 0, "the git region (line %d) is not filled from git.json (run `expt report %s`)",
                             reg->begin_line, version);
        }
    }
    if (g) json_decref(g);
    free(json_path), free(patch_path);
}

static void ex_gate_training(ex_gate *x, const ex_project *p, const char *version) {
    char *exit_path = ex_out_file(p, version, "exit.json"), *mpath = ex_out_file(p, version, "metrics.jsonl");
    json_t *e = NULL;
    ex_metrics m;
    if (!exit_path || !mpath) {
        ex_gate_set(x, 0, "%s", mm_error_message());
    } else if (!ex_exists(exit_path)) {
        ex_gate_set(x, 0, "no exit.json: the run has not finished (or crashed)");
    } else if (!(e = ex_json_load(exit_path, NULL))) {
        ex_gate_set(x, 0, "%s", mm_error_message());
    } else {
        double st = ex_json_num(e, "status", NAN), sig = ex_json_num(e, "signal", NAN);
        if (isfinite(sig) && sig > 0) {
            ex_gate_set(x, 0, "killed by signal %d", (int)sig);
        } else if (!(st == 0)) {
            if (isfinite(st)) ex_gate_set(x, 0, "exit status %d", (int)st);
            else ex_gate_set(x, 0, "exit.json has no status");
        } else if (!ex_exists(mpath)) {
            ex_gate_set(x, 0, "no metrics.jsonl");
        } else if (ex_metrics_load(mpath, &m) != 0) {
            ex_gate_set(x, 0, "%s", mm_error_message());
        } else {
            if (m.n_bad) ex_gate_set(x, 0, "metrics.jsonl:%ld: NaN/Inf or unreadable loss (%d such lines)",
                                     m.first_bad_line, m.n_bad);
            else if (m.n == 0) ex_gate_set(x, 0, "metrics.jsonl has no loss");
            else ex_gate_set(x, 1, "exit status 0, final loss %.4f, %d points, no NaN", m.final_loss, m.n);
            ex_metrics_free(&m);
        }
    }
    if (e) json_decref(e);
    free(exit_path), free(mpath);
}

static void ex_gate_eval(ex_gate *x, const ex_project *p, const char *version) {
    char *path = ex_out_file(p, version, "eval.json");
    ex_eval e;
    if (!path) {
        ex_gate_set(x, 0, "%s", mm_error_message());
    } else if (!ex_exists(path)) {
        ex_gate_set(x, 0, "no eval.json (evaluation is mandatory: `expt eval %s`)", version);
    } else if (ex_eval_load(path, &e) != 0) {
        ex_gate_set(x, 0, "%s", mm_error_message());
    } else {
        size_t n = e.samples ? json_array_size(e.samples) : 0;
        if (n == 0) ex_gate_set(x, 0, "eval.json has no samples");
        else ex_gate_set(x, 1, "%zu samples, mean loss %.4f, perplexity %.3f", n, e.mean_loss, e.perplexity);
        ex_eval_free(&e);
    }
    free(path);
}

// ---------------------------------------------------------------------------------------------
// Gate lists

// Loads the record (named relative to the project), or fails the gate list's first entry.
static int ex_load(const ex_project *p, const char *version, ex_record *r) {
    if (ex_version_validate(version) != 0) return -1;
    char *path = ex_record_path(p, version);
    if (!path) return -1;
    char *name = ex_relpath(path, p->root);
    int rc;
    if (!ex_exists(path)) rc = mm_errorf("%s: no such record (create it with `expt new %s`)", name ? name : path, version);
    else rc = ex_record_load(r, path, name ? name : path);
    free(path), free(name);
    return rc;
}

static int ex_prerun(const ex_project *p, const char *version, const ex_record *r, ex_gate_list *out) {
    static const ex_field human[] = {EX_FIELD_GOAL, EX_FIELD_HYPOTHESIS, EX_FIELD_EXPECTED};
    static const ex_field ai[] = {EX_FIELD_REASONING};
    ex_gate_fields(ex_gate_add(out, "goal, hypothesis and expected result filled"), r, human, 3);
    ex_gate_fields(ex_gate_add(out, "AI reasoning filled"), r, ai, 1);
    char *cfg = ex_config_path(p, version);
    if (!cfg) return -1;
    char *rel = ex_relpath(cfg, p->root);
    ex_ini ini = {0};
    int ok = 0;
    ex_gate_config(ex_gate_add(out, "configuration parses"), cfg, rel ? rel : cfg, &ini, &ok);
    ex_gate_paths(ex_gate_add(out, "data paths exist"), p, &ini, ok);
    if (ok) ex_ini_free(&ini);
    free(cfg), free(rel);
    mm_error_clear();
    return 0;
}

int ex_gates_prerun(const ex_project *p, const char *version, ex_gate_list *out) {
    memset(out, 0, sizeof *out);
    ex_record r;
    if (ex_load(p, version, &r) != 0) return -1;
    int rc = ex_prerun(p, version, &r, out);
    ex_record_free(&r);
    return rc;
}

int ex_gates_all(const ex_project *p, const char *version, ex_gate_list *out) {
    memset(out, 0, sizeof *out);
    ex_record r;
    if (ex_load(p, version, &r) != 0) return -1;
    int rc = ex_prerun(p, version, &r, out);
    if (rc == 0) {
        static const ex_field analysis[] = {EX_FIELD_ANALYSIS};
        static const ex_field conclusion[] = {EX_FIELD_CONCLUSION, EX_FIELD_NEXT_STEPS};
        ex_gate_git(ex_gate_add(out, "git record present"), p, version, &r);
        ex_gate_training(ex_gate_add(out, "training finished without anomaly"), p, version);
        ex_gate_eval(ex_gate_add(out, "evaluation present"), p, version);
        ex_gate_fields(ex_gate_add(out, "analysis filled"), &r, analysis, 1);
        ex_gate_fields(ex_gate_add(out, "conclusion and next steps filled"), &r, conclusion, 2);
        mm_error_clear();
    }
    ex_record_free(&r);
    return rc;
}

int ex_gates_passed(const ex_gate_list *g) {
    for (int i = 0; i < g->n; i++)
        if (!g->gates[i].passed) return 0;
    return g->n > 0;
}

void ex_gates_print(const ex_gate_list *g) {
    for (int i = 0; i < g->n; i++) {
        const ex_gate *x = &g->gates[i];
        if (x->passed) printf("✓ %s (%s)\n", x->name, x->reason);
        else printf("✗ %s: %s\n", x->name, x->reason);
    }
}
