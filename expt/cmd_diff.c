// `expt diff A B`: what changed between two experiments: the configuration keys that differ,
// the final metrics side by side, the code changes between the two recorded commits (libgit2),
// and both loss curves in one SVG (experiment/assets/diff_A_B_loss.svg).
#include <git2.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "evalcompare.h"
#include "fsutil.h"
#include "inifile.h"
#include "jsonfile.h"
#include "minimind/error.h"
#include "minimind/stats.h"
#include "runfiles.h"
#include "svg.h"

static const char ex_diff_usage[] =
    "usage: expt diff A.B.C X.Y.Z\n\n"
    "Compares two experiments:\n"
    "  configuration  only the keys whose values differ (the resolved out/.../config.ini when the\n"
    "                 experiment ran, else run_file/experiment_X.Y.Z.ini)\n"
    "  metrics        final and best loss, evaluation loss and perplexity, duration, side by side\n"
    "  noise          the evaluation loss's change with its standard error (paired when both\n"
    "                 evaluated the same samples) and the facts lost and gained (McNemar's test);\n"
    "                 the last validation losses' change (unpaired)\n"
    "  code           the diffstat between the two recorded commits (git.json / run.json), and\n"
    "                 whether either ran with uncommitted changes (see its git.patch)\n"
    "  loss curves    both in one chart (validation curves dashed): "
    "experiment/assets/diff_A.B.C_X.Y.Z_loss.svg\n";

typedef struct ex_side {
    const char *version;
    ex_ini ini;
    int have_ini;
    char *ini_rel;
    ex_metrics m;
    int have_m;
    ex_eval e;
    int have_e;
    double duration_s;
    char *commit;
    int dirty;
} ex_side;

static void ex_side_load(const ex_project *p, ex_side *s) {
    char *resolved = ex_out_file(p, s->version, "config.ini"), *run_cfg = ex_config_path(p, s->version);
    const char *cfg = resolved && ex_exists(resolved) ? resolved : run_cfg;
    if (cfg && ex_exists(cfg) && ex_ini_load(cfg, NULL, &s->ini) == 0) {
        s->have_ini = 1;
        s->ini_rel = ex_relpath(cfg, p->root);
    }
    char *mp = ex_out_file(p, s->version, "metrics.jsonl"), *ep = ex_out_file(p, s->version, "eval.json");
    s->have_m = mp && ex_exists(mp) && ex_metrics_load(mp, &s->m) == 0;
    s->have_e = ep && ex_exists(ep) && ex_eval_load(ep, &s->e) == 0;
    char *xp = ex_out_file(p, s->version, "exit.json"), *gp = ex_out_file(p, s->version, "git.json");
    char *rp = ex_out_file(p, s->version, "run.json");
    json_t *x = xp && ex_exists(xp) ? ex_json_load(xp, NULL) : NULL;
    s->duration_s = ex_json_num(x, "duration_s", NAN);
    json_t *g = gp && ex_exists(gp) ? ex_json_load(gp, NULL) : NULL;
    json_t *r = !g && rp && ex_exists(rp) ? ex_json_load(rp, NULL) : NULL;
    const char *c = ex_json_str(g ? g : r, "commit");
    if (c && *c) s->commit = mm_strdup(c);
    s->dirty = g && json_is_true(json_object_get(g, "dirty"));
    if (x) json_decref(x);
    if (g) json_decref(g);
    if (r) json_decref(r);
    free(resolved), free(run_cfg), free(mp), free(ep), free(xp), free(gp), free(rp);
    mm_error_clear();
}

static void ex_side_free(ex_side *s) {
    if (s->have_ini) ex_ini_free(&s->ini);
    if (s->have_m) ex_metrics_free(&s->m);
    if (s->have_e) ex_eval_free(&s->e);
    free(s->ini_rel);
    free(s->commit);
}

static void ex_diff_config(const ex_side *a, const ex_side *b) {
    printf("## configuration (keys that differ)\n");
    if (!a->have_ini || !b->have_ini) {
        printf("  not available (no configuration for %s)\n", !a->have_ini ? a->version : b->version);
        return;
    }
    printf("  %s: %s\n  %s: %s\n", a->version, a->ini_rel, b->version, b->ini_rel);
    int n = 0;
    for (int pass = 0; pass < 2; pass++) {
        const ex_ini *x = pass == 0 ? &a->ini : &b->ini, *y = pass == 0 ? &b->ini : &a->ini;
        for (int i = 0; i < x->n; i++) {
            const char *sec = x->e[i].section, *key = x->e[i].key;
            const char *other = ex_ini_get(y, sec, key);
            if (pass == 1 && other) continue;  // already compared in the first pass
            if (other && !strcmp(other, x->e[i].value)) continue;
            const char *va = pass == 0 ? x->e[i].value : "(unset)";
            const char *vb = pass == 0 ? (other ? other : "(unset)") : x->e[i].value;
            printf("  [%s] %s: %s -> %s\n", sec, key, va, vb);
            n++;
        }
    }
    if (n == 0) printf("  (identical)\n");
}

