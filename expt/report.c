// Fills a record's machine-owned regions from the stored run files, and experiment/INDEX.md
// (see report.h for the file schemas).
#include "report.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evalcompare.h"
#include "fsutil.h"
#include "inifile.h"
#include "jsonfile.h"
#include "minimind/error.h"
#include "minimind/stats.h"
#include "recinfo.h"
#include "record.h"
#include "runfiles.h"
#include "runstate.h"
#include "strbuf.h"
#include "svg.h"

// ---------------------------------------------------------------------------------------------
// Small helpers

static char *ex_rel_root(const ex_project *p, const char *path) { return ex_relpath(path, p->root); }

static void ex_missing(ex_buf *b, const ex_project *p, const char *path) {
    char *rel = ex_rel_root(p, path);
    ex_buf_printf(b, "not available yet (no `%s`)\n", rel ? rel : path);
    free(rel);
}

// "unreadable: <the current error>" for a region whose file exists but cannot be read.
static void ex_unreadable(ex_buf *b) {
    ex_buf_puts(b, "unreadable: ");
    ex_buf_md_cell(b, mm_error_message(), 500);
    ex_buf_puts(b, "\n");
}

// A fenced code block whose fence is longer than any backquote run in the text.
static void ex_fence(ex_buf *b, const char *info, const char *text) {
    int run = 0, max = 0;
    for (const char *c = text; *c; c++) {
        run = *c == '`' ? run + 1 : 0;
        if (run > max) max = run;
    }
    int n = max >= 3 ? max + 1 : 3;
    for (int i = 0; i < n; i++) ex_buf_puts(b, "`");
    ex_buf_printf(b, "%s\n", info);
    size_t len = strlen(text);
    ex_buf_puts(b, text);
    if (len && text[len - 1] != '\n') ex_buf_puts(b, "\n");
    for (int i = 0; i < n; i++) ex_buf_puts(b, "`");
    ex_buf_puts(b, "\n");
}

static void ex_num(ex_buf *b, const char *fmt, double v) {
    if (isfinite(v)) ex_buf_printf(b, fmt, v);
    else ex_buf_puts(b, "-");
}

static void ex_duration(ex_buf *b, double s) {
    if (!isfinite(s) || s < 0) {
        ex_buf_puts(b, "-");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) ex_buf_printf(b, "%ldh %02ldm %02lds", t / 3600, t / 60 % 60, t % 60);
    else if (t >= 60) ex_buf_printf(b, "%ldm %02lds", t / 60, t % 60);
    else ex_buf_printf(b, "%.1f s", s);
}

// A JSON value as table text: strings as they are, anything else compact JSON.
static void ex_json_cell(ex_buf *b, json_t *v) {
    if (!v || json_is_null(v)) {
        ex_buf_puts(b, "-");
    } else if (json_is_string(v)) {
        ex_buf_md_cell(b, json_string_value(v), 300);
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        ex_buf_md_cell(b, s ? s : "?", 300);
        free(s);
    }
}

static char *ex_version_file(const char *version, const char *prefix, const char *suffix) {
    ex_buf b = {0};
    ex_buf_printf(&b, "%s%s%s", prefix, version, suffix);
    return ex_buf_take(&b);
}

// ---------------------------------------------------------------------------------------------
// Regions

