// Two evaluations (eval.json) compared against their noise, for `expt diff`: is a change of the
// mean loss or of the fact recall larger than what evaluating another handful of samples would
// give? Computed from the files alone (minimind/stats.h), so it works for any trainer that writes
// per-sample losses and per-item results.
#ifndef EXPT_EVALCOMPARE_H
#define EXPT_EVALCOMPARE_H

#include "runfiles.h"

// The change of the mean loss from a to b. Paired when both evaluated the same samples (the same
// "line" numbers, in the same order, at least 2): the mean and standard error of the per-sample
// differences, *paired = 1. Otherwise the difference of the means with √(se_a² + se_b²), *paired =
// 0 (the standard error NaN when either has fewer than 2 sample losses). *n: the pairs, or 0.
typedef struct ex_loss_change {
    double mean, stderr_mean;
    int paired;
    long n;
} ex_loss_change;
void ex_eval_loss_change(const ex_eval *a, const ex_eval *b, ex_loss_change *out);

// The facts right in a but wrong in b (*lost) and wrong in a but right in b (*gained), when both
// evaluated the same facts file's items (the same "line" numbers in the same order). Returns 0, or
// -1 when the items cannot be paired (no items on either side, another file or other lines).
int ex_eval_facts_change(const ex_eval *a, const ex_eval *b, long *lost, long *gained);

// The two as text for `expt diff` and the records: "-0.5000 ± 0.1021 standard error, paired over
// the same samples: 4.9 standard errors" (or "unpaired (the two evaluated other samples)", or
// "(no standard error: ...)"), and "lost 2, gained 1 of the same 6 facts; McNemar's exact p = 1"
// (returns -1, out "", when the facts cannot be paired).
void ex_loss_change_text(const ex_eval *a, const ex_eval *b, char *out, size_t cap);
int ex_facts_change_text(const ex_eval *a, const ex_eval *b, char *out, size_t cap);

#endif
