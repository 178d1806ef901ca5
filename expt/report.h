// Fills the machine-owned regions of a record from the stored run files, and experiment/INDEX.md.
// Implemented in report.c; used by `expt report`, the supervisor (after a run) and `expt eval`.
//
// Files read from out/experiment_X_Y_Z/ (a missing file makes its region say
// "not available yet (no `out/experiment_X_Y_Z/FILE`)"):
//   git.json    {commit, branch (null when detached/unborn), dirty (bool), diffstat (text),
//                based_on (version), based_on_commit, diffstat_since_based_on (text),
//                excluded ([path] or [{path, size}]: files over the size cap)}  + git.patch
//   config.ini  the resolved configuration (engine) -> table section | key | value
//   run.json    {pid, start_time (ISO 8601), host, command ([argv] or string), commit,
//                proc_start_ticks}
//   exit.json   {status (null when killed), signal (0 when none), stopped (bool), end_time (ISO 8601),
//                duration_s, peak_rss_kb, eval ({ran, status, reason}: the supervisor's evaluation),
//                cpu, gpu (strings or objects), log_tail (string or [lines])}
//               (after a failure, or without exit.json: log_tail, else the last 20 lines of
//               experiment.log, in a code block)
//   metrics.jsonl {step, total_steps, epoch, loss, lr, grad_norm, tokens_per_s, elapsed_s, eta_s}
//               -> final/best loss, table by epoch, experiment/assets/experiment_X.Y.Z_loss.svg
//   eval.json   {"samples": [{input, reference, output, loss}],
//                "summary": {mean_loss, perplexity, num_samples}}
#ifndef EXPT_REPORT_H
#define EXPT_REPORT_H

#include "project.h"

// Regenerates every machine-owned region of experiment/experiment_X.Y.Z.md (git record,
// configuration, execution record, training results + SVG assets, evaluation). Idempotent.
int ex_report_experiment(const ex_project *p, const char *version);
// Regenerates experiment/INDEX.md (one row per experiment).
int ex_report_index(const ex_project *p);

#endif