static char *ex_region_git(const ex_project *p, const char *version) {
    ex_buf b = {0};
    char *json_path = ex_out_file(p, version, "git.json"), *patch_path = ex_out_file(p, version, "git.patch");
    char *exp_dir = ex_path_join(p->root, "experiment");
    json_t *g = json_path && ex_exists(json_path) ? ex_json_load(json_path, NULL) : NULL;
    if (!json_path || !patch_path || !exp_dir) {
        ex_buf_free(&b);
    } else if (!g) {
        if (ex_exists(json_path)) ex_unreadable(&b);
        else ex_missing(&b, p, json_path);
    } else {
        const char *commit = ex_json_str(g, "commit"), *branch = ex_json_str(g, "branch");
        json_t *dirty = json_object_get(g, "dirty");
        ex_buf_puts(&b, "| item | value |\n|---|---|\n");
        ex_buf_printf(&b, "| commit | `%s` |\n", commit && *commit ? commit : "(no commits yet)");
        ex_buf_puts(&b, "| branch | ");
        ex_buf_md_cell(&b, branch ? branch : "(detached or unborn)", 200);
        ex_buf_puts(&b, " |\n| working tree | ");
        if (json_is_boolean(dirty)) ex_buf_puts(&b, json_is_true(dirty) ? "dirty (uncommitted changes)" : "clean");
        else ex_buf_puts(&b, "-");
        ex_buf_puts(&b, " |\n| patch | ");
        if (ex_exists(patch_path)) {
            char *rel = ex_relpath(patch_path, exp_dir);
            ex_buf_printf(&b, "[git.patch](%s) |\n", rel ? rel : patch_path);
            free(rel);
        } else {
            char *rel = ex_rel_root(p, patch_path);
            ex_buf_printf(&b, "not available yet (no `%s`) |\n", rel ? rel : patch_path);
            free(rel);
        }
        const char *based = ex_json_str(g, "based_on"), *based_commit = ex_json_str(g, "based_on_commit");
        if (based || based_commit) {
            ex_buf_puts(&b, "| based on | ");
            if (based) ex_buf_md_cell(&b, based, 64);
            if (based_commit) ex_buf_printf(&b, "%s`%s`", based ? " at " : "", based_commit);
            ex_buf_puts(&b, " |\n");
        }
        json_t *excl = json_object_get(g, "excluded");
        if (!excl) excl = json_object_get(g, "patch_excluded");
        if (json_is_array(excl) && json_array_size(excl) > 0) {
            ex_buf_puts(&b, "| left out of the patch (over the size cap) | ");
            for (size_t i = 0; i < json_array_size(excl); i++) {
                json_t *e = json_array_get(excl, i);
                if (i) ex_buf_puts(&b, ", ");
                ex_json_cell(&b, json_is_object(e) ? json_object_get(e, "path") : e);
            }
            ex_buf_puts(&b, " |\n");
        }
        const char *stat = ex_json_str(g, "diffstat");
        ex_buf_puts(&b, "\nUncommitted changes (diffstat):\n\n");
        ex_fence(&b, "text", stat && *stat ? stat : "(none)\n");
        const char *since = ex_json_str(g, "diffstat_since_based_on");
        if (!since) since = ex_json_str(g, "based_on_diffstat");
        if (since) {
            ex_buf_puts(&b, "\nChanges since the based-on experiment (diffstat):\n\n");
            ex_fence(&b, "text", *since ? since : "(none)\n");
        }
    }
    if (g) json_decref(g);
    free(json_path), free(patch_path), free(exp_dir);
    return ex_buf_take(&b);
}

static char *ex_region_config(const ex_project *p, const char *version) {
    ex_buf b = {0};
    char *path = ex_out_file(p, version, "config.ini");
    if (!path) return NULL;
    ex_ini ini;
    if (!ex_exists(path)) {
        ex_missing(&b, p, path);
    } else if (ex_ini_load(path, NULL, &ini) != 0) {
        ex_unreadable(&b);
    } else {
        char *rel = ex_rel_root(p, path);
        ex_buf_printf(&b, "Resolved configuration (`%s`):\n\n| section | key | value |\n|---|---|---|\n", rel ? rel : path);
        free(rel);
        for (int i = 0; i < ini.n; i++) {
            ex_buf_puts(&b, "| ");
            ex_buf_md_cell(&b, ini.e[i].section, 100);
            ex_buf_puts(&b, " | ");
            ex_buf_md_cell(&b, ini.e[i].key, 100);
            ex_buf_puts(&b, " | ");
            ex_buf_md_cell(&b, ini.e[i].value, 300);
            ex_buf_puts(&b, " |\n");
        }
        ex_ini_free(&ini);
    }
    free(path);
    return ex_buf_take(&b);
}

static void ex_command_text(ex_buf *b, json_t *cmd) {
    if (json_is_string(cmd)) {
        ex_buf_puts(b, json_string_value(cmd));
        return;
    }
    for (size_t i = 0; json_is_array(cmd) && i < json_array_size(cmd); i++) {
        const char *a = json_string_value(json_array_get(cmd, i));
        if (!a) a = "?";
        if (i) ex_buf_puts(b, " ");
        int quote = !*a || strpbrk(a, " \t\n'\"$\\`*?;&|<>()") != NULL;
        if (!quote) {
            ex_buf_puts(b, a);
            continue;
        }
        ex_buf_puts(b, "'");
        for (const char *c = a; *c; c++) {
            if (*c == '\'') ex_buf_puts(b, "'\\''");
            else ex_buf_append(b, c, 1);
        }
        ex_buf_puts(b, "'");
    }
}

// The device and matmul precision the training ran with, from its progress.json ("-" before
// the first row, or for a run of a minimind that did not record them).
static void ex_computed_on(ex_buf *b, const ex_project *p, const char *version) {
    char *path = ex_out_file(p, version, "progress.json");
    json_t *pr = path && ex_exists(path) ? ex_json_load(path, NULL) : NULL;
    const char *dev = ex_json_str(pr, "device"), *prec = ex_json_str(pr, "precision");
    const char *att = ex_json_str(pr, "attention"), *ffn = ex_json_str(pr, "ffn"),
               *head = ex_json_str(pr, "head");
    const char *att_storage = ex_json_str(pr, "attention_storage");
    if (dev) {
        ex_buf_md_cell(b, dev, 300);
        if (prec) ex_buf_printf(b, ", %s matmuls", prec);
        if (att) {
            ex_buf_puts(b, ", attention: ");
            ex_buf_md_cell(b, att, 40);
            if (att_storage) {
                ex_buf_puts(b, " in ");
                ex_buf_md_cell(b, att_storage, 40);
            }
        }
        if (ffn) {
            ex_buf_puts(b, ", feed-forward: ");
            ex_buf_md_cell(b, ffn, 40);
        }
        if (head) {
            ex_buf_puts(b, ", head: ");
            ex_buf_md_cell(b, head, 40);
        }
    } else {
        ex_buf_puts(b, "-");
    }
    json_decref(pr);
    free(path);
}