static void ex_metric_row(const char *name, double a, double b, const char *fmt) {
    char sa[32] = "-", sb[32] = "-", sd[32] = "";
    if (isfinite(a)) snprintf(sa, sizeof sa, fmt, a);
    if (isfinite(b)) snprintf(sb, sizeof sb, fmt, b);
    if (isfinite(a) && isfinite(b)) {
        snprintf(sd, sizeof sd, "%+.4g", b - a);
    }
    printf("  %-16s %14s %14s %12s\n", name, sa, sb, sd);
}

// Exact-match accuracy of the evaluation's fact recall (NaN when it has none).
static double ex_facts_accuracy(const ex_side *s) {
    return s->have_e && s->e.facts && s->e.facts_total > 0 ? (double)s->e.facts_correct / s->e.facts_total : NAN;
}

// The evaluation loss with the bank ablated ([eval] bank_ablation; NaN when it has none); layer >=
// 0: with that layer's bank alone empty (bank_ablation = layers; NaN when the side has no such row).
static double ex_ablated_loss(const ex_side *s, int layer) {
    if (!s->have_e || !s->e.ablation) return NAN;
    const json_t *ab = s->e.ablation;
    if (layer >= 0) {
        const json_t *layers = json_object_get(ab, "layers");
        ab = NULL;
        for (size_t i = 0; i < json_array_size(layers); i++)
            if (ex_json_num(json_array_get(layers, i), "layer", -1) == layer) ab = json_array_get(layers, i);
    }
    return ex_json_num(json_object_get(ab, "summary"), "mean_loss", NAN);
}

// The number of layers either side's per-layer ablation covers (0 without bank_ablation = layers).
static int ex_ablated_layers(const ex_side *a, const ex_side *b) {
    int n = 0;
    const ex_side *sides[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const json_t *layers = sides[i]->have_e ? json_object_get(sides[i]->e.ablation, "layers") : NULL;
        for (size_t k = 0; k < json_array_size(layers); k++) {
            const double l = ex_json_num(json_array_get(layers, k), "layer", -1);
            if (l >= n && l < 4096) n = (int)l + 1;
        }
    }
    return n;
}

// [eval] retrieval: the largest fraction of the facts in the bank whose entry a layer reads at the
// answer position (NaN without it).
static double ex_retrieval_best(const ex_side *s) {
    const json_t *r = s->have_e ? s->e.retrieval : NULL, *layers = json_object_get(r, "layers");
    const double n = ex_json_num(r, "in_bank", 0);
    double best = NAN;
    for (size_t l = 0; n > 0 && l < json_array_size(layers); l++) {
        const double f = ex_json_num(json_array_get(layers, l), "found_at_answer", 0) / n;
        if (!(f <= best)) best = f;
    }
    return best;
}

static void ex_diff_metrics(const ex_side *a, const ex_side *b) {
    printf("\n## metrics\n  %-16s %14s %14s %12s\n", "", a->version, b->version, "change");
    ex_metric_row("final loss", a->have_m ? a->m.final_loss : NAN, b->have_m ? b->m.final_loss : NAN, "%.4f");
    ex_metric_row("best loss", a->have_m ? a->m.best_loss : NAN, b->have_m ? b->m.best_loss : NAN, "%.4f");
    const double va = a->have_m ? a->m.final_val : NAN, vb = b->have_m ? b->m.final_val : NAN;
    if (isfinite(va) || isfinite(vb))
        ex_metric_row("validation loss", va, vb, "%.4f");  // [train] eval_interval
    ex_metric_row("steps", a->have_m && a->m.n ? a->m.step[a->m.n - 1] : NAN,
                  b->have_m && b->m.n ? b->m.step[b->m.n - 1] : NAN, "%.0f");
    ex_metric_row("eval loss", a->have_e ? a->e.mean_loss : NAN, b->have_e ? b->e.mean_loss : NAN, "%.4f");
    ex_metric_row("perplexity", a->have_e ? a->e.perplexity : NAN, b->have_e ? b->e.perplexity : NAN, "%.3f");
    ex_metric_row("fact recall", ex_facts_accuracy(a), ex_facts_accuracy(b), "%.4f");
    const double ra = ex_retrieval_best(a), rb = ex_retrieval_best(b);
    if (isfinite(ra) || isfinite(rb)) ex_metric_row("retrieval", ra, rb, "%.4f");
    ex_metric_row("ablated loss", ex_ablated_loss(a, -1), ex_ablated_loss(b, -1), "%.4f");
    for (int l = 0, n = ex_ablated_layers(a, b); l < n; l++) {
        char name[32];
        snprintf(name, sizeof name, "  layer %d", l);
        const double la = ex_ablated_loss(a, l), lb = ex_ablated_loss(b, l);
        if (isfinite(la) || isfinite(lb)) ex_metric_row(name, la, lb, "%.4f");
    }
    const double ua = a->have_m ? a->m.mem_used : NAN, ub = b->have_m ? b->m.mem_used : NAN;
    if (isfinite(ua) || isfinite(ub)) {  // memory variants: the last log window's usage of the bank
        ex_metric_row("memory read", ua, ub, "%.4f");
        ex_metric_row("memory KL", a->have_m ? a->m.mem_kl : NAN, b->have_m ? b->m.mem_kl : NAN, "%.4f");
    }
    ex_metric_row("duration (s)", a->duration_s, b->duration_s, "%.0f");
}

