// Two evaluations compared against their noise (evalcompare.h).
#include "evalcompare.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonfile.h"
#include "minimind/error.h"
#include "minimind/stats.h"

// Whether a[i] and b[i] carry the same "line" for every i (and there are as many).
static int ex_same_lines(const json_t *a, const json_t *b) {
    if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b)) return 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *la = json_object_get(json_array_get(a, i), "line");
        if (!json_is_integer(la) || !json_equal(la, json_object_get(json_array_get(b, i), "line"))) return 0;
    }
    return 1;
}

void ex_eval_loss_change(const ex_eval *a, const ex_eval *b, ex_loss_change *out) {
    memset(out, 0, sizeof *out);
    out->mean = b->mean_loss - a->mean_loss;
    out->stderr_mean = sqrt(a->loss_stderr * a->loss_stderr + b->loss_stderr * b->loss_stderr);
    const char *da = ex_json_str(a->root, "data"), *db = ex_json_str(b->root, "data");
    const size_t n = json_array_size(a->samples);
    if (n < 2 || !da || !db || strcmp(da, db) || !ex_same_lines(a->samples, b->samples)) return;
    double *d = mm_malloc(n * sizeof *d);
    if (!d) return;
    for (size_t i = 0; i < n; i++)
        d[i] = ex_json_num(json_array_get(b->samples, i), "loss", NAN) -
               ex_json_num(json_array_get(a->samples, i), "loss", NAN);
    double se;
    const double mean = mm_mean_stderr(d, n, &se);
    free(d);
    if (!isfinite(mean)) return;  // a sample without a loss: unpaired
    out->mean = mean, out->stderr_mean = se, out->paired = 1, out->n = (long)n;
}

int ex_eval_facts_change(const ex_eval *a, const ex_eval *b, long *lost, long *gained) {
    *lost = *gained = 0;
    const char *pa = ex_json_str(a->facts, "path"), *pb = ex_json_str(b->facts, "path");
    const json_t *ia = json_object_get(a->facts, "items"), *ib = json_object_get(b->facts, "items");
    if (!pa || !pb || strcmp(pa, pb) || !json_array_size(ia) || !ex_same_lines(ia, ib)) return -1;
    for (size_t i = 0; i < json_array_size(ia); i++) {
        const int was = json_is_true(json_object_get(json_array_get(ia, i), "correct"));
        const int is = json_is_true(json_object_get(json_array_get(ib, i), "correct"));
        *lost += was && !is;
        *gained += !was && is;
    }
    return 0;
}

void ex_loss_change_text(const ex_eval *a, const ex_eval *b, char *out, size_t cap) {
    ex_loss_change c;
    ex_eval_loss_change(a, b, &c);
    if (!isfinite(c.stderr_mean))
        snprintf(out, cap, "%+.4f (no standard error: fewer than 2 sample losses on a side)", c.mean);
    else if (c.stderr_mean == 0 && c.paired)  // no spread: not "inf standard errors"
        snprintf(out, cap, "%+.4f, %s over the same samples", c.mean,
                 c.mean == 0 ? "identical sample for sample" : "every sample changed by exactly this");
    else
        snprintf(out, cap, "%+.4f ± %.4f standard error, %s: %.1f standard errors", c.mean, c.stderr_mean,
                 c.paired ? "paired over the same samples" : "unpaired (the two evaluated other samples)",
                 c.stderr_mean > 0 ? fabs(c.mean) / c.stderr_mean : INFINITY);
}

int ex_facts_change_text(const ex_eval *a, const ex_eval *b, char *out, size_t cap) {
    long lost, gained;
    out[0] = '\0';
    if (!a->facts || !b->facts || ex_eval_facts_change(a, b, &lost, &gained) != 0) return -1;
    snprintf(out, cap, "lost %ld, gained %ld of the same %d facts; McNemar's exact p = %.3g", lost, gained,
             a->facts_total, mm_mcnemar_exact_p(lost, gained));
    return 0;
}