static char *ex_region_execution(const ex_project *p, const char *version) {
    ex_buf b = {0};
    char *run_path = ex_out_file(p, version, "run.json"), *exit_path = ex_out_file(p, version, "exit.json");
    char *log_path = ex_out_file(p, version, "experiment.log");
    if (!run_path || !exit_path || !log_path) {
        free(run_path), free(exit_path), free(log_path);
        return NULL;
    }
    json_t *run = ex_exists(run_path) ? ex_json_load(run_path, NULL) : NULL;
    json_t *ex = ex_exists(exit_path) ? ex_json_load(exit_path, NULL) : NULL;
    if (!run && !ex) {
        ex_missing(&b, p, run_path);
    } else {
        ex_buf_puts(&b, "| item | value |\n|---|---|\n");
        ex_buf_puts(&b, "| start | ");
        ex_json_cell(&b, run ? json_object_get(run, "start_time") : NULL);
        ex_buf_puts(&b, " |\n| end | ");
        ex_json_cell(&b, ex ? json_object_get(ex, "end_time") : NULL);
        ex_buf_puts(&b, " |\n| duration | ");
        ex_duration(&b, ex_json_num(ex, "duration_s", NAN));
        ex_buf_puts(&b, " |\n| exit | ");
        if (!ex) {
            char *rel = ex_rel_root(p, exit_path);
            ex_buf_printf(&b, "not available yet (no `%s`)", rel ? rel : exit_path);
            free(rel);
        } else {
            double sig = ex_json_num(ex, "signal", NAN), st = ex_json_num(ex, "status", NAN);
            if (json_is_true(json_object_get(ex, "stopped"))) ex_buf_puts(&b, "stopped on request (resumable), ");
            if (isfinite(sig) && sig > 0) ex_buf_printf(&b, "killed by signal %d", (int)sig);
            else if (isfinite(st))
                ex_buf_printf(&b, "status %d%s", (int)st,
                              st == 0 ? " (success)" : st == EX_EXIT_STOPPED ? " (stopped, checkpoint saved)" : " (failure)");
            else ex_buf_puts(&b, "-");
        }
        ex_buf_puts(&b, " |\n| host | ");
        ex_json_cell(&b, run ? json_object_get(run, "host") : NULL);
        ex_buf_puts(&b, " |\n| pid | ");
        ex_json_cell(&b, run ? json_object_get(run, "pid") : NULL);
        ex_buf_puts(&b, " |\n| commit | ");
        const char *commit = ex_json_str(run, "commit");
        if (commit) ex_buf_printf(&b, "`%s`", commit);
        else ex_buf_puts(&b, "-");
        ex_buf_puts(&b, " |\n| peak memory | ");
        double rss = ex_json_num(ex, "peak_rss_kb", NAN);
        if (isfinite(rss)) ex_buf_printf(&b, "%.1f MiB", rss / 1024.0);
        else ex_buf_puts(&b, "-");
        ex_buf_puts(&b, " |\n| CPU | ");
        ex_json_cell(&b, ex ? json_object_get(ex, "cpu") : NULL);
        ex_buf_puts(&b, " |\n| GPU | ");
        ex_json_cell(&b, ex ? json_object_get(ex, "gpu") : NULL);
        ex_buf_puts(&b, " |\n| computed on | ");
        ex_computed_on(&b, p, version);
        ex_buf_puts(&b, " |\n");
        json_t *ev = ex ? json_object_get(ex, "eval") : NULL;  // the supervisor's mandatory evaluation
        if (json_is_object(ev)) {
            const char *why = ex_json_str(ev, "reason");
            double est = ex_json_num(ev, "status", NAN);
            ex_buf_puts(&b, "| evaluation | ");
            if (json_is_true(json_object_get(ev, "ran"))) ex_buf_printf(&b, "run by expt after the script (status %s)",
                                                                      isfinite(est) ? (est == 0 ? "0" : "non-zero") : "?");
            else ex_buf_md_cell(&b, why ? why : "not run", 300);
            ex_buf_puts(&b, " |\n");
        }
        json_t *cmd = run ? json_object_get(run, "command") : NULL;
        if (cmd) {
            ex_buf cb = {0};
            ex_command_text(&cb, cmd);
            char *ct = ex_buf_take(&cb);
            ex_buf_puts(&b, "\nCommand:\n\n");
            ex_fence(&b, "sh", ct ? ct : "?");
            free(ct);
        }
        // The log tail when the run did not end cleanly (or has no exit record at all).
        double st = ex_json_num(ex, "status", NAN), sig = ex_json_num(ex, "signal", NAN);
        int failed = !ex || !(st == 0) || (isfinite(sig) && sig > 0);
        if (failed) {
            json_t *tail = ex ? json_object_get(ex, "log_tail") : NULL;
            ex_buf tb = {0};
            if (json_is_string(tail)) ex_buf_puts(&tb, json_string_value(tail));
            for (size_t i = 0; json_is_array(tail) && i < json_array_size(tail); i++) {
                const char *l = json_string_value(json_array_get(tail, i));
                ex_buf_printf(&tb, "%s\n", l ? l : "");
            }
            char *text = ex_buf_take(&tb);
            if (text && !*text) {
                free(text);
                text = ex_log_tail(log_path, 20, 0);
            }
            if (text && *text) {
                char *rel = ex_rel_root(p, log_path);
                ex_buf_printf(&b, "\nLog tail (`%s`):\n\n", rel ? rel : log_path);
                free(rel);
                ex_fence(&b, "text", text);
            }
            free(text);
        }
    }
    if (run) json_decref(run);
    if (ex) json_decref(ex);
    free(run_path), free(exit_path), free(log_path);
    return ex_buf_take(&b);
}