// Whether the evaluation's changes exceed its noise: the mean loss's change with its standard error
// (paired over the same samples, else from both sides' standard errors) and, for the same facts
// file, the facts lost and gained with McNemar's exact p (else each side's 95 % interval).
static void ex_diff_noise(const ex_side *a, const ex_side *b) {
    // [train] eval_interval on both sides: the last validation losses, unpaired (metrics.jsonl keeps
    // each validation's mean and standard error, not its documents' losses)
    const int val =
        a->have_m && b->have_m && isfinite(a->m.final_val_stderr) && isfinite(b->m.final_val_stderr);
    if ((!a->have_e || !b->have_e) && !val) return;
    printf("\n## noise (the evaluation's changes against its own uncertainty)\n");
    if (val) {
        const double d = b->m.final_val - a->m.final_val,
                     se = hypot(a->m.final_val_stderr, b->m.final_val_stderr);
        static const char what[] = "unpaired (conservative when both validated on the same documents)";
        printf("  validation loss: %+.4f ± %.4f standard error, %s", d, se, what);
        if (se > 0) printf(": %.1f standard errors", fabs(d) / se);
        printf("\n");
    }
    if (!a->have_e || !b->have_e) return;
    char text[256];
    ex_loss_change_text(&a->e, &b->e, text, sizeof text);
    printf("  eval loss: %s\n", text);
    if (!a->e.facts || !b->e.facts) return;
    if (ex_facts_change_text(&a->e, &b->e, text, sizeof text) == 0) {
        printf("  fact recall: %s\n", text);
        return;
    }
    printf("  fact recall: other facts (another file or other lines), not paired; 95 %% intervals");
    const ex_side *sides[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        double lo, hi;
        mm_wilson_interval(sides[i]->e.facts_correct, sides[i]->e.facts_total, MM_Z95, &lo, &hi);
        printf(" %s %.1f-%.1f %%", sides[i]->version, 100 * lo, 100 * hi);
    }
    printf("\n");
}

static int ex_diff_code(const ex_project *p, const ex_side *a, const ex_side *b) {
    printf("\n## code\n");
    if (!a->commit || !b->commit) {
        printf("  not available (no recorded commit for %s: it has not run yet)\n", !a->commit ? a->version : b->version);
        return 0;
    }
    char ca[32], cb[32];
    const ex_side *sides[2] = {a, b};
    char *shorts[2] = {ca, cb};
    for (int i = 0; i < 2; i++) {
        if (strcmp(sides[i]->commit, "none")) snprintf(shorts[i], sizeof ca, "%.12s", sides[i]->commit);
        else snprintf(shorts[i], sizeof ca, "(no commits yet)");
    }
    printf("  %s at %s%s\n  %s at %s%s\n", a->version, ca, a->dirty ? " + uncommitted changes (git.patch)" : "",
           b->version, cb, b->dirty ? " + uncommitted changes (git.patch)" : "");
    if (!strcmp(a->commit, b->commit)) {
        printf("  same commit\n");
        return 0;
    }
    git_libgit2_init();
    git_repository *repo = NULL;
    git_object *oa = NULL, *ob = NULL;
    git_tree *ta = NULL, *tb = NULL;
    git_diff *diff = NULL;
    git_diff_stats *stats = NULL;
    git_buf buf = {0};
    // "none": recorded in a repository without commits, i.e. the empty tree.
    int none_a = !strcmp(a->commit, "none"), none_b = !strcmp(b->commit, "none");
    int rc = git_repository_open(&repo, p->root);
    if (rc == 0 && !none_a) rc = git_revparse_single(&oa, repo, a->commit);
    if (rc == 0 && !none_b) rc = git_revparse_single(&ob, repo, b->commit);
    if (rc == 0 && !none_a) rc = git_object_peel((git_object **)&ta, oa, GIT_OBJECT_TREE);
    if (rc == 0 && !none_b) rc = git_object_peel((git_object **)&tb, ob, GIT_OBJECT_TREE);
    if (rc == 0) rc = git_diff_tree_to_tree(&diff, repo, ta, tb, NULL);
    if (rc == 0) rc = git_diff_find_similar(diff, NULL);
    if (rc == 0) rc = git_diff_get_stats(&stats, diff);
    if (rc == 0) rc = git_diff_stats_to_buf(&buf, stats, GIT_DIFF_STATS_FULL | GIT_DIFF_STATS_INCLUDE_SUMMARY, 80);
    if (rc == 0) {
        printf("%s", buf.size ? buf.ptr : "  (no file changes)\n");
    } else {
        const git_error *e = git_error_last();
        mm_errorf("git: comparing %.12s and %.12s: %s", a->commit, b->commit, e ? e->message : "unknown error");
    }
    git_buf_dispose(&buf);
    git_diff_stats_free(stats);
    git_diff_free(diff);
    git_tree_free(ta), git_tree_free(tb);
    git_object_free(oa), git_object_free(ob);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return rc == 0 ? 0 : -1;
}