// experiment/assets/experiment_X.Y.Z_loss.svg (the file name), used by the record and INDEX.
static char *ex_loss_svg_name(const char *version) { return ex_version_file(version, "experiment_", "_loss.svg"); }

static int ex_write_loss_svg(const ex_project *p, const char *version, const ex_metrics *m) {
    char *dir = ex_path_join(p->root, "experiment/assets"), *name = ex_loss_svg_name(version);
    char *path = dir && name ? ex_path_join(dir, name) : NULL;
    int rc = -1;
    if (path && ex_mkdirs(dir) == 0) {
        char title[128];
        snprintf(title, sizeof title, "experiment %s: training loss and learning rate", version);
        ex_chart c = {.title = title, .x_label = "step", .y_label = "loss", .y2_label = "learning rate"};
        ex_series s[3] = {
            {.label = "loss", .x = m->step, .y = m->loss, .n = m->n, .color = "#1f77b4"},
            {.label = "lr",
             .x = m->step,
             .y = m->lr,
             .n = m->n,
             .color = "#ff7f0e",
             .right_axis = 1,
             .dashed = 1},
            {.label = "validation loss",
             .x = m->val_step,
             .y = m->val_loss,
             .n = m->n_val,
             .color = "#2ca02c"},
        };
        rc = ex_svg_write(path, &c, s, m->n_val ? 3 : 2);
    }
    free(dir), free(name), free(path);
    return rc;
}

// "L ± SE" of the last validation loss ([train] eval_interval; "-" without one).
static void ex_last_val_loss(ex_buf *b, const ex_metrics *m) {
    if (!m->n_val) {
        ex_buf_puts(b, "-");
        return;
    }
    ex_num(b, "%.4f", m->final_val);
    if (isfinite(m->final_val_stderr)) ex_buf_printf(b, " ± %.4f", m->final_val_stderr);
}

// [train] eval_interval: the validation loss at the last and at the best of its steps.
static void ex_validation_rows(ex_buf *b, const ex_metrics *m) {
    if (!m->n_val) return;
    ex_buf_puts(b, "| validation loss | ");
    ex_last_val_loss(b, m);
    ex_buf_puts(b, " (step ");
    ex_num(b, "%.0f", m->final_val_step);
    ex_buf_puts(b, ") |\n| best validation loss | ");
    ex_num(b, "%.4f", m->best_val);
    ex_buf_puts(b, " (step ");
    ex_num(b, "%.0f", m->best_val_step);
    ex_buf_printf(b, "; %d evaluations) |\n", m->n_val);
}

// A memory variant's usage of its bank (metrics.jsonl, docs/memory.md "Instruments"): the last log
// window's, and what EMA updates rewrote over the run (when the run made any).
static void ex_memory_rows(ex_buf *b, const ex_metrics *m) {
    if (isnan(m->mem_used)) return;
    ex_buf_puts(b, "| memory entries read (last log window) | ");
    ex_num(b, "%.1f %% of the bank", 100.0 * m->mem_used);
    ex_buf_puts(b, " |\n| memory usage entropy / KL from uniform (last window) | ");
    ex_num(b, "%.3f", m->mem_entropy);
    ex_buf_puts(b, " / ");
    ex_num(b, "%.3f", m->mem_kl);
    ex_buf_puts(b, " nats |\n");
    if (m->mem_updates > 0)
        ex_buf_printf(b, "| memory entries rewritten (EMA) | %lld in %lld updates |\n", m->mem_rewritten,
                      m->mem_updates);
}

static char *ex_region_training(const ex_project *p, const char *version, int *err) {
    ex_buf b = {0};
    char *path = ex_out_file(p, version, "metrics.jsonl");
    if (!path) return NULL;
    ex_metrics m;
    if (!ex_exists(path)) {
        ex_missing(&b, p, path);
    } else if (ex_metrics_load(path, &m) != 0) {
        ex_unreadable(&b);
    } else if (m.n == 0) {
        char *rel = ex_rel_root(p, path);
        ex_buf_printf(&b, "no loss logged yet (`%s` is empty)\n", rel ? rel : path);
        free(rel);
        ex_metrics_free(&m);
    } else {
        ex_buf_puts(&b, "| metric | value |\n|---|---|\n| final loss | ");
        ex_num(&b, "%.4f", m.final_loss);
        ex_buf_printf(&b, " (step %.0f", m.step[m.n - 1]);
        if (m.total_steps > 0) ex_buf_printf(&b, " of %lld", m.total_steps);
        ex_buf_puts(&b, ") |\n| best loss | ");
        ex_num(&b, "%.4f", m.best_loss);
        ex_buf_puts(&b, " (step ");
        ex_num(&b, "%.0f", m.best_step);
        ex_buf_puts(&b, ") |\n");
        ex_validation_rows(&b, &m);
        ex_buf_printf(&b, "| logged points | %d |\n| tokens/s (last) | ", m.n);
        ex_num(&b, "%.0f", m.tokens_per_s);
        ex_buf_puts(&b, " |\n| training time | ");
        ex_duration(&b, m.elapsed_s);
        ex_buf_puts(&b, " |\n");
        if (m.n_bad)
            ex_buf_printf(&b, "| anomalies | %d non-finite or unreadable lines (first: line %ld) |\n", m.n_bad,
                          m.first_bad_line);
        ex_memory_rows(&b, &m);
        if (ex_write_loss_svg(p, version, &m) != 0) {
            *err = 1;
        } else {
            char *name = ex_loss_svg_name(version);
            ex_buf_printf(&b, "\n![loss and learning rate](assets/%s)\n", name ? name : "?");
            free(name);
        }
        // By epoch: steps, first/last/best/mean loss, last lr.
        ex_buf_puts(&b, "\n| epoch | steps | first loss | last loss | best loss | mean loss | lr (last) |\n"
                        "|---|---|---|---|---|---|---|\n");
        for (int i = 0; i < m.n;) {
            int j = i;
            double sum = 0, best = NAN;
            int cnt = 0;
            while (j < m.n && (m.epoch[j] == m.epoch[i] || (isnan(m.epoch[j]) && isnan(m.epoch[i])))) {
                if (isfinite(m.loss[j])) {
                    sum += m.loss[j], cnt++;
                    if (!(m.loss[j] >= best)) best = m.loss[j];
                }
                j++;
            }
            ex_num(&b, "| %g", m.epoch[i]);
            if (isnan(m.epoch[i])) ex_buf_puts(&b, "| -");
            ex_buf_printf(&b, " | %.0f–%.0f | ", m.step[i], m.step[j - 1]);
            ex_num(&b, "%.4f", m.loss[i]);
            ex_buf_puts(&b, " | ");
            ex_num(&b, "%.4f", m.loss[j - 1]);
            ex_buf_puts(&b, " | ");
            ex_num(&b, "%.4f", best);
            ex_buf_puts(&b, " | ");
            ex_num(&b, "%.4f", cnt ? sum / cnt : NAN);
            ex_buf_puts(&b, " | ");
            ex_num(&b, "%.3e", m.lr[j - 1]);
            ex_buf_puts(&b, " |\n");
            i = j;
        }
        ex_metrics_free(&m);
    }
    free(path);
    return ex_buf_take(&b);
}

// "L ± SE" of an evaluation's mean loss ("L" when it has fewer than two sample losses).
static void ex_mean_loss(ex_buf *b, const ex_eval *e) {
    ex_num(b, "%.4f", e->mean_loss);
    if (isfinite(e->loss_stderr)) ex_buf_printf(b, " ± %.4f", e->loss_stderr);
}

// "C/T = A % (95 % interval lo–hi %; en c/t; zh c/t) on FILE" of an `eval --facts` result.
static void ex_facts_cell(ex_buf *b, const ex_eval *e) {
    double lo, hi;
    mm_wilson_interval(e->facts_correct, e->facts_total, MM_Z95, &lo, &hi);
    ex_buf_printf(b, "%d/%d = %.1f %% (95 %% interval %.1f–%.1f %%", e->facts_correct, e->facts_total,
                  e->facts_total ? 100.0 * e->facts_correct / e->facts_total : 0.0, 100.0 * lo, 100.0 * hi);
    json_t *by = json_object_get(e->facts, "by_lang");
    const char *lang;
    json_t *v;
    json_object_foreach(by, lang, v) {
        ex_buf_printf(b, "; %s %d/%d", lang, (int)ex_json_int(v, "correct", 0),
                      (int)ex_json_int(v, "total", 0));
    }
    ex_buf_puts(b, ")");
    const char *path = ex_json_str(e->facts, "path");
    if (path) {
        const char *base = strrchr(path, '/');
        ex_buf_puts(b, " on ");
        ex_buf_md_cell(b, base ? base + 1 : path, 120);
    }
}