static int ex_diff_svg(const ex_project *p, const ex_side *a, const ex_side *b) {
    printf("\n## loss curves\n");
    if (!a->have_m && !b->have_m) {
        printf("  not available (no metrics.jsonl for either)\n");
        return 0;
    }
    char name[128];
    snprintf(name, sizeof name, "experiment/assets/diff_%s_%s_loss.svg", a->version, b->version);
    char *dir = ex_path_join(p->root, "experiment/assets"), *path = ex_path_join(p->root, name);
    int rc = -1;
    if (dir && path && ex_mkdirs(dir) == 0) {
        char title[128];
        snprintf(title, sizeof title, "loss: %s vs %s", a->version, b->version);
        ex_chart c = {.title = title, .x_label = "step", .y_label = "loss"};
        ex_series s[4];
        char vl[2][64];
        int n = 0;
        const ex_side *sides[2] = {a, b};
        static const char *const colors[2] = {"#1f77b4", "#d62728"};
        // each side's training loss and ([train] eval_interval) validation loss, dashed
        for (int i = 0; i < 2; i++) {
            const ex_metrics *m = &sides[i]->m;
            if (!sides[i]->have_m) continue;
            s[n++] = (ex_series){
                .label = sides[i]->version, .x = m->step, .y = m->loss, .n = m->n, .color = colors[i]};
            snprintf(vl[i], sizeof vl[i], "%s validation", sides[i]->version);
            if (m->n_val)
                s[n++] = (ex_series){.label = vl[i],
                                     .x = m->val_step,
                                     .y = m->val_loss,
                                     .n = m->n_val,
                                     .color = colors[i],
                                     .dashed = 1};
        }
        rc = ex_svg_write(path, &c, s, n);
        if (rc == 0) printf("  %s\n", name);
    }
    free(dir), free(path);
    return rc;
}

int ex_cmd_diff(int argc, char **argv) {
    ex_side a = {0}, b = {0};
    mm_opt opts[] = {mm_opt_required(mm_opt_arg("A.B.C", &a.version)),
                     mm_opt_required(mm_opt_arg("X.Y.Z", &b.version))};
    int rc = ex_parse_args("diff", ex_diff_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != EX_CONTINUE) return rc;
    if (ex_version_validate(a.version) != 0 || ex_version_validate(b.version) != 0) return ex_fail() + 1;
    ex_project p;
    if (ex_open_project(&p, NULL) != 0) return 1;
    rc = 0;
    char *ra = ex_record_path(&p, a.version), *rb = ex_record_path(&p, b.version);
    if (!ra || !rb) {
        rc = ex_fail();
    } else if (!ex_exists(ra) || !ex_exists(rb)) {
        mm_errorf("no record for experiment %s (experiment/experiment_%s.md)", !ex_exists(ra) ? a.version : b.version,
                  !ex_exists(ra) ? a.version : b.version);
        rc = ex_fail();
    } else {
        ex_side_load(&p, &a);
        ex_side_load(&p, &b);
        printf("# expt diff %s %s\n\n", a.version, b.version);
        ex_diff_config(&a, &b);
        ex_diff_metrics(&a, &b);
        ex_diff_noise(&a, &b);
        if (ex_diff_code(&p, &a, &b) != 0) rc = ex_fail();
        if (ex_diff_svg(&p, &a, &b) != 0) rc = ex_fail();
        ex_side_free(&a);
        ex_side_free(&b);
    }
    free(ra), free(rb);
    ex_project_close(&p);
    return rc;
}