// One ablation's rows: "| mean loss, WHAT | L (+D ± SE paired) |" and "| fact recall, WHAT | C/T =
// P % (lost l, gained g; McNemar p = x) |" (what = "bank SPEC" or "layer L: bank empty"), D against
// the evaluation's mean loss; the standard error of the per-sample changes and the facts lost and
// gained when the engine compared the two passes item by item (eval.json "loss_change", "lost").
static void ex_ablation_pair(ex_buf *b, const char *what, const json_t *ab, double mean_loss) {
    json_t *sum = json_object_get(ab, "summary"), *f = json_object_get(ab, "facts");
    if (sum) {
        const double l = ex_json_num(sum, "mean_loss", NAN);
        const double se = ex_json_num(json_object_get(ab, "loss_change"), "stderr", NAN);
        ex_buf_puts(b, "| mean loss, ");
        ex_buf_md_cell(b, what, 60);
        ex_buf_puts(b, " | ");
        ex_num(b, "%.4f", l);
        ex_buf_puts(b, " (");
        ex_num(b, "%+.4f", l - mean_loss);
        if (isfinite(se)) ex_buf_printf(b, " ± %.4f paired standard error", se);
        ex_buf_puts(b, ") |\n");
    }
    if (f) {
        const int c = (int)ex_json_int(f, "correct", 0), t = (int)ex_json_int(f, "total", 0);
        ex_buf_puts(b, "| fact recall, ");
        ex_buf_md_cell(b, what, 60);
        ex_buf_printf(b, " | %d/%d = %.1f %%", c, t, t ? 100.0 * c / t : 0.0);
        if (json_is_integer(json_object_get(f, "lost")))
            ex_buf_printf(b, " (lost %lld, gained %lld; McNemar p = %.3g)", ex_json_int(f, "lost", 0),
                          ex_json_int(f, "gained", 0), ex_json_num(f, "mcnemar_p", NAN));
        ex_buf_puts(b, " |\n");
    }
}

// [eval] bank_ablation: the same evaluation with the memory bank emptied or shuffled, and with
// "layers" also with each layer's bank alone empty — what the model reads from its bank (and in
// which layers) is what these rows lose against the rows above.
static void ex_ablation_rows(ex_buf *b, const ex_eval *e) {
    const char *spec = ex_json_str(json_object_get(e->ablation, "bank"), "spec");
    char what[96];
    snprintf(what, sizeof what, "bank %s", spec ? spec : "?");
    ex_ablation_pair(b, what, e->ablation, e->mean_loss);
    json_t *layers = json_object_get(e->ablation, "layers");
    for (size_t i = 0; i < json_array_size(layers); i++) {
        json_t *l = json_array_get(layers, i);
        snprintf(what, sizeof what, "layer %d: bank empty", (int)ex_json_int(l, "layer", -1));
        ex_ablation_pair(b, what, l, e->mean_loss);
    }
}

// "C0, C1, ... of N" over the layers of a retrieval summary's `key` counts.
static void ex_retrieval_counts(ex_buf *b, const json_t *layers, const char *key, long n) {
    for (size_t l = 0; l < json_array_size(layers); l++)
        ex_buf_printf(b, "%s%lld", l ? ", " : "", (long long)ex_json_int(json_array_get(layers, l), key, 0));
    ex_buf_printf(b, " of %ld", n);
}

// [eval] retrieval = on: per layer (0, 1, ...), the facts whose entry the lookup reads at the answer
// position and anywhere in the prompt, beside what uniform reads would find, and the answer
// position's weight on empty entries beside their share of the bank (docs/memory.md).
static void ex_retrieval_rows(ex_buf *b, const json_t *r) {
    const json_t *layers = json_object_get(r, "layers"), *chance = json_object_get(r, "chance");
    const char *error = ex_json_str(r, "error");
    if (error) {  // the evaluation went on without it
        ex_buf_puts(b, "| fact's entry read, by layer | not measured: ");
        ex_buf_md_cell(b, error, 200);
        ex_buf_puts(b, " |\n");
        return;
    }
    const long n = (long)ex_json_int(r, "in_bank", 0);
    ex_buf_puts(b, "| fact's entry read at the answer, by layer | ");
    ex_retrieval_counts(b, layers, "found_at_answer", n);
    ex_buf_puts(b, " (uniform reads: ");
    ex_num(b, "%.1f", ex_json_num(chance, "found_at_answer", NAN));
    ex_buf_puts(b, ") |\n| fact's entry read anywhere in the prompt, by layer | ");
    ex_retrieval_counts(b, layers, "found_in_prompt", n);
    ex_buf_puts(b, " (uniform reads: ");
    ex_num(b, "%.1f", ex_json_num(chance, "found_in_prompt", NAN));
    ex_buf_puts(b, ") |\n| weight on empty entries at the answer, by layer | ");
    for (size_t l = 0; l < json_array_size(layers); l++) {
        if (l) ex_buf_puts(b, ", ");
        ex_num(b, "%.2f", ex_json_num(json_array_get(layers, l), "mean_empty_weight_at_answer", NAN));
    }
    ex_buf_puts(b, " (empty entries: ");
    ex_num(b, "%.1f", 100.0 * ex_json_num(r, "empty_entries", NAN) / ex_json_num(r, "num", NAN));
    ex_buf_puts(b, " % of the bank) |\n");
}

// The experiment this one builds on (its record's "based on" field), when it has an evaluation:
// the mean loss's change against it with its standard error, and the facts lost and gained (the
// same facts file) — what `expt diff BASE VERSION` shows under "noise".
static void ex_based_on_rows(ex_buf *b, const ex_project *p, const char *version, const ex_eval *e) {
    char base[64];
    if (ex_recinfo_based_on(p, version, base, sizeof base) != 1 || !strcmp(base, version)) {
        mm_error_clear();
        return;
    }
    char *path = ex_out_file(p, base, "eval.json");
    ex_eval be;
    if (path && ex_exists(path) && ex_eval_load(path, &be) == 0) {
        char text[256];
        ex_loss_change_text(&be, e, text, sizeof text);
        ex_buf_printf(b, "| mean loss against %s (based on) | %s |\n", base, text);
        if (ex_facts_change_text(&be, e, text, sizeof text) == 0)
            ex_buf_printf(b, "| fact recall against %s (based on) | %s |\n", base, text);
        ex_eval_free(&be);
    }
    mm_error_clear();
    free(path);
}

static char *ex_region_evaluation(const ex_project *p, const char *version) {
    ex_buf b = {0};
    char *path = ex_out_file(p, version, "eval.json");
    if (!path) return NULL;
    ex_eval e;
    if (!ex_exists(path)) {
        ex_missing(&b, p, path);
    } else if (ex_eval_load(path, &e) != 0) {
        ex_unreadable(&b);
    } else {
        ex_buf_printf(&b, "| metric | value |\n|---|---|\n| samples | %d |\n| mean loss | ", e.num_samples);
        ex_mean_loss(&b, &e);
        if (isfinite(e.loss_stderr)) ex_buf_puts(&b, " (standard error)");
        ex_buf_puts(&b, " |\n| perplexity | ");
        ex_num(&b, "%.3f", e.perplexity);
        ex_buf_puts(&b, " |\n");
        if (e.facts) {  // [eval] facts_path: exact-match fact recall (docs/memory.md)
            ex_buf_puts(&b, "| fact recall | ");
            ex_facts_cell(&b, &e);
            ex_buf_puts(&b, " |\n");
        }
        ex_based_on_rows(&b, p, version, &e);
        if (e.retrieval) ex_retrieval_rows(&b, e.retrieval);
        if (e.ablation) ex_ablation_rows(&b, &e);
        size_t n = e.samples ? json_array_size(e.samples) : 0;
        if (n) {
            ex_buf_puts(&b, "\n| # | input | reference | output | loss |\n|---|---|---|---|---|\n");
            for (size_t i = 0; i < n; i++) {
                json_t *s = json_array_get(e.samples, i);
                ex_buf_printf(&b, "| %zu | ", i + 1);
                ex_buf_md_cell(&b, ex_eval_sample_str(s, "input"), 240);
                ex_buf_puts(&b, " | ");
                ex_buf_md_cell(&b, ex_eval_sample_str(s, "reference"), 240);
                ex_buf_puts(&b, " | ");
                ex_buf_md_cell(&b, ex_eval_sample_str(s, "output"), 240);
                ex_buf_puts(&b, " | ");
                ex_num(&b, "%.4f", ex_json_num(s, "loss", NAN));
                ex_buf_puts(&b, " |\n");
            }
        }
        ex_eval_free(&e);
    }
    free(path);
    return ex_buf_take(&b);
}

// ---------------------------------------------------------------------------------------------
// Public

int ex_report_experiment(const ex_project *p, const char *version) {
    if (ex_version_validate(version) != 0) return -1;
    char *path = ex_record_path(p, version);
    if (!path) return -1;
    char *name = ex_rel_root(p, path);
    ex_record r;
    if (!ex_exists(path)) {
        int rc = mm_errorf("%s: no such record (create it with `expt new %s`)", name ? name : path, version);
        free(path), free(name);
        return rc;
    }
    if (ex_record_load(&r, path, name ? name : path) != 0) {
        free(path), free(name);
        return -1;
    }
    int rc = 0, svg_err = 0;
    for (int i = 0; ex_region_names[i] && rc == 0; i++) {
        const char *region = ex_region_names[i];
        char *content = NULL;
        if (!strcmp(region, "git")) content = ex_region_git(p, version);
        else if (!strcmp(region, "config")) content = ex_region_config(p, version);
        else if (!strcmp(region, "execution")) content = ex_region_execution(p, version);
        else if (!strcmp(region, "training")) content = ex_region_training(p, version, &svg_err);
        else content = ex_region_evaluation(p, version);
        if (!content || svg_err) rc = -1;
        else rc = ex_record_set_region(&r, region, content);
        free(content);
    }
    if (rc == 0) rc = ex_record_save(&r, path);
    ex_record_free(&r);
    free(path), free(name);
    return rc;
}

static void ex_index_row(ex_buf *b, const ex_project *p, const char *version) {
    char *path = ex_record_path(p, version);
    ex_record r;
    int have_record = path && ex_record_load(&r, path, path) == 0;
    ex_field_value based = {0}, goal = {0};
    if (have_record) {
        ex_record_field(&r, EX_FIELD_BASED_ON, &based);
        ex_record_field(&r, EX_FIELD_GOAL, &goal);
    }
    char *goal_line = ex_field_first_line(&goal), *based_line = ex_field_first_line(&based);
    ex_buf_printf(b, "| [%s](experiment_%s.md) | ", version, version);
    ex_buf_md_cell(b, based_line && *based_line ? based_line : "-", 40);
    // Model type: the resolved configuration, else the run file.
    char *cfg = ex_out_file(p, version, "config.ini"), *run_cfg = ex_config_path(p, version);
    ex_ini ini;
    const char *mt = NULL;
    int have_ini = 0;
    if (cfg && ex_exists(cfg) && ex_ini_load(cfg, NULL, &ini) == 0) have_ini = 1;
    else if (run_cfg && ex_exists(run_cfg) && ex_ini_load(run_cfg, NULL, &ini) == 0) have_ini = 1;
    if (have_ini) mt = ex_ini_get(&ini, "model", "model_type");
    ex_buf_puts(b, " | ");
    ex_buf_md_cell(b, mt ? mt : "?", 40);
    ex_buf_puts(b, " | ");
    ex_buf_md_cell(b, goal_line && *goal_line ? goal_line : "-", 80);
    ex_buf_puts(b, " | ");
    char *mpath = ex_out_file(p, version, "metrics.jsonl"), *epath = ex_out_file(p, version, "eval.json");
    ex_metrics m;
    if (mpath && ex_exists(mpath) && ex_metrics_load(mpath, &m) == 0) {
        ex_num(b, "%.4f", m.final_loss);
        ex_buf_puts(b, " | ");
        ex_last_val_loss(b, &m);
        ex_metrics_free(&m);
    } else {
        ex_buf_puts(b, "- | -");
    }
    ex_buf_puts(b, " | ");
    ex_eval e;
    if (epath && ex_exists(epath) && ex_eval_load(epath, &e) == 0) {
        ex_mean_loss(b, &e);
        if (e.facts && e.facts_total > 0)  // [eval] facts_path
            ex_buf_printf(b, " | %d/%d = %.1f %%", e.facts_correct, e.facts_total,
                          100.0 * e.facts_correct / e.facts_total);
        else
            ex_buf_puts(b, " | -");
        ex_eval_free(&e);
    } else {
        ex_buf_puts(b, "- | -");
    }
    ex_status st;
    memset(&st, 0, sizeof st);
    ex_buf_printf(b, " | %s | ", ex_status_get(p, version, &st) == 0 ? ex_state_name(st.state) : "?");
    char *rpath = ex_out_file(p, version, "run.json");
    json_t *run = rpath && ex_exists(rpath) ? ex_json_load(rpath, NULL) : NULL;
    const char *start = ex_json_str(run, "start_time");
    if (start && strlen(start) >= 10) ex_buf_append(b, start, 10);
    else ex_buf_puts(b, "-");
    ex_buf_puts(b, " |\n");
    if (run) json_decref(run);
    if (have_ini) ex_ini_free(&ini);
    if (have_record) ex_record_free(&r);
    ex_field_value_free(&based), ex_field_value_free(&goal);
    free(goal_line), free(based_line), free(path), free(cfg), free(run_cfg), free(mpath), free(epath), free(rpath);
    mm_error_clear();
}

int ex_report_index(const ex_project *p) {
    char **v;
    int n = ex_list_versions(p, &v);
    if (n < 0) return -1;
    ex_buf b = {0};
    ex_buf_puts(
        &b,
        "# Experiment index\n\nGenerated by `expt report` from the records and their run files; do not "
        "edit (it is rewritten).\n\n| version | based on | model type | goal | final loss | validation loss "
        "| "
        "eval loss | fact recall | state | date |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) ex_index_row(&b, p, v[i]);
    if (n == 0) ex_buf_puts(&b, "\n(no experiments yet: `expt new X.Y.Z`)\n");
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
    char *text = ex_buf_take(&b);
    char *dir = ex_path_join(p->root, "experiment");
    char *path = dir ? ex_path_join(dir, "INDEX.md") : NULL;
    int rc = -1;
    if (text && path && ex_mkdirs(dir) == 0) rc = ex_write_if_changed(path, text, strlen(text), NULL);
    free(text), free(dir), free(path);
    return rc;
}
